//! The store's tests, each written once and run on both databases: `NAME::sqlite` on a fresh
//! SQLite file, `NAME::postgres` in a fresh schema of the PostgreSQL server named by
//! `LIVERELAY_TEST_POSTGRES_URL` (`scripts/test.sh` starts one; unset fails, `skip` skips).
//! The webhook worker's tests (`delivery`) and the gift payments' (`gifts`) talk to a real HTTP
//! receiver (`receiver`).

/// For each `async fn NAME(db: TestDb)` named, a module `NAME` with tests `sqlite` and
/// `postgres` running it.
macro_rules! on_both_databases {
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                crate::support::run(crate::support::Kind::Sqlite, stringify!($test), super::$test)
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                crate::support::run(crate::support::Kind::Postgres, stringify!($test), super::$test)
                    .await;
            }
        }
    )+};
}

mod delivery;
mod gifts;
mod messages;
mod moderation;
mod open;
mod outbox;
mod pk;
mod receiver;
mod rooms;
mod stats;
mod support;
mod users;
