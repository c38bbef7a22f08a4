//! End-to-end tests: the real `cloud` and `edge` binaries on loopback, ffmpeg as encoder and
//! player. One test binary, so the source media is generated once and the tests can run in
//! parallel threads (`cargo test -p e2e-tests -- --test-threads=2`).
//!
//! Every test starts its own cloud and edge(s) on free ports with its own config file, and
//! every wait is bounded.

/// For each `SCENARIO => SQLITE_NAME, POSTGRES_NAME;`, two tests running `SCENARIO(Db)` on a
/// SQLite file and in a PostgreSQL schema (`Db` must be in scope).
macro_rules! on_both_databases {
    ($($scenario:ident => $sqlite:ident, $postgres:ident;)*) => {$(
        #[test]
        fn $sqlite() {
            $scenario(Db::Sqlite);
        }

        #[test]
        fn $postgres() {
            $scenario(Db::Postgres);
        }
    )*};
}

mod api;
mod bad_input;
mod bounds;
mod browser;
mod chat;
mod cluster;
mod config;
mod control;
mod cors;
mod dead_letters;
mod events_ws;
mod faults;
mod forgery;
mod gifts;
mod harness;
mod hls;
mod identity;
mod multicast;
mod nack_budget;
mod pk;
mod play_auth;
mod players;
mod publish_auth;
mod recording;
mod resilience;
mod room_browser;
mod rooms;
mod supervisor;
mod tls;

use e2e_tests::checks::{check_capture, Join, Received};
use e2e_tests::http::Capture;
use e2e_tests::process::Proc;
use e2e_tests::{Cloud, Edge, Media, Publisher, TestDir};
use std::time::Duration;

/// How long an edge may take to serve a stream after the publisher starts.
pub const LIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Upper bound for a capture: the stream in real time plus generous slack.
pub fn capture_timeout(media: &Media) -> Duration {
    Duration::from_secs(media.seconds as u64 + 45)
}

/// How long a player may take to end after the publisher has finished.
pub const END_TIMEOUT: Duration = Duration::from_secs(20);

/// The log tails of some processes, for failure messages.
pub fn logs(procs: &[&Proc]) -> String {
    procs
        .iter()
        .map(|p| p.log_tail(40))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Starts a raw-capture player on `edge` that attaches as soon as `name` is live there.
pub fn start_capture(edge: &Edge, label: &str, name: &str, media: &Media) -> Capture {
    Capture::start(
        label,
        edge.flv_addr(),
        &Edge::play_path(name),
        LIVE_TIMEOUT,
        capture_timeout(media),
    )
}

/// Waits for a capture to attach; panics with the logs otherwise.
pub fn expect_attached(capture: &mut Capture, procs: &[&Proc]) {
    if capture.wait_connected(LIVE_TIMEOUT).is_none() {
        panic!(
            "player {} could not attach: the stream never answered 200 within {LIVE_TIMEOUT:?}\n{}",
            capture.label,
            logs(procs)
        );
    }
}

/// Finishes a capture and runs the full identity check on it.
pub fn expect_capture(
    capture: Capture,
    media: &Media,
    dir: &TestDir,
    join: Join,
    procs: &[&Proc],
) -> Received {
    let label = capture.label.clone();
    let resp = capture
        .finish()
        .unwrap_or_else(|e| panic!("player {label}: {e}\n{}", logs(procs)));
    check_capture(media, &resp, dir, &label, join)
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(procs)))
}

/// The basic scenario: a player attached from the start on `edge` receives `media`
/// published to `name` on `cloud`, packet for packet.
pub fn publish_and_check(
    dir: &TestDir,
    cloud: &mut Cloud,
    edge: &mut Edge,
    name: &str,
    media: &'static Media,
) -> Received {
    let mut capture = start_capture(edge, &format!("player-{name}"), name, media);
    let mut publisher = Publisher::start(
        dir,
        &format!("publisher-{name}"),
        media,
        &cloud.rtmp_url(name),
    );
    expect_attached(&mut capture, &[&cloud.proc, &edge.proc, &publisher.proc]);
    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", logs(&[&cloud.proc, &edge.proc]));
    }
    let r = expect_capture(capture, media, dir, Join::Start, &[&cloud.proc, &edge.proc]);
    cloud.proc.assert_running("after the stream");
    edge.proc.assert_running("after the stream");
    r
}
