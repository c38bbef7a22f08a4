//! Webhook dead letters on a real cloud, on SQLite and on PostgreSQL: an event the receiver
//! keeps refusing is given up on after `callback_dead_after_s`, listed by
//! `GET /admin/webhook/dead`, counted in `/metrics`, and sent again by
//! `POST /admin/webhook/dead/{id}/retry` once the receiver is back.

use crate::rooms::start;
use e2e_tests::prometheus::scrape;
use e2e_tests::rooms::{Db, WebhookReceiver};
use e2e_tests::util::poll_until;
use serde_json::Value;
use std::time::Duration;

fn dead_letters_are_listed_and_retried(db: Db) {
    let receiver = WebhookReceiver::start();
    receiver.set_failing(true);
    let callback = format!("callback_addr: \"{}\"", receiver.url());
    let lines = [
        callback.as_str(),
        "callback_secret: \"e2e-callback-secret-0123\"",
        "callback_retry_s: 1",
        "callback_dead_after_s: 2",
    ];
    let label = format!("dead-letters-{db:?}").to_lowercase();
    let Some(cluster) = start(db, &label, &lines) else {
        return;
    };
    let api = cluster.api;
    api.register("anchor");
    let room = api.create_room("anchor", "dead");
    let live_id = room["live_id"].as_str().unwrap_or_default().to_owned();
    let admin = api
        .server("GET", "/server/auth/admin/token?user_id=ops", None)
        .ok("an admin token");
    let admin = admin["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let list =
        |query: &str| api.client(&admin, "GET", &format!("/admin/webhook/dead{query}"), None);
    let dead = poll_until(Duration::from_secs(20), Duration::from_millis(200), || {
        let page = list("").ok("list the dead letters");
        (page["total_count"] == 1).then_some(page)
    })
    .unwrap_or_else(|| panic!("no dead letter: {}", list("").text));
    let letter = &dead["list"][0];
    assert_eq!(letter["type"], "live_created");
    assert_eq!(letter["live_id"], Value::from(live_id.as_str()));
    let id = letter["id"].as_str().unwrap_or_default().to_owned();
    let attempts = letter["attempts"].as_i64().unwrap_or(0);
    assert!(attempts >= 1, "{letter}");
    assert!(
        letter["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("HTTP 500")),
        "{letter}"
    );
    assert!(letter["dead_at"].as_i64() >= letter["created_at"].as_i64());
    let tried = receiver.deliveries().len();
    assert_eq!(
        usize::try_from(attempts).unwrap_or(0),
        tried,
        "every attempt reached it"
    );
    assert_eq!(
        scrape(api.addr).get("liverelay_cloud_webhooks_dead", &[]),
        Some(1.0)
    );
    list("?page_size=500").expect_error("a page too large", 400, 400, "page_size");
    let fan = api.token("anchor");
    api.client(&fan, "GET", "/admin/webhook/dead", None)
        .expect_error("a client token", 403, 403, "admin");

    let retry = |id: &str| {
        api.client(
            &admin,
            "POST",
            &format!("/admin/webhook/dead/{id}/retry"),
            None,
        )
    };
    retry("no-such-event").expect_error("an unknown event", 404, 404, "");
    receiver.set_failing(false);
    let retried = retry(&id).ok("retry the dead letter");
    assert_eq!(retried["id"], Value::from(id.as_str()));
    assert_eq!(
        (retried["attempts"].as_i64(), retried["dead_at"].as_i64()),
        (Some(0), None)
    );
    let delivered = poll_until(Duration::from_secs(20), Duration::from_millis(100), || {
        receiver
            .deliveries()
            .into_iter()
            .find(|d| d.answered == 200 && d.json()["id"] == id.as_str())
    });
    assert!(delivered.is_some(), "the retried event was not delivered");
    retry(&id).expect_error("a delivered event", 409, 601, "not dead");
    assert_eq!(list("").ok("list again")["total_count"], 0);
    let gauge = poll_until(Duration::from_secs(10), Duration::from_millis(200), || {
        let dead = scrape(api.addr).get("liverelay_cloud_webhooks_dead", &[])?;
        (dead == 0.0).then_some(dead)
    });
    assert_eq!(gauge, Some(0.0));
}

on_both_databases! {
    dead_letters_are_listed_and_retried => dead_letters_on_sqlite, dead_letters_on_postgres;
}
