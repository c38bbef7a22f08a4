//! Opening: migrations applied once across restarts and concurrent starts, a newer schema
//! refused, and URLs or databases that cannot work refused with a message that says why.

use crate::support::{postgres_url, Kind, TestDb};
use relay_rooms::{Backend, NewUser, Store, SCHEMA_VERSION};
use sqlx::{Executor, Row};

on_both_databases!(migrations_apply_once, a_newer_schema_is_refused);

async fn count_migrations(db: &TestDb) -> i64 {
    let mut conn = db.raw().await;
    conn.fetch_one("SELECT COUNT(*) AS n FROM liverelay_migrations")
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

async fn migrations_apply_once(db: TestDb) {
    // Two nodes starting together on an empty database.
    let (a, b) = tokio::join!(Store::open(&db.url), Store::open(&db.url));
    let (a, b) = (a.unwrap(), b.unwrap());
    let backend = match db.kind {
        Kind::Sqlite => Backend::Sqlite,
        Kind::Postgres => Backend::Postgres,
    };
    assert_eq!((a.backend(), b.backend()), (backend, backend));
    assert_eq!(a.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(count_migrations(&db).await, SCHEMA_VERSION);
    a.register_user(&NewUser {
        user_id: "kept".to_owned(),
        ..NewUser::default()
    })
    .await
    .unwrap();
    a.close().await;
    b.close().await;

    for _ in 0..2 {
        let again = db.open().await;
        assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
        assert!(
            again.get_user("kept").await.unwrap().is_some(),
            "data survives"
        );
        again.close().await;
    }
    assert_eq!(
        count_migrations(&db).await,
        SCHEMA_VERSION,
        "nothing applied twice"
    );
}

async fn a_newer_schema_is_refused(db: TestDb) {
    db.open().await.close().await;
    let newer = SCHEMA_VERSION + 1;
    let mut conn = db.raw().await;
    let insert = format!(
        "INSERT INTO liverelay_migrations (version, name, applied_at) \
         VALUES ({newer}, 'from_the_future', 0)"
    );
    conn.execute(insert.as_str()).await.unwrap();
    let error = Store::open(&db.url).await.unwrap_err();
    assert_eq!(error.code(), "schema", "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("schema version {newer}"))
            && message.contains(&format!("({SCHEMA_VERSION})")),
        "{message}"
    );

    let rename = format!(
        "UPDATE liverelay_migrations SET name = 'renamed' WHERE version = 1; \
         DELETE FROM liverelay_migrations WHERE version = {newer}"
    );
    conn.execute(rename.as_str()).await.unwrap();
    let error = Store::open(&db.url).await.unwrap_err();
    assert_eq!(error.code(), "schema", "{error}");
    assert!(error.to_string().contains("renamed"), "{error}");
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("rooms-tests")
        .join(format!("{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn unknown_urls_are_refused() {
    for url in ["mysql://root@localhost/rooms", "rooms.db", "", "sqlite://"] {
        let error = Store::open(url).await.unwrap_err();
        assert_eq!(error.code(), "url", "{url}: {error}");
        if url.starts_with("mysql") {
            assert!(error.to_string().contains("sqlite://PATH"), "{error}");
        }
    }
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused() {
    let dir = scratch_dir("not_sqlite");
    let path = dir.join("rooms.db");
    std::fs::write(&path, vec![0x5a_u8; 8192]).unwrap();
    let error = Store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "open", "{error}");
    assert!(error.to_string().contains("not a database"), "{error}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_new_sqlite_file_is_made_in_wal_mode() {
    let dir = scratch_dir("new_file");
    let path = dir.join("sub dir").join("rooms.db");
    let store = Store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.is_file());
    assert_eq!(store.backend(), Backend::Sqlite);
    store.close().await;
    // The journal mode is kept in the file itself.
    sqlx::any::install_default_drivers();
    let mut conn =
        <sqlx::AnyConnection as sqlx::Connection>::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
    let mode: String = conn
        .fetch_one("PRAGMA journal_mode")
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(mode, "wal");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_missing_postgres_database_is_refused_without_the_password() {
    let Some(server) = postgres_url() else {
        return;
    };
    // Same server, a database that does not exist, a password that must not be shown.
    let (base, _) = server.split_once('?').unwrap_or((&server, ""));
    let (host, _) = base.rsplit_once('/').unwrap();
    let (scheme, rest) = host.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let url = format!("{scheme}://postgres:hunter2@{host}/no_such_database_here");
    let error = Store::open(&url).await.unwrap_err();
    let message = error.to_string();
    assert_eq!(error.code(), "open", "{message}");
    assert!(message.contains("no_such_database_here"), "{message}");
    assert!(
        !message.contains("hunter2") && message.contains("***"),
        "{message}"
    );
}
