//! Gifts on both databases: the catalogue, the ledger's one-row-per-send key, settling once,
//! the leases that decide who asks the payment service, lists and totals; then payments
//! against a real HTTP payment service (the store on the real clock there).

use crate::receiver::{script, Received, Receiver, Reply};
use crate::support::TestDb;
use relay_control::auth::{verify_webhook, SIGNATURE_HEADER};
use relay_control::PageQuery;
use relay_rooms::{
    Backoff, Claimant, GiftQuery, GiftRecord, GiftStatus, NewGift, NewGiftRecord, NewRoom, NewUser,
    Opened, PaymentConfig, Payments, Settlement, Store,
};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECRET: &str = "gift-payment-tests-secret";
const LEASE: Duration = Duration::from_secs(4);

on_both_databases!(
    catalogue_is_created_replaced_listed_and_deleted,
    a_send_is_one_row_however_often_it_is_retried,
    a_row_settles_once,
    leases_decide_who_asks_the_payment_service,
    ledgers_list_by_room_anchor_and_sender_with_totals,
    payment_paid_refused_and_signed,
    concurrent_retries_are_charged_once,
    unclear_payments_are_reconciled_with_the_same_biz_id,
    a_row_left_by_a_dead_node_is_reconciled,
    the_apps_confirmation_wins_over_a_late_answer,
);

fn gift(gift_id: i64, gift_type: i64, name: &str, amount: i64, order: i64) -> NewGift {
    NewGift {
        gift_id,
        gift_type,
        name: name.to_owned(),
        amount,
        order,
        img: format!("https://cdn.example/{name}.png"),
        ..NewGift::default()
    }
}

/// Users `anchor`, `vic` and `ann`, and a room of `anchor`; returns its id.
async fn room(store: &Store) -> String {
    for user_id in ["anchor", "vic", "ann"] {
        let user = NewUser {
            user_id: user_id.to_owned(),
            ..NewUser::default()
        };
        store.register_user(&user).await.unwrap();
    }
    let new = NewRoom {
        anchor_id: "anchor".to_owned(),
        title: "gifts".to_owned(),
        ..NewRoom::default()
    };
    store.create_room(&new, None).await.unwrap().live_id
}

fn send(
    live_id: &str,
    user_id: &str,
    client_biz_id: &str,
    amount: i64,
    unit: i64,
) -> NewGiftRecord {
    NewGiftRecord {
        client_biz_id: client_biz_id.to_owned(),
        user_id: user_id.to_owned(),
        live_id: live_id.to_owned(),
        anchor_id: "anchor".to_owned(),
        gift_id: 7,
        amount,
        unit_price: unit,
    }
}

fn created(opened: Opened) -> GiftRecord {
    match opened {
        Opened::Created(record) => record,
        Opened::Existing(record) => panic!("expected a new row, got {record:?}"),
    }
}

fn paid() -> Settlement {
    Settlement {
        status: GiftStatus::Paid,
        biz_code: None,
        biz_message: None,
    }
}

fn page(num: usize, size: usize) -> PageQuery {
    PageQuery {
        page_num: Some(num),
        page_size: Some(size),
    }
}

async fn catalogue_is_created_replaced_listed_and_deleted(db: TestDb) {
    let store = db.open().await;
    let mut rose = gift(3, 1, "rose", 10, 2);
    rose.extends.insert("color".to_owned(), json!("red"));
    let stored = store.put_gift(&rose).await.unwrap();
    assert_eq!(stored.entry, rose);
    assert_eq!(stored.created_at, db.clock.now());
    store.put_gift(&gift(1, 1, "heart", 1, 5)).await.unwrap();
    store.put_gift(&gift(2, 2, "rocket", 0, 1)).await.unwrap();

    // Replaced in place: same id, new price and name, creation time kept.
    db.clock.advance(1000);
    let replaced = store
        .put_gift(&gift(3, 1, "red rose", 12, 2))
        .await
        .unwrap();
    let entry = &replaced.entry;
    assert_eq!((entry.name.as_str(), entry.amount), ("red rose", 12));
    assert_eq!(replaced.created_at + 1000, replaced.updated_at);
    assert!(entry.extends.is_empty(), "extends is replaced whole");

    let ids =
        |gifts: &[relay_rooms::Gift]| gifts.iter().map(|g| g.entry.gift_id).collect::<Vec<_>>();
    assert_eq!(ids(&store.list_gifts(None).await.unwrap()), [3, 1, 2]);
    assert_eq!(ids(&store.list_gifts(Some(1)).await.unwrap()), [3, 1]);
    assert_eq!(
        ids(&store.list_gifts(Some(9)).await.unwrap()),
        Vec::<i64>::new()
    );
    assert_eq!(store.get_gift(2).await.unwrap().unwrap().entry.amount, 0);

    let error = store.put_gift(&gift(4, 1, "", 1, 0)).await.unwrap_err();
    assert_eq!(error.code(), "invalid");
    assert!(store.delete_gift(1).await.unwrap());
    assert!(!store.delete_gift(1).await.unwrap());
    assert!(store.get_gift(1).await.unwrap().is_none());
}

