use crate::support::TestDb;
use relay_rooms::{NewRoom, NewUser, RoomCounts};

on_both_databases!(counts_add_up_and_viewers_count_once);

async fn counts_add_up_and_viewers_count_once(db: TestDb) {
    let store = db.open().await;
    store
        .register_user(&NewUser {
            user_id: "anchor".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let room = store
        .create_room(
            &NewRoom {
                anchor_id: "anchor".into(),
                title: "stats".into(),
                ..NewRoom::default()
            },
            None,
        )
        .await
        .unwrap();
    let id = room.live_id.as_str();
    assert_eq!(store.room_counts(id).await.unwrap(), RoomCounts::default());
    store.add_room_counts(id, 5, 2).await.unwrap();
    store.add_room_counts(id, 7, 0).await.unwrap();
    assert!(store.record_viewer(id, "v1").await.unwrap());
    assert!(!store.record_viewer(id, "v1").await.unwrap());
    assert!(store.record_viewer(id, "v2").await.unwrap());
    assert_eq!(
        store.room_counts(id).await.unwrap(),
        RoomCounts {
            likes: 12,
            page_views: 2,
            unique_viewers: 2
        }
    );
    assert_eq!(
        store.room_counts("no-such-room").await.unwrap(),
        RoomCounts::default()
    );
}
