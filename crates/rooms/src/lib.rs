//! Live rooms: users mirrored from the app, rooms (one row per broadcast, with the state machine
//! created → live → ended), PK sessions between two rooms, moderation (bans, kicks, mutes),
//! the webhook outbox, gifts (catalogue and ledger) and rooms' chat history, behind one [`Store`]; who is watching,
//! kept in memory ([`Presence`]); the worker that delivers the outbox's events to the app
//! ([`WebhookWorker`]); and the payment of gifts through the app's payment service, with its
//! reconciler ([`Payments`]).
//!
//! One code path serves both databases: an embedded SQLite file, the default, which needs no
//! set-up and suits a single cloud node, and PostgreSQL, for several cloud nodes sharing their
//! rooms. Queries are built at run time through sqlx's `any` driver in the SQL both accept
//! (`$1` placeholders, TEXT and BIGINT columns, times as Unix milliseconds, JSON as text), and
//! the test suite runs every function against both. The only backend-specific lines are how a
//! write transaction starts and the migration lock (`backend.rs`, `migrate.rs`).
//!
//! Changes that other nodes may race on are conditional updates (`... WHERE status = 'created'`)
//! that report whether they applied, so two nodes can never both start or both stop a room, and
//! a webhook event can be written in the same transaction as the change it announces.

mod backend;
mod delivery;
mod error;
mod gifts;
mod ids;
mod messages;
mod migrate;
mod moderation;
mod outbox;
mod paging;
mod payment;
mod pk;
mod presence;
mod rooms;
mod stats;
mod types;
mod users;

pub use backend::Backend;
pub use delivery::{
    WebhookConfig, WebhookConfigError, WebhookHandle, WebhookStats, WebhookWorker, EVENT_HEADER,
    EVENT_ID_HEADER,
};
pub use error::RoomsError;
pub use gifts::{
    Claimant, Gift, GiftQuery, GiftRecord, GiftStatus, GiftTotals, NewGift, NewGiftRecord, Opened,
    Settlement,
};
pub use messages::{Message, MessageKind, MessageRole, NewMessage, Posted};
pub use migrate::SCHEMA_VERSION;
pub use moderation::{Ban, Sanction, SanctionKind};
pub use outbox::Backoff;
pub use payment::{Paid, PaymentConfig, Payments};
pub use pk::{PkEventFor, PkSession, PkStatus, PK_ROOM_ENDED, PK_STOPPED};
pub use presence::{Departure, Joined, Presence, PresenceConfig};
pub use rooms::MAX_NOTE_CHARS;
pub use stats::RoomCounts;
pub use types::{
    BatchRegistered, Deleted, Event, EventFor, Extends, NewEvent, NewRoom, NewUser, Room,
    RoomStatus, RoomUpdate, StopReason, User, UserUpdate, DEFAULT_ROOM_TTL_MS,
};
pub use users::MAX_BATCH;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the store reads the time, in Unix milliseconds. Every node writes times from its own
/// clock, so nodes sharing a database should run NTP; tests put a clock of their own here.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

