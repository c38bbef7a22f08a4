//! Gifts on a real cloud, on SQLite and on PostgreSQL, paid through a real HTTP payment service
//! the test runs ([`PaymentService`]): a send retried (even at once) is charged once; a call
//! that times out is settled by the reconciler with the same `biz_id` and announced once; a
//! cloud killed mid-payment settles it after a restart without a second `biz_id`; a refusal
//! reaches the sender with the payer's code and message; the price is the catalogue's.

use crate::logs;
use crate::rooms::{start, RoomsCluster};
use e2e_tests::rooms::{unix_s, Answer, Db, PayMode, PaymentService, RoomsApi};
use e2e_tests::util::poll_until;
use e2e_tests::Cloud;
use serde_json::{json, Value};
use std::time::Duration;

const SECRET: &str = "e2e-gift-secret-0123456789";
const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);

on_both_databases! {
    retries_are_charged_once => retries_are_charged_once_on_sqlite, retries_are_charged_once_on_postgres;
    a_timeout_is_reconciled_and_announced_once => a_timeout_is_reconciled_on_sqlite, a_timeout_is_reconciled_on_postgres;
    a_kill_mid_payment_is_settled_after_a_restart => a_kill_mid_payment_on_sqlite, a_kill_mid_payment_on_postgres;
    a_refusal_reaches_the_sender_and_the_app_can_confirm => a_refusal_on_sqlite, a_refusal_on_postgres;
    the_catalogue_prices_and_the_room_must_be_live_and_joined => sending_rules_on_sqlite, sending_rules_on_postgres;
    gifts_likes_and_counts_stream_in_order => events_in_order_on_sqlite, events_in_order_on_postgres;
}

/// A live room of `anna` that `vic` has joined, a catalogue (gift 1 "rose" at 10, type 1;
/// gift 2 "wish" whose price the sender chooses, type 2), and the cloud paying through `pay`.
struct Scene {
    cluster: RoomsCluster,
    live_id: String,
    /// Tokens of the anchor and of the viewer in the room.
    anna: String,
    vic: String,
}

impl Scene {
    fn api(&self) -> RoomsApi {
        self.cluster.api
    }
}

fn scene(db: Db, label: &str, pay: &PaymentService, timeout_ms: u64) -> Option<Scene> {
    let addr = format!("gift_addr: \"{}\"", pay.url());
    let secret = format!("callback_secret: \"{SECRET}\"");
    let timeout = format!("gift_timeout_ms: {timeout_ms}");
    let lines = [
        addr.as_str(),
        secret.as_str(),
        timeout.as_str(),
        "gift_reconcile_s: 1",
        "gift_max_custom_amount: 1000",
    ];
    let cluster = start(db, &format!("{label}-{db:?}").to_lowercase(), &lines)?;
    let api = cluster.api;
    api.register("anna");
    api.register("vic");
    let room = api.create_room("anna", "gifts");
    let live_id = room["live_id"].as_str().unwrap_or_default().to_owned();
    api.server("POST", &format!("/server/live/{live_id}/start"), None)
        .ok("start the room");
    for gift in [
        json!({"gift_id": 1, "type": 1, "name": "rose", "amount": 10, "img": "https://cdn/rose.png"}),
        json!({"gift_id": 2, "type": 2, "name": "wish", "amount": 0, "order": 1}),
    ] {
        api.server("POST", "/server/gift/config", Some(&gift))
            .ok("a catalogue entry");
    }
    let (anna, vic) = (api.token("anna"), api.token("vic"));
    api.client(
        &vic,
        "POST",
        &format!("/client/live/room/user/{live_id}"),
        None,
    )
    .ok("vic joins");
    Some(Scene {
        cluster,
        live_id,
        anna,
        vic,
    })
}

fn send_body(live_id: &str, gift_id: i64, amount: i64, key: &str) -> Value {
    json!({"live_id": live_id, "gift_id": gift_id, "amount": amount, "client_biz_id": key})
}

fn send(api: RoomsApi, token: &str, body: &Value) -> Answer {
    api.client(token, "POST", "/client/gift/send", Some(body))
}

fn biz_id(data: &Value) -> String {
    data["biz_id"].as_str().unwrap_or_default().to_owned()
}

