use crate::rooms::{anchor, create};
use crate::support::{TestDb, T0};
use relay_control::PageQuery;
use relay_rooms::{MessageKind, MessageRole, NewMessage, Store};
use serde_json::json;

on_both_databases!(
    messages_are_stored_and_retries_deduplicated,
    history_is_newest_first_without_recalled,
    a_room_keeps_its_newest_messages,
);

fn said(live_id: &str, user_id: &str, text: &str, client_msg_id: Option<&str>) -> NewMessage {
    NewMessage {
        live_id: live_id.to_owned(),
        user_id: user_id.to_owned(),
        kind: MessageKind::Chat,
        text: text.to_owned(),
        style: None,
        role: MessageRole::Viewer,
        client_msg_id: client_msg_id.map(str::to_owned),
    }
}

fn page(num: usize, size: usize) -> PageQuery {
    PageQuery {
        page_num: Some(num),
        page_size: Some(size),
    }
}

/// The texts of `live_id`'s history, newest first (one page of 100).
async fn texts(store: &Store, live_id: &str) -> Vec<String> {
    let page = store.list_messages(live_id, page(1, 100)).await.unwrap();
    page.list.into_iter().map(|m| m.body.text).collect()
}

async fn messages_are_stored_and_retries_deduplicated(db: TestDb) {
    let store = db.open().await;
    anchor(&store, "ann", "Ann").await;
    let room = create(&store, "ann", "talk").await;
    let live_id = room.live_id.as_str();

    let danmaku = NewMessage {
        kind: MessageKind::Danmaku,
        style: Some(json!({"color": "#ff0000", "position": "top"})),
        ..said(live_id, "vic", "hello", Some("c-1"))
    };
    let first = store.insert_message(&danmaku, 1000).await.unwrap();
    assert!(first.fresh);
    let message = &first.message;
    assert_eq!(
        (&message.body, message.at, message.recalled),
        (&danmaku, T0, false)
    );
    assert_eq!(message.body.role, MessageRole::Viewer);
    assert_eq!(message.message_id.len(), 26, "{}", message.message_id);
    assert_eq!(
        store
            .get_message(live_id, &message.message_id)
            .await
            .unwrap()
            .as_ref(),
        Some(message),
        "the style comes back as it was stored"
    );

    // The retry finds the first row, even with another text, and stores nothing.
    db.clock.advance(5);
    let retry = store
        .insert_message(&said(live_id, "vic", "hello again", Some("c-1")), 1000)
        .await
        .unwrap();
    assert!(!retry.fresh);
    assert_eq!(&retry.message, message);
    // The same id from another sender, or in another room, is another message.
    db.clock.advance(1);
    let other_user = store
        .insert_message(&said(live_id, "amy", "hi", Some("c-1")), 1000)
        .await
        .unwrap();
    assert!(other_user.fresh);
    let other_room = create(&store, "ann", "second").await;
    assert!(
        store
            .insert_message(&said(&other_room.live_id, "vic", "yo", Some("c-1")), 1000)
            .await
            .unwrap()
            .fresh
    );
    // Messages without an id are never taken for retries of each other.
    for _ in 0..2 {
        db.clock.advance(1);
        let posted = store
            .insert_message(&said(live_id, "vic", "same", None), 1000)
            .await
            .unwrap();
        assert!(posted.fresh);
    }
    assert_eq!(
        texts(&store, live_id).await,
        ["same", "same", "hi", "hello"]
    );

    // A deleted message (its delivery failed) can be sent again with its id.
    assert!(store.delete_message(&message.message_id).await.unwrap());
    assert!(!store.delete_message(&message.message_id).await.unwrap());
    let again = store.insert_message(&danmaku, 1000).await.unwrap();
    assert!(again.fresh);
    assert_ne!(again.message.message_id, message.message_id);

    let error = store
        .insert_message(&said("no-such-room", "vic", "x", None), 1000)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found", "{error}");
}

async fn history_is_newest_first_without_recalled(db: TestDb) {
    let store = db.open().await;
    anchor(&store, "ann", "Ann").await;
    let room = create(&store, "ann", "talk").await;
    let live_id = room.live_id.as_str();
    let mut ids = Vec::new();
    for n in 0..5 {
        db.clock.advance(1);
        let posted = store
            .insert_message(&said(live_id, "vic", &format!("m{n}"), None), 1000)
            .await
            .unwrap();
        ids.push(posted.message.message_id);
    }
    let first = store.list_messages(live_id, page(1, 2)).await.unwrap();
    assert_eq!(
        (first.total_count, first.page_total, first.end_page),
        (5, 3, false)
    );
    let texts_of = |list: &[relay_rooms::Message]| -> Vec<String> {
        list.iter().map(|m| m.body.text.clone()).collect()
    };
    assert_eq!(texts_of(&first.list), ["m4", "m3"]);
    let last = store.list_messages(live_id, page(3, 2)).await.unwrap();
    assert_eq!(
        (texts_of(&last.list), last.end_page),
        (vec!["m0".to_owned()], true)
    );

    // Recalled once (true), then again (false), and gone from the history.
    assert!(store.recall_message(live_id, &ids[3]).await.unwrap());
    assert!(!store.recall_message(live_id, &ids[3]).await.unwrap());
    let recalled = store.get_message(live_id, &ids[3]).await.unwrap().unwrap();
    assert!(recalled.recalled);
    assert_eq!(texts(&store, live_id).await, ["m4", "m2", "m1", "m0"]);
    let page = store.list_messages(live_id, page(1, 20)).await.unwrap();
    assert_eq!(page.total_count, 4);

    // Messages of one millisecond keep the order they were written in.
    for text in ["s1", "s2", "s3"] {
        store
            .insert_message(&said(live_id, "amy", text, None), 1000)
            .await
            .unwrap();
    }
    assert_eq!(texts(&store, live_id).await[..4], ["s3", "s2", "s1", "m4"]);

    // Unknown, or another room's.
    let other = create(&store, "ann", "other").await;
    for (room, id) in [(live_id, "nope"), (other.live_id.as_str(), ids[0].as_str())] {
        let error = store.recall_message(room, id).await.unwrap_err();
        assert_eq!(error.code(), "not_found", "{error}");
    }
    let error = store
        .list_messages(live_id, page_of_zero())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid");
}

fn page_of_zero() -> PageQuery {
    PageQuery {
        page_num: Some(0),
        page_size: Some(10),
    }
}

async fn a_room_keeps_its_newest_messages(db: TestDb) {
    let store = db.open().await;
    anchor(&store, "ann", "Ann").await;
    let room = create(&store, "ann", "busy").await;
    let quiet = create(&store, "ann", "quiet").await;
    store
        .insert_message(&said(&quiet.live_id, "vic", "kept", None), 3)
        .await
        .unwrap();
    for n in 0..6 {
        db.clock.advance(1);
        store
            .insert_message(&said(&room.live_id, "vic", &format!("m{n}"), None), 3)
            .await
            .unwrap();
    }
    assert_eq!(texts(&store, &room.live_id).await, ["m5", "m4", "m3"]);
    assert_eq!(
        texts(&store, &quiet.live_id).await,
        ["kept"],
        "another room's are not pruned"
    );
    // Pruning counts recalled rows too (they hold their place until they age out).
    assert_eq!(store.prune_messages(&room.live_id, 1).await.unwrap(), 2);
    assert_eq!(texts(&store, &room.live_id).await, ["m5"]);
    assert_eq!(store.prune_messages(&room.live_id, 1).await.unwrap(), 0);
}