fn system_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// How long a waiting connection may take before [`Store::open`] or a query gives up (a
/// PostgreSQL server that is down is retried until then).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often, and how far apart, switching a file to WAL is tried while another connection
/// holds it (5 s in all, as the busy timeout).
const WAL_TRIES: u32 = 50;
const WAL_RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Set on every SQLite connection: enforce foreign keys (SQLite's default is off) and wait up
/// to 5 s for another connection's write lock instead of failing at once.
const SQLITE_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

/// The rooms database. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    clock: Clock,
    backoff: Backoff,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database at `database_url` and brings its schema up to date.
    ///
    /// - `sqlite://PATH`: a file, relative to the working directory unless absolute, created
    ///   (with its directory) if missing; the path is taken literally, no %-decoding. Opened in
    ///   WAL mode (readers do not wait for the writer), with foreign keys enforced and a busy
    ///   timeout, so several connections and processes can share it.
    /// - `postgres://USER:PASSWORD@HOST:PORT/DB` (or `postgresql://`), with libpq-style query
    ///   parameters such as `sslmode` or `options=-c%20search_path%3DSCHEMA`.
    ///
    /// Fails with [`RoomsError::Url`] for any other form, [`RoomsError::Open`] when the database
    /// cannot be reached or read, and a `schema` error (see [`RoomsError::code`]) when it was
    /// written by a newer build or a migration fails. Passwords never appear in the errors.
    pub async fn open(database_url: &str) -> Result<Store, RoomsError> {
        sqlx::any::install_default_drivers();
        let (backend, sqlx_url) = parse_url(database_url)?;
        let shown = redact(database_url);
        let options = AnyConnectOptions::from_str(&sqlx_url).map_err(|e| RoomsError::Url {
            url: shown.clone(),
            reason: e.to_string(),
        })?;
        let pool_options = AnyPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        let pool_options = match backend {
            Backend::Sqlite => pool_options.max_connections(4).after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(SQLITE_PRAGMAS).await?;
                    Ok(())
                })
            }),
            Backend::Postgres => pool_options.max_connections(10),
        };
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(|e| RoomsError::open(&shown, describe_connect_error(&e)))?;
        let store = Store {
            pool,
            backend,
            clock: Arc::new(system_clock),
            backoff: Backoff::default(),
        };
        if backend == Backend::Sqlite {
            store.enable_wal(&shown).await?;
        }
        migrate::migrate(&store.pool, backend, &*store.clock)
            .await
            .map_err(|e| match e {
                RoomsError::Database(e) => RoomsError::open(&shown, e),
                other => other,
            })?;
        Ok(store)
    }

    /// Uses `clock` for every time the store writes or compares from now on.
    pub fn with_clock(mut self, clock: Clock) -> Store {
        self.clock = clock;
        self
    }

    /// Uses `backoff` for failed webhook deliveries.
    pub fn with_backoff(mut self, backoff: Backoff) -> Store {
        self.backoff = backoff;
        self
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The schema version recorded in the database ([`SCHEMA_VERSION`] once open).
    pub async fn schema_version(&self) -> Result<i64, RoomsError> {
        migrate::current_version(&self.pool).await
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The one row `sql` (with a single `$1`) finds for `key`, read with `from_row`.
    pub(crate) async fn fetch_by_key<T>(
        &self,
        sql: &str,
        key: &str,
        from_row: fn(&AnyRow) -> Result<T, RoomsError>,
    ) -> Result<Option<T>, RoomsError> {
        let row = sqlx::query(sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub(crate) fn now(&self) -> i64 {
        (self.clock)()
    }

    pub(crate) fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// Starts a transaction that will write (see [`backend::begin_write`]).
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, RoomsError> {
        backend::begin_write(&self.pool, self.backend).await
    }

    /// WAL is a property of the file, set once; a file system that cannot do it (no shared
    /// memory) leaves the old journal, which still works, with readers waiting for writers.
    /// Switching needs the file to itself and SQLite does not wait for that (no busy timeout),
    /// so when another process is opening the same new file at the same moment, try again.
    async fn enable_wal(&self, shown: &str) -> Result<(), RoomsError> {
        let mut tries = 0;
        let row = loop {
            match sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_one(&self.pool)
                .await
            {
                Ok(row) => break row,
                Err(e) if tries < WAL_TRIES && is_sqlite_busy(&e) => {
                    tries += 1;
                    tokio::time::sleep(WAL_RETRY_PAUSE).await;
                }
                Err(e) => return Err(RoomsError::open(shown, e)),
            }
        };
        let mode: String = row.try_get(0)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, database = %shown, "rooms database: WAL mode not available");
        }
        Ok(())
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED (extended codes keep the primary one in their low byte).
fn is_sqlite_busy(error: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i64 = 5;
    const SQLITE_LOCKED: i64 = 6;
    error
        .as_database_error()
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<i64>().ok())
        .is_some_and(|code| matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED))
}

/// Splits the configured URL into its backend and the URL sqlx is given.
fn parse_url(url: &str) -> Result<(Backend, String), RoomsError> {
    let bad = |reason: &str| RoomsError::Url {
        url: redact(url),
        reason: reason.to_owned(),
    };
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(bad("needs a file path, e.g. sqlite://data/rooms.db"));
        }
        if path == ":memory:" || path.starts_with('?') {
            return Err(bad(
                "needs a file path: an in-memory database would not be shared by the store's connections",
            ));
        }
        let path = std::path::absolute(Path::new(path))
            .map_err(|e| bad(&format!("cannot resolve the path: {e}")))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                RoomsError::open(
                    url,
                    format!("cannot create directory {}: {e}", dir.display()),
                )
            })?;
        }
        let path = path
            .to_str()
            .ok_or_else(|| bad("the path is not valid UTF-8"))?;
        return Ok((
            Backend::Sqlite,
            format!("sqlite://{}?mode=rwc", encode_path(path)),
        ));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned()));
    }
    Err(bad(
        "expected sqlite://PATH (embedded, the default) or postgres://USER:PASSWORD@HOST:PORT/DATABASE",
    ))
}

/// %-encodes everything but unreserved characters and `/`, so any file name survives the URL.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The URL with any password replaced by `***`, for messages and logs.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

fn describe_connect_error(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::PoolTimedOut => format!(
            "no connection within {} s: is the server running and reachable?",
            ACQUIRE_TIMEOUT.as_secs()
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend_and_refuse_other_forms() {
        let (backend, url) = parse_url("postgres://u:p@127.0.0.1:5432/db").unwrap();
        assert_eq!(
            (backend, url.as_str()),
            (Backend::Postgres, "postgres://u:p@127.0.0.1:5432/db")
        );
        assert_eq!(parse_url("postgresql://h/db").unwrap().0, Backend::Postgres);
        for bad in [
            "mysql://h/db",
            "rooms.db",
            "",
            "sqlite://",
            "sqlite://:memory:",
            "sqlite:x.db",
        ] {
            let error = parse_url(bad).unwrap_err();
            assert_eq!(error.code(), "url", "{bad}: {error}");
        }
        let error = parse_url("mysql://root:hunter2@h/db")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("sqlite://PATH") && error.contains("postgres://"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn sqlite_paths_become_absolute_and_encoded() {
        let dir = std::env::temp_dir().join(format!("rooms-url-{}", std::process::id()));
        let file = dir.join("a b#c.db");
        let (backend, url) = parse_url(&format!("sqlite://{}", file.display())).unwrap();
        assert_eq!(backend, Backend::Sqlite);
        assert!(dir.is_dir(), "the directory is made");
        assert!(url.starts_with("sqlite:///"), "{url}");
        assert!(url.ends_with("/a%20b%23c.db?mode=rwc"), "{url}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/rooms?sslmode=require"),
            "postgres://app:***@db:5432/rooms?sslmode=require"
        );
        assert_eq!(redact("postgres://app@db/rooms"), "postgres://app@db/rooms");
        assert_eq!(redact("sqlite://data/rooms.db"), "sqlite://data/rooms.db");
    }
}
