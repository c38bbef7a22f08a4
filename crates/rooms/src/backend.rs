//! Which database the store runs on, and the one thing the backends do differently when
//! writing: how a write transaction starts. Kept apart from [`Store`](crate::Store) so the
//! migrations can run on a bare pool before the store is handed out.

use crate::error::RoomsError;
use sqlx::{Any, AnyPool, Transaction};

/// Which database a [`Store`](crate::Store) runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Starts a transaction on `pool` that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), waiting up to the busy timeout: a transaction that first read and
/// then tried to write could otherwise fail at once when another connection wrote in
/// between. PostgreSQL locks rows as they are written and needs nothing special.
pub(crate) async fn begin_write(
    pool: &AnyPool,
    backend: Backend,
) -> Result<Transaction<'static, Any>, RoomsError> {
    let begin = match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    };
    Ok(pool.begin_with(begin).await?)
}