async fn a_send_is_one_row_however_often_it_is_retried(db: TestDb) {
    let store = db.open().await;
    let live_id = room(&store).await;
    let first = created(
        store
            .open_gift_record(&send(&live_id, "vic", "tap-1", 3, 10), LEASE)
            .await
            .unwrap(),
    );
    assert_eq!(first.status, GiftStatus::Pending);
    assert_eq!(
        (first.sent.amount, first.sent.unit_price, first.total),
        (3, 10, 30)
    );
    assert_eq!(first.sent, send(&live_id, "vic", "tap-1", 3, 10));
    assert_eq!(
        (first.attempts, first.next_attempt_at),
        (1, db.clock.now() + 4000)
    );
    assert_eq!(first.biz_id.len(), 24);

    // The same key again, even with other values: the row as it stands, nothing written.
    match store
        .open_gift_record(&send(&live_id, "vic", "tap-1", 99, 1), LEASE)
        .await
        .unwrap()
    {
        Opened::Existing(again) => assert_eq!(again, first),
        other => panic!("a retry made a new row: {other:?}"),
    }
    // Another sender may use the same key.
    let other = created(
        store
            .open_gift_record(&send(&live_id, "ann", "tap-1", 1, 10), LEASE)
            .await
            .unwrap(),
    );
    assert_ne!(other.biz_id, first.biz_id);

    // Eight concurrent sends of one key: one row, one creator.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, live_id) = (store.clone(), live_id.clone());
        tasks.push(tokio::spawn(async move {
            store
                .open_gift_record(&send(&live_id, "vic", "tap-2", 1, 10), LEASE)
                .await
                .unwrap()
        }));
    }
    let mut creators = 0;
    let mut biz_ids = HashSet::new();
    for task in tasks {
        let (record, new) = match task.await.unwrap() {
            Opened::Created(record) => (record, true),
            Opened::Existing(record) => (record, false),
        };
        creators += usize::from(new);
        biz_ids.insert(record.biz_id);
    }
    assert_eq!((creators, biz_ids.len()), (1, 1));
    let vic = store
        .list_gift_records(GiftQuery::Sender("vic"), page(1, 50))
        .await
        .unwrap();
    assert_eq!(vic.total_count, 2);

    for (bad, code) in [
        (send(&live_id, "vic", "", 1, 10), "invalid"),
        (send(&live_id, "vic", "t\n", 1, 10), "invalid"),
        (send(&live_id, "vic", "zero", 0, 10), "invalid"),
        (send(&live_id, "vic", "neg", 1, -1), "invalid"),
        (send(&live_id, "vic", "huge", 2, i64::MAX), "invalid"),
        (send("no-such-room", "vic", "lost", 1, 10), "not_found"),
        (send(&live_id, "nobody", "lost", 1, 10), "not_found"),
    ] {
        let error = store.open_gift_record(&bad, LEASE).await.unwrap_err();
        assert_eq!(error.code(), code, "{bad:?}: {error}");
    }
}