/// The ledger row `biz_id` once its status is `status`; fails the test after a while.
fn wait_status(scene: &Scene, biz_id: &str, status: &str) -> Value {
    let api = scene.api();
    let path = format!("/server/gift/{biz_id}");
    let found = poll_until(SETTLE_TIMEOUT, Duration::from_millis(100), || {
        let record = api.server("GET", &path, None).ok("read the gift");
        (record["status"] == status).then_some(record)
    });
    found.unwrap_or_else(|| {
        panic!(
            "gift {biz_id} never became {status}: {}\n{}",
            api.server("GET", &path, None).text,
            logs(&[&scene.cluster.cloud.proc])
        )
    })
}

/// The `gift` events the room's clients got (every kept event, read for `read_for`).
fn gift_events(scene: &Scene, read_for: Duration) -> Vec<Value> {
    scene
        .api()
        .room_events(&scene.vic, &scene.live_id, Some("0-0"), read_for)
        .into_iter()
        .filter(|(kind, _)| kind == "gift")
        .map(|(_, data)| data)
        .collect()
}

/// A client sending one gift four times at once, then again: one row, one charge.
fn retries_are_charged_once(db: Db) {
    let pay = PaymentService::start(PayMode::Slow(Duration::from_millis(300)));
    let Some(scene) = scene(db, "gifts-retry", &pay, 2000) else {
        return;
    };
    let (api, live_id) = (scene.api(), scene.live_id.as_str());
    let body = send_body(live_id, 1, 3, "tap-1");
    let answers: Vec<Answer> = std::thread::scope(|threads| {
        let sends: Vec<_> = (0..4)
            .map(|_| threads.spawn(|| send(api, &scene.vic, &body)))
            .collect();
        sends
            .into_iter()
            .map(|send| send.join().expect("a send"))
            .collect()
    });
    let paid: Vec<Value> = answers
        .into_iter()
        .map(|answer| answer.ok("a concurrent send"))
        .collect();
    let first = biz_id(&paid[0]);
    for data in &paid {
        assert_eq!(
            (biz_id(data), &data["status"]),
            (first.clone(), &json!("paid"))
        );
    }
    assert_eq!(pay.biz_ids(), std::slice::from_ref(&first));
    assert_eq!(pay.calls().len(), 1, "one call for four sends");

    // Later, once more: the same gift, no call.
    let again = send(api, &scene.vic, &body).ok("a later retry");
    assert_eq!(biz_id(&again), first);
    assert_eq!(pay.calls().len(), 1);
    let sent = api
        .client(&scene.vic, "GET", "/client/gift/list/user", None)
        .ok("vic's gifts");
    assert_eq!(sent["total_count"], 1, "{sent}");
    assert_eq!(
        (biz_id(&sent["list"][0]), &sent["list"][0]["total"]),
        (first.clone(), &json!(30))
    );
    // The room's statistics count the paid gift once.
    let stats = api
        .server("GET", &format!("/server/live/{live_id}/stats"), None)
        .ok("room statistics");
    assert_eq!(
        (&stats["gifts"], &stats["gift_revenue"]),
        (&json!(1), &json!(30)),
        "{stats}"
    );
    // A muted viewer cannot send gifts.
    api.server(
        "POST",
        &format!("/server/live/{live_id}/mute"),
        Some(&json!({"user_id": "vic", "duration_s": 60})),
    )
    .ok("mute vic");
    send(api, &scene.vic, &send_body(live_id, 1, 1, "muted-1")).expect_error(
        "a muted viewer's gift",
        403,
        606,
        "mute",
    );

    // The call: priced by the cloud, signed with the callback secret.
    let call = &pay.calls()[0];
    assert_eq!(
        call.body,
        json!({"biz_id": first, "user_id": "vic", "live_id": live_id, "anchor_id": "anna",
               "gift_id": 1, "amount": 3, "unit_price": 10, "total": 30})
    );
    relay_control::auth::verify_webhook(
        SECRET.as_bytes(),
        &call.signature,
        call.raw.as_bytes(),
        unix_s(),
        300,
    )
    .unwrap_or_else(|e| panic!("signature {:?}: {e}", call.signature));
}

