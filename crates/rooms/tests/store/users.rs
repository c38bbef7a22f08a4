use crate::support::{TestDb, T0};
use relay_rooms::{BatchRegistered, Extends, NewUser, UserUpdate, MAX_BATCH};
use serde_json::json;

fn object(value: serde_json::Value) -> Extends {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn user(id: &str, nick: &str) -> NewUser {
    NewUser {
        user_id: id.to_owned(),
        nick: nick.to_owned(),
        ..NewUser::default()
    }
}

on_both_databases!(
    register_get_and_update,
    batch_registration_reports_existing_ids
);

async fn register_get_and_update(db: TestDb) {
    let store = db.open().await;
    let alice = NewUser {
        user_id: "alice".to_owned(),
        nick: "Alice Ünïcode 🎥".to_owned(),
        avatar: "https://img.example/a.png".to_owned(),
        extends: object(json!({"level": 3, "tags": ["vip"]})),
    };
    let registered = store.register_user(&alice).await.unwrap();
    assert_eq!((registered.created_at, registered.updated_at), (T0, T0));
    let stored = store.get_user("alice").await.unwrap().unwrap();
    assert_eq!(stored, registered);
    assert_eq!(stored.nick, "Alice Ünïcode 🎥");
    assert_eq!(stored.extends["tags"], json!(["vip"]));

    let again = store
        .register_user(&user("alice", "other"))
        .await
        .unwrap_err();
    assert_eq!(again.code(), "exists", "{again}");
    assert!(again.to_string().contains("alice"), "{again}");
    assert_eq!(
        store.get_user("alice").await.unwrap().unwrap().nick,
        alice.nick
    );
    assert_eq!(store.get_user("nobody").await.unwrap(), None);

    db.clock.advance(1500);
    let renamed = store
        .update_user(
            "alice",
            &UserUpdate {
                nick: Some("Al".to_owned()),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.nick, "Al");
    assert_eq!(renamed.avatar, alice.avatar);
    assert_eq!(renamed.extends, alice.extends);
    assert_eq!((renamed.created_at, renamed.updated_at), (T0, T0 + 1500));
    assert_eq!(store.get_user("alice").await.unwrap().unwrap(), renamed);

    let extended = store
        .update_user(
            "alice",
            &UserUpdate {
                avatar: Some(String::new()),
                extends: Some(object(json!({"vip": true}))),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (extended.nick.as_str(), extended.avatar.as_str()),
        ("Al", "")
    );
    assert_eq!(extended.extends, object(json!({"vip": true})));

    let missing = store
        .update_user("ghost", &UserUpdate::default())
        .await
        .unwrap_err();
    assert_eq!(missing.code(), "not_found", "{missing}");
    let empty = store.register_user(&user("", "x")).await.unwrap_err();
    assert_eq!(empty.code(), "invalid", "{empty}");
    let long = store
        .register_user(&user(&"x".repeat(129), "x"))
        .await
        .unwrap_err();
    assert_eq!(long.code(), "invalid", "{long}");
}

async fn batch_registration_reports_existing_ids(db: TestDb) {
    let store = db.open().await;
    store.register_user(&user("u1", "first")).await.unwrap();
    let outcome = store
        .register_users(&[
            user("u0", "zero"),
            user("u1", "changed?"),
            user("u2", "two"),
        ])
        .await
        .unwrap();
    assert_eq!(
        outcome,
        BatchRegistered {
            registered: vec!["u0".to_owned(), "u2".to_owned()],
            existed: vec!["u1".to_owned()],
        }
    );
    // An id that existed is left as it was.
    assert_eq!(store.get_user("u1").await.unwrap().unwrap().nick, "first");

    let asked: Vec<String> = ["u2", "u0", "unknown", "u1"].map(String::from).to_vec();
    let found = store.get_users(&asked).await.unwrap();
    let ids: Vec<&str> = found.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(ids, ["u2", "u0", "u1"]);
    assert_eq!(found[0].nick, "two");

    // Sending the same batch again registers nothing new.
    let repeat = store
        .register_users(&[user("u0", "zero"), user("u2", "two")])
        .await
        .unwrap();
    assert_eq!(repeat.registered, Vec::<String>::new());
    assert_eq!(repeat.existed, ["u0", "u2"]);

    let twice = store
        .register_users(&[user("x", "a"), user("x", "b")])
        .await
        .unwrap_err();
    assert_eq!(twice.code(), "invalid", "{twice}");
    assert_eq!(store.get_user("x").await.unwrap(), None);

    let too_many: Vec<NewUser> = (0..=MAX_BATCH)
        .map(|n| user(&format!("m{n}"), ""))
        .collect();
    assert_eq!(
        store.register_users(&too_many).await.unwrap_err().code(),
        "invalid"
    );
    let full = store.register_users(&too_many[..MAX_BATCH]).await.unwrap();
    assert_eq!(full.registered.len(), MAX_BATCH);
    let ids: Vec<String> = too_many[..MAX_BATCH]
        .iter()
        .map(|u| u.user_id.clone())
        .collect();
    assert_eq!(store.get_users(&ids).await.unwrap().len(), MAX_BATCH);

    assert_eq!(
        store.register_users(&[]).await.unwrap(),
        BatchRegistered::default()
    );
    assert!(store.get_users(&[]).await.unwrap().is_empty());
    let repeated_ids = ["u0".to_owned(), "u0".to_owned()];
    assert_eq!(
        store.get_users(&repeated_ids).await.unwrap_err().code(),
        "invalid"
    );
}