async fn a_row_settles_once(db: TestDb) {
    let store = db.open().await;
    let live_id = room(&store).await;
    let record = created(
        store
            .open_gift_record(&send(&live_id, "vic", "s-1", 2, 5), LEASE)
            .await
            .unwrap(),
    );
    db.clock.advance(500);
    let settled = store.settle_gift(&record.biz_id, &paid()).await.unwrap();
    let settled = settled.expect("the first settler applies");
    assert_eq!(settled.status, GiftStatus::Paid);
    assert_eq!(settled.settled_at, Some(db.clock.now()));
    // Every later settler, whatever it says, is told it did not apply.
    let refused = Settlement {
        status: GiftStatus::Failed,
        biz_code: Some(400001),
        biz_message: Some("insufficient balance".to_owned()),
    };
    assert_eq!(
        store.settle_gift(&record.biz_id, &refused).await.unwrap(),
        None
    );
    assert_eq!(
        store.settle_gift(&record.biz_id, &paid()).await.unwrap(),
        None
    );
    assert_eq!(
        store.settle_gift("no-such-biz", &paid()).await.unwrap(),
        None
    );
    // Nor can it be claimed or marked unknown any more.
    db.clock.advance(10_000);
    for claimant in [Claimant::Sender, Claimant::Reconciler] {
        let claim = store
            .claim_gift_record(&record.biz_id, LEASE, claimant)
            .await;
        assert_eq!(claim.unwrap(), None);
    }
    assert_eq!(
        store
            .gift_unknown(&record, "late", db.clock.now())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.gift_record(&record.biz_id).await.unwrap(),
        Some(settled)
    );
    assert!(store.due_gift_records(10).await.unwrap().is_empty());

    // Two settlers at once: one applies.
    let second = created(
        store
            .open_gift_record(&send(&live_id, "vic", "s-2", 1, 5), LEASE)
            .await
            .unwrap(),
    );
    let pay = paid();
    let (a, b) = tokio::join!(
        store.settle_gift(&second.biz_id, &pay),
        store.settle_gift(&second.biz_id, &refused)
    );
    let applied = [a.unwrap(), b.unwrap()];
    assert_eq!(applied.iter().flatten().count(), 1, "{applied:?}");
    let invalid = Settlement {
        status: GiftStatus::Unknown,
        ..paid()
    };
    let error = store
        .settle_gift(&second.biz_id, &invalid)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid");
}

async fn leases_decide_who_asks_the_payment_service(db: TestDb) {
    let store = db.open().await;
    let live_id = room(&store).await;
    let record = created(
        store
            .open_gift_record(&send(&live_id, "vic", "l-1", 1, 5), LEASE)
            .await
            .unwrap(),
    );
    // The sender's call holds it: nobody else may ask.
    for claimant in [Claimant::Sender, Claimant::Reconciler] {
        let claim = store
            .claim_gift_record(&record.biz_id, LEASE, claimant)
            .await;
        assert_eq!(claim.unwrap(), None, "{claimant:?}");
    }
    assert!(store.due_gift_records(10).await.unwrap().is_empty());
    // Its lease runs out (the node died mid-call): due, claimed by exactly one.
    db.clock.advance(4000);
    assert_eq!(
        store.due_gift_records(10).await.unwrap(),
        std::slice::from_ref(&record.biz_id)
    );
    let claimed = store
        .claim_gift_record(&record.biz_id, LEASE, Claimant::Reconciler)
        .await
        .unwrap()
        .expect("due");
    assert_eq!((claimed.attempts, claimed.status), (2, GiftStatus::Pending));
    assert_eq!(claimed.next_attempt_at, db.clock.now() + 4000);
    let again = store
        .claim_gift_record(&record.biz_id, LEASE, Claimant::Sender)
        .await;
    assert_eq!(again.unwrap(), None);

    // The first call's late outcome no longer counts: its claim was lost.
    let retry_at = db.clock.now() + 60_000;
    assert_eq!(
        store.gift_unknown(&record, "late", retry_at).await.unwrap(),
        None
    );
    // The current claimant's does.
    let unknown = store
        .gift_unknown(&claimed, "no answer within 3000 ms", retry_at)
        .await
        .unwrap()
        .expect("the current claim");
    assert_eq!(unknown.status, GiftStatus::Unknown);
    assert_eq!(
        unknown.last_error.as_deref(),
        Some("no answer within 3000 ms")
    );
    // The reconciler waits for the back-off; the sender retrying may ask at once.
    assert!(store.due_gift_records(10).await.unwrap().is_empty());
    let claim = store
        .claim_gift_record(&record.biz_id, LEASE, Claimant::Reconciler)
        .await;
    assert_eq!(claim.unwrap(), None);
    let by_sender = store
        .claim_gift_record(&record.biz_id, LEASE, Claimant::Sender)
        .await
        .unwrap()
        .expect("an unknown row is the sender's to retry");
    assert_eq!(
        (by_sender.attempts, by_sender.status),
        (3, GiftStatus::Pending)
    );
    assert_eq!(by_sender.biz_id, record.biz_id);
}