/// The first call gets no answer in time: the gift is `unknown`, the reconciler asks again with
/// the same `biz_id`, it is paid and the room hears of it once.
fn a_timeout_is_reconciled_and_announced_once(db: Db) {
    let pay = PaymentService::start(PayMode::AnswerFrom {
        call: 2,
        hold: Duration::from_millis(1500),
    });
    let Some(scene) = scene(db, "gifts-timeout", &pay, 500) else {
        return;
    };
    let api = scene.api();
    let body = send_body(&scene.live_id, 1, 2, "slow-1");
    let unsettled = send(api, &scene.vic, &body);
    unsettled.expect_error(
        "a send whose payment timed out",
        202,
        200004,
        "no answer within 500 ms",
    );
    assert_eq!(unsettled.data()["status"], "unknown");
    let biz = biz_id(unsettled.data());

    let paid = wait_status(&scene, &biz, "paid");
    assert_eq!(paid["total"], 20);
    assert_eq!(
        pay.biz_ids(),
        std::slice::from_ref(&biz),
        "asked again with the same biz_id"
    );
    assert!(pay.calls().len() >= 2);

    // One gift event, keyed by the biz_id, however long the room is read.
    let announced = poll_until(Duration::from_secs(5), Duration::from_millis(100), || {
        let events = gift_events(&scene, Duration::from_millis(300));
        (!events.is_empty()).then_some(events)
    });
    let announced = announced.expect("a gift event");
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert_eq!(
        (
            &announced[0]["biz_id"],
            &announced[0]["user_id"],
            &announced[0]["total"]
        ),
        (&json!(biz), &json!("vic"), &json!(20))
    );
    // A retry answers paid without a call; the room's totals count it once.
    let calls = pay.calls().len();
    let again = send(api, &scene.vic, &body).ok("a retry after the reconciler");
    assert_eq!((biz_id(&again), pay.calls().len()), (biz.clone(), calls));
    let totals = api
        .server(
            "GET",
            &format!("/server/gift/total/live/{}", scene.live_id),
            None,
        )
        .ok("the room's totals");
    assert_eq!(
        (&totals["paid_count"], &totals["paid_total"]),
        (&json!(1), &json!(20))
    );
    assert_eq!(gift_events(&scene, Duration::from_millis(1500)).len(), 1);
}

/// The cloud is killed (SIGKILL) after writing the gift, while the payment service holds its
/// answer; restarted on the same data, it settles the gift, asking only with that biz_id.
fn a_kill_mid_payment_is_settled_after_a_restart(db: Db) {
    let pay = PaymentService::start(PayMode::AnswerFrom {
        call: 2,
        hold: Duration::from_secs(10),
    });
    let Some(mut scene) = scene(db, "gifts-kill", &pay, 1500) else {
        return;
    };
    let api = scene.api();
    let body = send_body(&scene.live_id, 1, 1, "kill-1");
    let sender = {
        let (vic, body) = (scene.vic.clone(), body.clone());
        std::thread::spawn(move || api.try_client(&vic, "POST", "/client/gift/send", Some(&body)))
    };
    let biz = poll_until(Duration::from_secs(5), Duration::from_millis(5), || {
        pay.calls().first().map(|call| call.biz_id.clone())
    })
    .expect("the payment call");
    scene.cluster.cloud.proc.kill();
    let cut = sender.join().expect("the sender thread");
    assert!(cut.is_err(), "the killed cloud answered: {cut:?}");

    let config = scene.cluster.cloud.config.clone();
    scene.cluster.cloud = Cloud::start_as(scene.cluster.dir.path(), "cloud-restarted", config);
    let paid = wait_status(&scene, &biz, "paid");
    assert_eq!(paid["attempts"], 2, "{paid}");
    assert_eq!(
        pay.biz_ids(),
        std::slice::from_ref(&biz),
        "never a second biz_id for the send"
    );
    let ledger = api
        .server("GET", "/server/gift/list/user/vic", None)
        .ok("vic's gifts");
    assert_eq!(ledger["total_count"], 1, "{ledger}");
    // The client retries its send after the restart: the same gift, nothing asked.
    let calls = pay.calls().len();
    let again = send(api, &scene.vic, &body).ok("the retry after the restart");
    assert_eq!((biz_id(&again), pay.calls().len()), (biz, calls));
}

