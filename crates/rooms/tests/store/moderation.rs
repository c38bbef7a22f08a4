use crate::rooms::{anchor, create, start};
use crate::support::{TestDb, T0};
use relay_rooms::{SanctionKind, StopReason, MAX_NOTE_CHARS};

on_both_databases!(
    bans_hold_until_lifted_or_over,
    kicks_and_mutes_last_their_time,
    stops_keep_the_operators_note,
);

async fn bans_hold_until_lifted_or_over(db: TestDb) {
    let store = db.open().await;
    anchor(&store, "ann", "Ann").await;
    assert_eq!(store.active_ban("ann").await.unwrap(), None);

    let ban = store
        .ban_anchor("ann", "spam", Some(T0 + 60_000), "ops")
        .await
        .unwrap();
    assert_eq!(
        (ban.reason.as_str(), ban.until_at, ban.banned_by.as_str()),
        ("spam", Some(T0 + 60_000), "ops")
    );
    assert_eq!(store.active_ban("ann").await.unwrap(), Some(ban));
    db.clock.advance(60_000);
    assert_eq!(
        store.active_ban("ann").await.unwrap(),
        None,
        "over at until"
    );

    // A ban again replaces the old one; without until it lasts until lifted.
    let forever = store.ban_anchor("ann", "again", None, "").await.unwrap();
    db.clock.advance(365 * 86_400_000);
    assert_eq!(store.active_ban("ann").await.unwrap(), Some(forever));
    assert!(store.lift_ban("ann").await.unwrap());
    assert!(!store.lift_ban("ann").await.unwrap());
    assert_eq!(store.active_ban("ann").await.unwrap(), None);

    let now = db.clock.now();
    for (user, until, code) in [
        ("ghost", None, "not_found"),
        ("ann", Some(now), "invalid"),
        ("", None, "invalid"),
    ] {
        let error = store.ban_anchor(user, "", until, "").await.unwrap_err();
        assert_eq!(error.code(), code, "{user:?} {until:?}: {error}");
    }
    let long = "x".repeat(MAX_NOTE_CHARS + 1);
    let error = store.ban_anchor("ann", &long, None, "").await.unwrap_err();
    assert_eq!(error.code(), "invalid");

    // A banned anchor's live rooms are found to be stopped.
    let room = create(&store, "ann", "on air").await;
    create(&store, "ann", "not started").await;
    start(&store, &room.live_id).await;
    let live = store.live_rooms_of("ann").await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].live_id, room.live_id);
}

async fn kicks_and_mutes_last_their_time(db: TestDb) {
    let store = db.open().await;
    anchor(&store, "ann", "Ann").await;
    let live_id = create(&store, "ann", "show").await.live_id;
    let kick = store
        .sanction(&live_id, "vic", SanctionKind::Kick, T0 + 600_000, "ann")
        .await
        .unwrap();
    let mute = store
        .sanction(&live_id, "vic", SanctionKind::Mute, T0 + 30_000, "")
        .await
        .unwrap();
    assert_eq!(
        store
            .active_sanction(&live_id, "vic", SanctionKind::Kick)
            .await
            .unwrap(),
        Some(kick.clone())
    );
    assert_eq!(
        store
            .active_sanction(&live_id, "bob", SanctionKind::Kick)
            .await
            .unwrap(),
        None
    );
    let mut all = store.active_sanctions().await.unwrap();
    all.sort_by_key(|s| s.until_at);
    assert_eq!(all, [mute.clone(), kick.clone()]);

    db.clock.advance(30_000);
    assert_eq!(
        store
            .active_sanction(&live_id, "vic", SanctionKind::Mute)
            .await
            .unwrap(),
        None,
        "the mute is over"
    );
    assert_eq!(store.active_sanctions().await.unwrap(), [kick]);
    // A new mute replaces the old row; lifting removes it.
    let again = store
        .sanction(&live_id, "vic", SanctionKind::Mute, T0 + 90_000, "ann")
        .await
        .unwrap();
    assert_eq!(
        store
            .active_sanction(&live_id, "vic", SanctionKind::Mute)
            .await
            .unwrap(),
        Some(again)
    );
    assert!(store
        .lift_sanction(&live_id, "vic", SanctionKind::Mute)
        .await
        .unwrap());
    assert!(!store
        .lift_sanction(&live_id, "vic", SanctionKind::Mute)
        .await
        .unwrap());
    let error = store
        .sanction("no-such-room", "vic", SanctionKind::Kick, T0 + 1, "")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found", "{error}");

    db.clock.advance(600_000);
    assert!(store.active_sanctions().await.unwrap().is_empty());
    assert_eq!(store.purge_sanctions(db.clock.now()).await.unwrap(), 1);
}

async fn stops_keep_the_operators_note(db: TestDb) {
    let store = db.open().await;
    anchor(&store, "ann", "Ann").await;
    let noted = create(&store, "ann", "noted").await.live_id;
    let plain = create(&store, "ann", "plain").await.live_id;
    for live_id in [&noted, &plain] {
        start(&store, live_id).await;
    }
    let long = "x".repeat(MAX_NOTE_CHARS + 1);
    let error = store
        .stop_room_noted(&noted, StopReason::Admin, Some(&long), None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid");
    let stopped = store
        .stop_room_noted(&noted, StopReason::Admin, Some("copyright claim"), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stopped.stop_reason, stopped.stop_note.as_deref()),
        (Some(StopReason::Admin), Some("copyright claim"))
    );
    assert_eq!(store.get_room(&noted).await.unwrap(), Some(stopped));
    let banned = store
        .stop_room(&plain, StopReason::Banned, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (banned.stop_reason, banned.stop_note),
        (Some(StopReason::Banned), None)
    );
}
