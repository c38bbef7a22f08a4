//! The one error type of the rooms store. Callers branch on [`RoomsError::code`] (the room API
//! maps the kinds to its HTTP answers); the message is for the person reading a log.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RoomsError {
    /// The database URL cannot be used: unknown scheme, no path, not UTF-8.
    #[error("database URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    /// The database could not be opened or its schema brought up to date: server down, wrong
    /// password, a file that is not SQLite, a migration that failed.
    #[error("cannot open the rooms database {url}: {reason}")]
    Open { url: String, reason: String },
    /// The database was written by a newer liverelay: running on would misread it.
    #[error(
        "the rooms database is at schema version {found}, newer than this build knows \
         ({known}); run the newer liverelay against it, or point this one at another database"
    )]
    SchemaTooNew { found: i64, known: i64 },
    /// A migration recorded as applied is not the one this build has under that number.
    #[error(
        "the rooms database recorded migration {version} as {found:?}, but this build's \
         migration {version} is {expected:?}; the database belongs to another build"
    )]
    SchemaMismatch {
        version: i64,
        found: String,
        expected: String,
    },
    /// A migration's SQL failed; its transaction was rolled back.
    #[error("rooms database migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        source: sqlx::Error,
    },
    /// A row with that key is already there (user id, event id).
    #[error("{what} already exists")]
    Exists { what: String },
    /// No such row (or it was deleted).
    #[error("{what} not found")]
    NotFound { what: String },
    /// An argument the store refuses before touching the database.
    #[error("{0}")]
    Invalid(String),
    /// The change does not fit the state of what it concerns (a PK with a room that is not
    /// live, an answer to an invitation that is no longer open).
    #[error("{0}")]
    State(String),
    /// A room is already in a PK, or has an invitation pending.
    #[error("{0}")]
    Busy(String),
    /// A stored value this build cannot read back (bad JSON, an unknown status).
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    /// Anything else the database said.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl RoomsError {
    /// A short, stable name for the kind of failure: `"exists"`, `"not_found"`, `"invalid"`,
    /// `"state"`, `"busy"`, `"url"`, `"open"`, `"schema"`, `"corrupt"` or `"storage"`.
    pub fn code(&self) -> &'static str {
        match self {
            RoomsError::Url { .. } => "url",
            RoomsError::Open { .. } => "open",
            RoomsError::SchemaTooNew { .. }
            | RoomsError::SchemaMismatch { .. }
            | RoomsError::Migration { .. } => "schema",
            RoomsError::Exists { .. } => "exists",
            RoomsError::NotFound { .. } => "not_found",
            RoomsError::Invalid(_) => "invalid",
            RoomsError::State(_) => "state",
            RoomsError::Busy(_) => "busy",
            RoomsError::Corrupt(_) => "corrupt",
            RoomsError::Database(_) => "storage",
        }
    }

    pub(crate) fn exists(what: impl Into<String>) -> Self {
        RoomsError::Exists { what: what.into() }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        RoomsError::NotFound { what: what.into() }
    }

    pub(crate) fn open(url: &str, reason: impl ToString) -> Self {
        RoomsError::Open {
            url: url.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// `Exists` naming `what` when the database refused a row because a unique key (or primary
/// key) already has it; any other error as it is.
pub(crate) fn exists_if_unique(error: sqlx::Error, what: impl FnOnce() -> String) -> RoomsError {
    match error.as_database_error() {
        Some(db) if db.is_unique_violation() => RoomsError::exists(what()),
        _ => error.into(),
    }
}

/// `NotFound` naming `what` when the database refused a row because a row it refers to is
/// missing; any other error as it is.
pub(crate) fn not_found_if_missing_reference(
    error: sqlx::Error,
    what: impl FnOnce() -> String,
) -> RoomsError {
    match error.as_database_error() {
        Some(db) if db.is_foreign_key_violation() => RoomsError::not_found(what()),
        _ => error.into(),
    }
}
