//! Schema migrations, run by [`Store::open`](crate::Store::open) before anything else, on the
//! store's pool (this module knows nothing of the store itself).
//!
//! The SQL files in `migrations/` are compiled into the binary, numbered from 1, and each is
//! applied in a transaction of its own together with its row in `liverelay_migrations`, so a
//! crash leaves either all of a migration or none of it, and a restart applies nothing twice.
//! Nodes starting together against one PostgreSQL database take turns (an advisory lock held
//! for each transaction; SQLite's `BEGIN IMMEDIATE` does the same for processes sharing a
//! file), and each re-checks under the lock whether another has applied the step meanwhile.
//!
//! A database whose schema is newer than this build (a rollback after an upgrade) is refused:
//! reading rows written by a schema it does not know could lose or misread data.

use crate::backend::{self, Backend};
use crate::error::RoomsError;
use sqlx::{AnyConnection, AnyPool, Row};

pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration this build knows, in order. Append only: a released migration is never
/// edited, its name is checked against the database at every start.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "users_rooms_outbox",
        sql: include_str!("../migrations/0001_users_rooms_outbox.sql"),
    },
    Migration {
        version: 2,
        name: "likes_stats",
        sql: include_str!("../migrations/0002_likes_stats.sql"),
    },
    Migration {
        version: 3,
        name: "pk_moderation",
        sql: include_str!("../migrations/0003_pk_moderation.sql"),
    },
    Migration {
        version: 4,
        name: "gifts",
        sql: include_str!("../migrations/0004_gifts.sql"),
    },
    Migration {
        version: 5,
        name: "chat_messages",
        sql: include_str!("../migrations/0005_chat_messages.sql"),
    },
    Migration {
        version: 6,
        name: "outbox_room_dead",
        sql: include_str!("../migrations/0006_outbox_room_dead.sql"),
    },
];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Any fixed number: the PostgreSQL advisory lock the nodes migrating one database share.
const PG_MIGRATION_LOCK: i64 = 0x6c69_7665_726f_6f6d;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS liverelay_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// Serialises migrations between nodes for the rest of the transaction (PostgreSQL; on
/// SQLite the transaction's `BEGIN IMMEDIATE` already holds the write lock).
async fn lock(conn: &mut AnyConnection, backend: Backend) -> Result<(), RoomsError> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The migrations recorded in the database, by version.
async fn applied(conn: &mut AnyConnection) -> Result<Vec<(i64, String)>, RoomsError> {
    let rows = sqlx::query("SELECT version, name FROM liverelay_migrations ORDER BY version")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("version")?, row.try_get("name")?)))
        .collect()
}

/// Refuses a database written by a newer or a different build.
fn check_known(applied: &[(i64, String)]) -> Result<(), RoomsError> {
    for (version, name) in applied {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            Some(known) if known.name == name => {}
            Some(known) => {
                return Err(RoomsError::SchemaMismatch {
                    version: *version,
                    found: name.clone(),
                    expected: known.name.to_owned(),
                })
            }
            None if *version > SCHEMA_VERSION => {
                return Err(RoomsError::SchemaTooNew {
                    found: *version,
                    known: SCHEMA_VERSION,
                })
            }
            None => {
                return Err(RoomsError::SchemaMismatch {
                    version: *version,
                    found: name.clone(),
                    expected: "(none)".to_owned(),
                })
            }
        }
    }
    Ok(())
}

/// Brings the schema of the `backend` database behind `pool` up to [`SCHEMA_VERSION`], the
/// times it records read from `now` (Unix milliseconds).
pub(crate) async fn migrate(
    pool: &AnyPool,
    backend: Backend,
    now: &(dyn Fn() -> i64 + Send + Sync),
) -> Result<(), RoomsError> {
    let mut tx = backend::begin_write(pool, backend).await?;
    lock(&mut tx, backend).await?;
    sqlx::query(CREATE_TABLE).execute(&mut *tx).await?;
    tx.commit().await?;

    for migration in MIGRATIONS {
        let mut tx = backend::begin_write(pool, backend).await?;
        lock(&mut tx, backend).await?;
        // Read under the lock: another node may have applied this step since we started, or a
        // newer build may have run.
        let now_applied = applied(&mut tx).await?;
        check_known(&now_applied)?;
        if now_applied.iter().any(|(v, _)| *v == migration.version) {
            continue;
        }
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(|source| RoomsError::Migration {
                version: migration.version,
                name: migration.name,
                source,
            })?;
        sqlx::query(
            "INSERT INTO liverelay_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(migration.version)
        .bind(migration.name)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "rooms database: migration applied"
        );
    }
    Ok(())
}

/// The highest migration recorded in the database behind `pool` (0 for none).
pub(crate) async fn current_version(pool: &AnyPool) -> Result<i64, RoomsError> {
    let mut conn = pool.acquire().await?;
    Ok(applied(&mut conn)
        .await?
        .last()
        .map_or(0, |(version, _)| *version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1, "{}", migration.name);
            assert!(!migration.sql.trim().is_empty());
        }
        assert_eq!(SCHEMA_VERSION, MIGRATIONS.len() as i64);
    }

    #[test]
    fn unknown_and_renamed_migrations_are_refused() {
        let newer = [
            (1, "users_rooms_outbox".to_owned()),
            (7, "later".to_owned()),
        ];
        let error = check_known(&newer).unwrap_err();
        assert!(
            matches!(error, RoomsError::SchemaTooNew { found: 7, known } if known == SCHEMA_VERSION),
            "{error}"
        );
        let renamed = [(1, "something_else".to_owned())];
        let error = check_known(&renamed).unwrap_err();
        assert!(error.to_string().contains("something_else"), "{error}");
        assert_eq!(error.code(), "schema");
        check_known(&[(1, "users_rooms_outbox".to_owned())]).unwrap();
        check_known(&[]).unwrap();
    }
}