/// The payer refuses: the sender sees its code and message. The app settles an unclear gift
/// itself with a confirmation.
fn a_refusal_reaches_the_sender_and_the_app_can_confirm(db: Db) {
    let pay = PaymentService::start(PayMode::Refuse {
        code: 400001,
        message: "insufficient balance".to_owned(),
    });
    let Some(scene) = scene(db, "gifts-refused", &pay, 500) else {
        return;
    };
    let api = scene.api();
    let body = send_body(&scene.live_id, 1, 1, "broke-1");
    for attempt in ["a refused send", "its retry"] {
        let refused = send(api, &scene.vic, &body);
        refused.expect_error(attempt, 402, 400001, "insufficient balance");
        assert_eq!(refused.data()["status"], "failed");
        assert_eq!(refused.data()["biz_code"], 400001);
    }
    assert_eq!(pay.calls().len(), 1, "the refusal is kept, not asked again");
    let refused_id = pay.biz_ids()[0].clone();
    let confirm = |biz: &str, status: &str| {
        api.server(
            "POST",
            &format!("/server/gift/{biz}/confirm"),
            Some(&json!({ "status": status })),
        )
    };
    confirm(&refused_id, "paid").expect_error("paying a refused gift", 409, 601, "already failed");
    confirm(&refused_id, "failed").ok("confirming what it is");
    confirm(&refused_id, "maybe").expect_error("a bad status", 400, 400, "paid or failed");
    confirm("no-such-gift", "paid").expect_error("an unknown gift", 404, 404, "not found");

    // The payment service stops answering in time; the app confirms the payment itself.
    pay.set_mode(PayMode::Slow(Duration::from_secs(3)));
    let pending = send(api, &scene.vic, &send_body(&scene.live_id, 1, 4, "later-1"));
    pending.expect_error("a send without an answer", 202, 200004, "not settled");
    let pending_id = biz_id(pending.data());
    let confirmed = confirm(&pending_id, "paid").ok("the app confirms");
    assert_eq!(
        (&confirmed["status"], &confirmed["total"]),
        (&json!("paid"), &json!(40))
    );
    let announced = poll_until(Duration::from_secs(5), Duration::from_millis(100), || {
        let events = gift_events(&scene, Duration::from_millis(300));
        (!events.is_empty()).then_some(events)
    })
    .expect("a gift event");
    let ids: Vec<&Value> = announced.iter().map(|event| &event["biz_id"]).collect();
    assert_eq!(ids, [&json!(pending_id)], "only the paid gift is announced");
    // The reconciler's later answer does not change a confirmed gift.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        wait_status(&scene, &pending_id, "paid")["settled_at"],
        confirmed["settled_at"]
    );
}