async fn ledgers_list_by_room_anchor_and_sender_with_totals(db: TestDb) {
    let store = db.open().await;
    let live_id = room(&store).await;
    let other_room = store
        .create_room(
            &NewRoom {
                anchor_id: "ann".to_owned(),
                title: "other".to_owned(),
                ..NewRoom::default()
            },
            None,
        )
        .await
        .unwrap()
        .live_id;
    let mut biz_ids = Vec::new();
    for (n, (room_id, anchor, user, unit, outcome)) in [
        (&live_id, "anchor", "vic", 10, Some(GiftStatus::Paid)),
        (&live_id, "anchor", "ann", 20, Some(GiftStatus::Paid)),
        (&live_id, "anchor", "vic", 30, Some(GiftStatus::Failed)),
        (&live_id, "anchor", "vic", 40, None),
        (&other_room, "ann", "vic", 50, Some(GiftStatus::Paid)),
    ]
    .into_iter()
    .enumerate()
    {
        db.clock.advance(10);
        let mut new = send(room_id, user, &format!("k{n}"), 2, unit);
        new.anchor_id = anchor.to_owned();
        let record = created(store.open_gift_record(&new, LEASE).await.unwrap());
        if let Some(status) = outcome {
            let settlement = Settlement { status, ..paid() };
            store
                .settle_gift(&record.biz_id, &settlement)
                .await
                .unwrap();
        }
        biz_ids.push(record.biz_id);
    }
    let listed = |query, num, size| {
        let store = store.clone();
        async move {
            let page = store
                .list_gift_records(query, page(num, size))
                .await
                .unwrap();
            let ids: Vec<String> = page.list.iter().map(|r| r.biz_id.clone()).collect();
            (page.total_count, page.end_page, ids)
        }
    };
    // Newest first, paged.
    assert_eq!(
        listed(GiftQuery::Room(&live_id), 1, 3).await,
        (
            4,
            false,
            vec![biz_ids[3].clone(), biz_ids[2].clone(), biz_ids[1].clone()]
        )
    );
    assert_eq!(
        listed(GiftQuery::Room(&live_id), 2, 3).await,
        (4, true, vec![biz_ids[0].clone()])
    );
    assert_eq!(
        listed(GiftQuery::Anchor("ann"), 1, 10).await,
        (1, true, vec![biz_ids[4].clone()])
    );
    assert_eq!(listed(GiftQuery::Sender("vic"), 1, 10).await.0, 4);
    assert_eq!(
        listed(GiftQuery::Sender("nobody"), 1, 10).await,
        (0, true, vec![])
    );
    // Paid only: 2×10 + 2×20.
    let totals = store.gift_totals(&live_id).await.unwrap();
    assert_eq!((totals.paid_count, totals.paid_total), (2, 60));
    let none = store.gift_totals("no-such-room").await.unwrap();
    assert_eq!((none.paid_count, none.paid_total), (0, 0));
    let error = store
        .list_gift_records(GiftQuery::Room(&live_id), page(0, 10))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid");
}

// ---- Payments against a real payment service ----

/// The store on the real clock (payments wait in real time).
async fn real_clock_store(db: &TestDb) -> Store {
    Store::open(&db.url)
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", db.url))
}

fn payments(store: &Store, url: &str, timeout_ms: u64) -> Payments {
    let mut config = PaymentConfig::parse(url, SECRET).unwrap();
    config.timeout = Duration::from_millis(timeout_ms);
    config.retry = Backoff {
        first: Duration::from_millis(100),
        max: Duration::from_secs(1),
    };
    Payments::new(store.clone(), config).unwrap()
}

fn biz_id_of(request: &Received) -> String {
    request.json()["biz_id"].as_str().unwrap_or("").to_owned()
}

