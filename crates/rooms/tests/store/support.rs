//! The harness: each test runs once on a fresh SQLite file and once in a fresh PostgreSQL
//! schema of the server `LIVERELAY_TEST_POSTGRES_URL` names (scripts/test.sh starts one), with
//! a clock the test moves by hand.

use relay_rooms::{Clock, Store};
use sqlx::{AnyConnection, Connection, Executor};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;

pub const PG_ENV: &str = "LIVERELAY_TEST_POSTGRES_URL";
/// Where every test's clock starts (2023-11-14, Unix ms).
pub const T0: i64 = 1_700_000_000_000;

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// A clock tests move by hand; clones share the time.
#[derive(Clone)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn clock(&self) -> Clock {
        let time = Arc::clone(&self.0);
        Arc::new(move || time.load(Ordering::SeqCst))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
enum Place {
    Dir(PathBuf),
    Schema { server: String, schema: String },
}

/// One test's own database: a file in its own directory, or a schema of its own.
#[derive(Clone)]
pub struct TestDb {
    pub kind: Kind,
    /// What `Store::open` is given.
    pub url: String,
    /// The same database as sqlx itself takes it, for looking under the store.
    pub sqlx_url: String,
    pub clock: TestClock,
    place: Place,
}

impl TestDb {
    /// `None` when the PostgreSQL tests are skipped on purpose.
    async fn new(kind: Kind, name: &str) -> Option<TestDb> {
        let unique = format!(
            "{}_{}_{}",
            &name[..name.len().min(40)],
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::SeqCst)
        );
        let clock = TestClock(Arc::new(AtomicI64::new(T0)));
        match kind {
            Kind::Sqlite => {
                let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                    .join("rooms-tests")
                    .join(&unique);
                let _ = std::fs::remove_dir_all(&dir);
                let url = format!("sqlite://{}", dir.join("rooms.db").display());
                Some(TestDb {
                    kind,
                    sqlx_url: url.clone(),
                    url,
                    clock,
                    place: Place::Dir(dir),
                })
            }
            Kind::Postgres => {
                let server = postgres_url()?;
                let schema = format!("t_{unique}").to_lowercase();
                admin(&server, &format!("CREATE SCHEMA {schema}")).await;
                let separator = if server.contains('?') { '&' } else { '?' };
                let url = format!("{server}{separator}options=-c%20search_path%3D{schema}");
                Some(TestDb {
                    kind,
                    sqlx_url: url.clone(),
                    url,
                    clock,
                    place: Place::Schema { server, schema },
                })
            }
        }
    }

    /// Opens the store (running the migrations) on the test's clock.
    pub async fn open(&self) -> Store {
        Store::open(&self.url)
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", self.url))
            .with_clock(self.clock.clock())
    }

    /// A plain sqlx connection to the same database.
    pub async fn raw(&self) -> AnyConnection {
        sqlx::any::install_default_drivers();
        AnyConnection::connect(&self.sqlx_url)
            .await
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.sqlx_url))
    }

    async fn remove(self) {
        match self.place {
            Place::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Place::Schema { server, schema } => {
                admin(&server, &format!("DROP SCHEMA {schema} CASCADE")).await;
            }
        }
    }
}

/// The server for the PostgreSQL runs, `None` when they are skipped with `skip`. Unset is a
/// failure, not a skip: a green run must have tested both databases.
pub fn postgres_url() -> Option<String> {
    match std::env::var(PG_ENV) {
        Ok(value) if value == "skip" => {
            eprintln!("skipped: the PostgreSQL run of this test ({PG_ENV}=skip)");
            None
        }
        Ok(value) if !value.is_empty() => Some(value),
        _ => panic!(
            "{PG_ENV} is not set: run the tests with scripts/test.sh (e.g. `scripts/test.sh -p \
             relay-rooms`), which starts a throwaway PostgreSQL and sets it; or set it to a \
             postgres:// URL of a server where the tests may create schemas; or set it to `skip` \
             to skip the PostgreSQL runs"
        ),
    }
}

async fn admin(server: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("connect to {PG_ENV}={server}: {e}"));
    conn.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
}

/// Runs `test` on a fresh database of `kind`; removes the database when it passes (a failed
/// test leaves it to look at).
pub async fn run<F, Fut>(kind: Kind, name: &str, test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(db) = TestDb::new(kind, name).await else {
        return;
    };
    test(db.clone()).await;
    db.remove().await;
}