/// The catalogue through every group; the price is the catalogue's; the room must be live and
/// the sender in it; gifts are refused while gift_addr is empty.
fn the_catalogue_prices_and_the_room_must_be_live_and_joined(db: Db) {
    let pay = PaymentService::start(PayMode::Pay);
    let Some(scene) = scene(db, "gifts-rules", &pay, 2000) else {
        return;
    };
    let (api, live_id) = (scene.api(), scene.live_id.as_str());
    let ids = |list: &Value| -> Vec<i64> {
        list.as_array()
            .map(|gifts| gifts.iter().filter_map(|g| g["gift_id"].as_i64()).collect())
            .unwrap_or_default()
    };
    // The catalogue, as apps, the server and operators see it.
    let all = api
        .client(&scene.vic, "GET", "/client/gift/config", None)
        .ok("the catalogue");
    assert_eq!(ids(&all), [1, 2]);
    assert_eq!(
        (&all[0]["type"], &all[0]["img"]),
        (&json!(1), &json!("https://cdn/rose.png"))
    );
    let wishes = api
        .client(&scene.vic, "GET", "/client/gift/config/2", None)
        .ok("type 2");
    assert_eq!(ids(&wishes), [2]);
    api.client(&scene.vic, "GET", "/client/gift/config/x", None)
        .expect_error("a type that is not a number", 400, 400, "type");
    let dearer = json!({"gift_id": 1, "type": 1, "name": "rose", "amount": 12});
    api.server("POST", "/server/gift/config", Some(&dearer))
        .ok("a new price");
    let roses = api
        .server("GET", "/server/gift/config?type=1", None)
        .ok("type 1");
    assert_eq!(roses[0]["amount"], 12);
    let admin = api
        .server("GET", "/server/auth/admin/token?user_id=ops", None)
        .ok("an admin token")["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let star = json!({"gift_id": 3, "name": "star", "amount": 5});
    api.client(&admin, "POST", "/admin/gift/config", Some(&star))
        .ok("an operator adds a gift");
    assert_eq!(
        ids(&api
            .client(&admin, "GET", "/admin/gift/config", None)
            .ok("all")),
        [3, 1, 2]
    );
    api.client(&admin, "DELETE", "/admin/gift/config/3", None)
        .ok("an operator removes it");
    api.client(&admin, "DELETE", "/admin/gift/config/3", None)
        .expect_error("removed twice", 404, 404, "not found");
    api.client(&scene.vic, "GET", "/admin/gift/config", None)
        .expect_error("a client token on /admin", 403, 403, "admin");
    api.server("DELETE", "/server/gift/config/2", None)
        .ok("the server removes a gift");
    api.server(
        "POST",
        "/server/gift/config",
        Some(&json!({"gift_id": 2, "type": 2, "name": "wish", "amount": 0})),
    )
    .ok("and puts it back");

    // The price is the catalogue's: a body naming one is refused.
    for field in ["total", "unit_price", "price"] {
        let mut body = send_body(live_id, 1, 2, &format!("priced-{field}"));
        body[field] = json!(1);
        send(api, &scene.vic, &body).expect_error(field, 400, 400, field);
    }
    let paid = send(api, &scene.vic, &send_body(live_id, 1, 2, "rose-2")).ok("two roses");
    assert_eq!(
        (&paid["unit_price"], &paid["total"]),
        (&json!(12), &json!(24))
    );
    assert_eq!(
        pay.calls().last().map(|c| c.body["total"].clone()),
        Some(json!(24))
    );
    // A custom-amount gift takes the sender's price within the bound; others refuse one.
    let wish = |key: &str, custom: Option<i64>| {
        let mut body = send_body(live_id, 2, 2, key);
        if let Some(unit) = custom {
            body["custom_amount"] = json!(unit);
        }
        send(api, &scene.vic, &body)
    };
    wish("wish-big", Some(1001)).expect_error(
        "above the bound",
        400,
        400,
        "gift_max_custom_amount",
    );
    wish("wish-none", None).expect_error("no custom_amount", 400, 400, "custom_amount");
    let custom = wish("wish-ok", Some(500)).ok("a wish of 500");
    assert_eq!(
        (&custom["unit_price"], &custom["total"]),
        (&json!(500), &json!(1000))
    );
    let mut fixed = send_body(live_id, 1, 1, "rose-custom");
    fixed["custom_amount"] = json!(1);
    send(api, &scene.vic, &fixed).expect_error("a price for a rose", 400, 400, "fixed price");
    send(api, &scene.vic, &send_body(live_id, 1, 0, "none"))
        .expect_error("zero", 400, 400, "amount");
    send(api, &scene.vic, &send_body(live_id, 99, 1, "ghost"))
        .expect_error("no gift", 404, 404, "gift 99");
    send(api, &scene.vic, &send_body(live_id, 2, 2, "rose-2")).expect_error(
        "a key used for another gift",
        409,
        600,
        "another gift",
    );

    // The room must be live, the sender in it.
    let ann = api.token("ann");
    send(api, &ann, &send_body(live_id, 1, 1, "ann-1")).expect_error(
        "a sender not in the room",
        403,
        403,
        "join",
    );
    let later = api.create_room("anna", "not yet");
    let later_id = later["live_id"].as_str().unwrap_or_default();
    api.client(
        &scene.vic,
        "POST",
        &format!("/client/live/room/user/{later_id}"),
        None,
    )
    .ok("vic joins the room not started");
    send(api, &scene.vic, &send_body(later_id, 1, 1, "early-1")).expect_error(
        "a room not live",
        409,
        601,
        "live",
    );
    assert_eq!(
        pay.calls().len(),
        2,
        "no refused send reached the payment service"
    );

    // The room's ledger is its anchor's; everyone has their own lists.
    api.client(
        &scene.vic,
        "GET",
        &format!("/client/gift/list/live/{live_id}"),
        None,
    )
    .expect_error("a viewer reading the room's gifts", 403, 403, "anchor");
    let room_gifts = api
        .client(
            &scene.anna,
            "GET",
            &format!("/client/gift/list/live/{live_id}"),
            None,
        )
        .ok("the anchor reads its room's gifts");
    assert_eq!(room_gifts["total_count"], 2);
    let received = api
        .client(&scene.anna, "GET", "/client/gift/list/anchor", None)
        .ok("received");
    assert_eq!(received["total_count"], 2);
    let by_server = api
        .server("GET", "/server/gift/list/anchor/anna?page_size=1", None)
        .ok("paged");
    assert_eq!(
        (&by_server["total_count"], &by_server["page_total"]),
        (&json!(2), &json!(2))
    );

    let document = api.openapi();
    for path in [
        "/client/gift/send",
        "/server/gift/{biz_id}/confirm",
        "/admin/gift/config",
        "/client/gift/list/{by}",
        "/server/gift/list/{by}/{id}",
    ] {
        assert!(document["paths"][path].is_object(), "OpenAPI lacks {path}");
    }

    // Without gift_addr nothing is sent (the database plays no part: SQLite only).
    if db == Db::Sqlite {
        let off = start(db, "gifts-off-sqlite", &[]).expect("a cloud without gift_addr");
        off.api.register("anna");
        let token = off.api.token("anna");
        send(off.api, &token, &send_body("any", 1, 1, "k")).expect_error(
            "gifts without gift_addr",
            503,
            503,
            "gift_addr",
        );
    }
}

/// A room's clients see its gift, like and count events in order on one stream, and a client
/// resuming with `Last-Event-ID` gets the events after it: none missing, none repeated.
fn gifts_likes_and_counts_stream_in_order(db: Db) {
    let pay = PaymentService::start(PayMode::Pay);
    let Some(scene) = scene(db, "gifts-sse", &pay, 2000) else {
        return;
    };
    let (api, live_id) = (scene.api(), scene.live_id.as_str());
    let stream = e2e_tests::rooms::EventStream::open(
        api.addr,
        &scene.anna,
        live_id,
        Duration::from_secs(10),
    );
    assert_eq!(stream.wait_answered(Duration::from_secs(5)), 200);
    let like_path = format!("/client/live/room/{live_id}/like");
    api.client(&scene.vic, "PUT", &like_path, Some(&json!({"count": 2})))
        .ok("like");
    let first = biz_id(&send(api, &scene.vic, &send_body(live_id, 1, 2, "sse-1")).ok("a gift"));
    let seen_gift = stream.wait_for("gift", Duration::from_secs(5), |d| {
        d["biz_id"] == first.as_str()
    });
    let seen_like = stream.wait_for("like", Duration::from_secs(5), |d| d["total"] == 2);
    assert!(
        seen_gift.is_some() && seen_like.is_some(),
        "{:?}",
        stream.events()
    );
    let before = stream.events();
    assert!(
        before.iter().any(|e| e.kind == "counts"),
        "no counts event: {before:?}"
    );
    let seqs: Vec<u64> = before
        .iter()
        .filter_map(|e| e.id.rsplit('-').next()?.parse().ok())
        .collect();
    assert!(
        seqs.len() == before.len() && seqs.windows(2).all(|w| w[0] < w[1]),
        "events without ids or out of order: {before:?}"
    );
    let last = before.last().map(|e| e.id.clone()).unwrap_or_default();
    drop(stream);

    // Away: another gift and more likes; back with Last-Event-ID.
    let second = biz_id(&send(api, &scene.vic, &send_body(live_id, 1, 1, "sse-2")).ok("a gift"));
    api.client(&scene.vic, "PUT", &like_path, Some(&json!({"count": 3})))
        .ok("like");
    let resumed = e2e_tests::rooms::EventStream::open_after(
        api.addr,
        &scene.anna,
        live_id,
        Some(&last),
        Duration::from_secs(10),
    );
    let got_like = resumed.wait_for("like", Duration::from_secs(5), |d| d["total"] == 5);
    assert!(got_like.is_some(), "{:?}", resumed.events());
    let after = resumed.events();
    let gifts: Vec<&str> = after
        .iter()
        .filter(|e| e.kind == "gift")
        .filter_map(|e| e.data["biz_id"].as_str())
        .collect();
    assert_eq!(
        gifts,
        [second.as_str()],
        "exactly the gift sent while away: {after:?}"
    );
    assert!(
        after
            .iter()
            .all(|e| !before.iter().any(|b| b.id == e.id) && e.kind != "reset"),
        "repeated events or a reset: {after:?}"
    );
}