fn refuse() -> Reply {
    Reply::status(200, r#"{"code":400001,"message":"insufficient balance"}"#)
}

fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Polls the reconciler until `biz_id` settles; fails the test after a few seconds.
async fn reconcile_until_settled(
    payments: &Payments,
    store: &Store,
    biz_id: &str,
) -> Vec<GiftRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    let mut settled = Vec::new();
    loop {
        settled.extend(payments.reconcile().await.unwrap());
        let row = store.gift_record(biz_id).await.unwrap().unwrap();
        if row.status.is_settled() {
            return settled;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not settled: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `retry` again: it answers `status`, settled before, without calling the payment
/// service.
async fn retried_without_a_call(
    payments: &Payments,
    receiver: &Receiver,
    retry: &NewGiftRecord,
    status: GiftStatus,
) {
    let calls = receiver.received().len();
    let again = payments.send(retry).await.unwrap();
    assert_eq!((again.record.status, again.settled_here), (status, false));
    assert_eq!(
        receiver.received().len(),
        calls,
        "a settled send was paid again"
    );
}

async fn payment_paid_refused_and_signed(db: TestDb) {
    let receiver = Receiver::start(script(|r| {
        if r.json()["user_id"] == "ann" {
            refuse()
        } else {
            Reply::status(200, r#"{"code":0,"data":{"status":1}}"#)
        }
    }))
    .await;
    let store = real_clock_store(&db).await;
    let live_id = room(&store).await;
    let payments = payments(&store, &receiver.url, 2000);

    let sent = payments
        .send(&send(&live_id, "vic", "p-1", 3, 10))
        .await
        .unwrap();
    assert!(sent.settled_here);
    assert_eq!(sent.record.status, GiftStatus::Paid);
    assert_eq!(sent.unsettled_because, None);
    let calls = receiver.received();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].json(),
        json!({
            "biz_id": sent.record.biz_id, "user_id": "vic", "live_id": live_id,
            "anchor_id": "anchor", "gift_id": 7, "amount": 3, "unit_price": 10, "total": 30,
        })
    );
    assert_eq!(calls[0].header("content-type"), "application/json");
    let signature = calls[0].header(SIGNATURE_HEADER);
    let verified = verify_webhook(
        SECRET.as_bytes(),
        signature,
        &calls[0].body,
        unix_seconds(),
        300,
    );
    assert_eq!(verified, Ok(()), "{signature}");

    // A retry of a paid send: the same row, no second call.
    let again = payments
        .send(&send(&live_id, "vic", "p-1", 3, 10))
        .await
        .unwrap();
    assert!(!again.settled_here);
    assert_eq!(again.record, sent.record);
    assert_eq!(receiver.received().len(), 1);

    // Refused: failed with the payer's code and message, kept for retries.
    let refused = payments
        .send(&send(&live_id, "ann", "p-2", 1, 10))
        .await
        .unwrap();
    assert!(refused.settled_here);
    assert_eq!(refused.record.status, GiftStatus::Failed);
    assert_eq!(refused.record.biz_code, Some(400001));
    assert_eq!(
        refused.record.biz_message.as_deref(),
        Some("insufficient balance")
    );
    let retry = send(&live_id, "ann", "p-2", 1, 10);
    retried_without_a_call(&payments, &receiver, &retry, GiftStatus::Failed).await;
}

async fn concurrent_retries_are_charged_once(db: TestDb) {
    // A slow payment service: retries arrive while the first call is under way.
    let receiver = Receiver::start(script(|_| Reply::ok().after(Duration::from_millis(300)))).await;
    let store = real_clock_store(&db).await;
    let live_id = room(&store).await;
    let payments = payments(&store, &receiver.url, 2000);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (payments, live_id) = (payments.clone(), live_id.clone());
        tasks.push(tokio::spawn(async move {
            payments
                .send(&send(&live_id, "vic", "c-1", 1, 10))
                .await
                .unwrap()
        }));
    }
    let mut settlers = 0;
    let mut biz_ids = HashSet::new();
    for task in tasks {
        let sent = task.await.unwrap();
        assert_eq!(sent.record.status, GiftStatus::Paid, "{sent:?}");
        settlers += usize::from(sent.settled_here);
        biz_ids.insert(sent.record.biz_id);
    }
    assert_eq!((settlers, biz_ids.len()), (1, 1));
    assert_eq!(receiver.received().len(), 1, "one call for six sends");
    let rows = store
        .list_gift_records(GiftQuery::Sender("vic"), page(1, 10))
        .await
        .unwrap();
    assert_eq!(rows.total_count, 1);
}

async fn unclear_payments_are_reconciled_with_the_same_biz_id(db: TestDb) {
    // First call: answered after the timeout; second: a 502; then paid. (The receiver counts
    // requests per event id; payment calls carry none, so `nth` counts every call, all of
    // which are for the one send here.)
    let receiver = Receiver::start(script(|r| match r.nth {
        0 => Reply::ok().after(Duration::from_millis(800)),
        1 => Reply::status(502, "bad gateway"),
        _ => Reply::ok(),
    }))
    .await;
    let store = real_clock_store(&db).await;
    let live_id = room(&store).await;
    let payments = payments(&store, &receiver.url, 300);

    let sent = payments
        .send(&send(&live_id, "vic", "u-1", 2, 10))
        .await
        .unwrap();
    assert_eq!(sent.record.status, GiftStatus::Unknown);
    assert!(!sent.settled_here);
    let because = sent.unsettled_because.unwrap_or_default();
    assert!(because.contains("no answer within 300 ms"), "{because}");

    let settled = reconcile_until_settled(&payments, &store, &sent.record.biz_id).await;
    assert_eq!(settled.len(), 1, "settled once: {settled:?}");
    assert_eq!(settled[0].status, GiftStatus::Paid);
    assert_eq!(settled[0].attempts, 3);
    let asked: Vec<String> = receiver.received().iter().map(biz_id_of).collect();
    assert_eq!(asked, vec![sent.record.biz_id.clone(); 3]);
    // Nothing left to do, and a retry of the send answers paid without a call.
    assert!(payments.reconcile().await.unwrap().is_empty());
    let retry = send(&live_id, "vic", "u-1", 2, 10);
    retried_without_a_call(&payments, &receiver, &retry, GiftStatus::Paid).await;
}

async fn a_row_left_by_a_dead_node_is_reconciled(db: TestDb) {
    let receiver = Receiver::start(script(|_| Reply::ok())).await;
    let store = real_clock_store(&db).await;
    let live_id = room(&store).await;
    let payments = payments(&store, &receiver.url, 200);
    // Written as a send writes it, and the node gone before it called.
    let lease = Duration::from_millis(200) + Duration::from_secs(1);
    let orphan = created(
        store
            .open_gift_record(&send(&live_id, "vic", "d-1", 1, 10), lease)
            .await
            .unwrap(),
    );
    // Not before its lease ends: the call might still be under way.
    assert!(payments.reconcile().await.unwrap().is_empty());
    assert!(receiver.received().is_empty());
    let settled = reconcile_until_settled(&payments, &store, &orphan.biz_id).await;
    assert_eq!(settled.len(), 1);
    assert_eq!(settled[0].status, GiftStatus::Paid);
    let asked: Vec<String> = receiver.received().iter().map(biz_id_of).collect();
    assert_eq!(asked, std::slice::from_ref(&orphan.biz_id));
}

async fn the_apps_confirmation_wins_over_a_late_answer(db: TestDb) {
    let receiver =
        Arc::new(Receiver::start(script(|_| refuse().after(Duration::from_millis(400)))).await);
    let store = real_clock_store(&db).await;
    let live_id = room(&store).await;
    let payments = payments(&store, &receiver.url, 2000);
    let call = {
        let (payments, live_id) = (payments.clone(), live_id.clone());
        tokio::spawn(async move { payments.send(&send(&live_id, "vic", "a-1", 1, 10)).await })
    };
    receiver
        .wait_until("the payment call", |log| !log.is_empty())
        .await;
    let biz_id = biz_id_of(&receiver.received()[0]);
    let confirmed = store.settle_gift(&biz_id, &paid()).await.unwrap();
    assert!(confirmed.is_some(), "the app's confirmation applies first");
    let sent = call.await.unwrap().unwrap();
    assert!(!sent.settled_here, "the late refusal did not apply");
    assert_eq!(sent.record.status, GiftStatus::Paid);
    assert_eq!(sent.record.biz_code, None);
}
