//! Config handling and shutdown, from the contract: unknown keys are refused naming the key,
//! a missing file is written with defaults and fresh secrets, the shipped placeholder secrets
//! never listen beyond loopback, SIGTERM/SIGINT shut down gracefully.

use crate::{expect_attached, start_capture};
use e2e_tests::cluster::{bearer, Pair};
use e2e_tests::http;
use e2e_tests::process::Proc;
use e2e_tests::util::{free_port, loopback, poll_until, relay_bin, tcp_answers};
use e2e_tests::{Media, Publisher, TestDir};
use std::process::Command;
use std::time::Duration;

pub(crate) fn run_with_config(dir: &TestDir, bin: &str, label: &str, yaml: &str) -> Proc {
    let path = dir.join(&format!("{label}.yaml"));
    std::fs::write(&path, yaml).expect("write config");
    let mut cmd = Command::new(relay_bin(bin));
    cmd.arg("--config").arg(&path).current_dir(dir.path());
    // The config's log_level, whatever RUST_LOG says outside.
    cmd.env_remove("RUST_LOG");
    Proc::spawn(label, cmd, &dir.join(&format!("{label}.log")))
}

#[test]
fn unknown_keys_are_refused_naming_the_key() {
    let dir = TestDir::new("unknownkey");
    let cases = [
        (
            "cloud",
            format!(
                "cloud:\n  rtmp_addr: \"127.0.0.1:{}\"\n  api_addr: \"127.0.0.1:{}\"\n  rtmp_adr_typo: 1\nedge:\n  flv_addr: \":7001\"\n",
                free_port(),
                free_port()
            ),
            "rtmp_adr_typo",
        ),
        (
            "edge",
            format!(
                "cloud:\n  rtmp_addr: \":1935\"\nedge:\n  udp_addr: \":{}\"\n  flv_addr: \"127.0.0.1:{}\"\n  flv_adr_typo: 1\n",
                free_port(),
                free_port()
            ),
            "flv_adr_typo",
        ),
    ];
    for (bin, yaml, key) in cases {
        let mut p = run_with_config(&dir, bin, &format!("{bin}-unknown"), &yaml);
        let status = p.wait_exit(Duration::from_secs(10));
        assert!(!status.success(), "{bin} accepted the unknown key {key}");
        assert!(
            p.log().contains(key),
            "{bin}'s error does not name the key {key}:\n{}",
            p.log_tail(10)
        );
    }
}

/// The shipped placeholder secrets, which a fresh config must not hold.
const PLACEHOLDERS: [&str; 4] = [
    "dev-token-change-me",
    "dev-secret-key-change-me",
    "dev-jwt-key-change-me",
    "dev-api-token-change-me",
];

/// Starts a cloud on a missing config file in a directory of its own; returns the file's text
/// and what the cloud printed.
fn fresh_config(dir: &TestDir, label: &str) -> (String, String) {
    let path = dir.join(&format!("{label}.yaml"));
    let mut cmd = Command::new(relay_bin("cloud"));
    cmd.arg("-f").arg(&path).current_dir(dir.path());
    // It will try the default ports; whether it can bind them here does not matter.
    let mut p = Proc::spawn(label, cmd, &dir.join(&format!("{label}.log")));
    let written = poll_until(Duration::from_secs(10), Duration::from_millis(50), || {
        let text = std::fs::read_to_string(&path).ok()?;
        (text.contains("cloud:") && text.contains("edge:")).then_some(text)
    });
    // The announcement is printed right after the file is linked into place.
    std::thread::sleep(Duration::from_millis(200));
    p.kill();
    let text = written.unwrap_or_else(|| {
        panic!(
            "cloud did not write a default config to {}\n{}",
            path.display(),
            p.log_tail(20)
        )
    });
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{} holds secrets", path.display());
    }
    for bin in ["cloud", "edge"] {
        let output = Command::new(relay_bin(bin))
            .arg("-f")
            .arg(&path)
            .arg("--check-config")
            .output()
            .expect("run --check-config");
        assert!(
            output.status.success(),
            "{bin} refuses the config it wrote: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    (text, p.log())
}

/// `key: "value"` of a fresh file, within `section`, the first time it appears there.
fn value_in(text: &str, section: &str, key: &str) -> String {
    let mut current = "";
    for line in text.lines() {
        if !line.is_empty() && !line.starts_with([' ', '#']) {
            current = line.trim_end_matches(':');
        }
        let body = line.trim_start().trim_start_matches("- ");
        if current == section {
            if let Some(value) = body.strip_prefix(&format!("{key}: ")) {
                return value.trim_matches('"').to_owned();
            }
        }
    }
    panic!("no {section}.{key} in\n{text}")
}

/// The secrets of a fresh file, by name; the edge token and the API token appear in both
/// sections with the same value.
fn secrets_of(text: &str) -> Vec<(&'static str, String)> {
    let edge_list = text
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("edge_tokens:"))
        .nth(1)
        .map(|line| {
            line.trim()
                .trim_start_matches("- ")
                .trim_matches('"')
                .to_owned()
        })
        .unwrap_or_default();
    let secrets = vec![
        ("cloud.edge_tokens", edge_list),
        (
            "cloud.server_keys.secret_key",
            value_in(text, "cloud", "secret_key"),
        ),
        ("cloud.jwt_key", value_in(text, "cloud", "jwt_key")),
        ("cloud.publish_key", value_in(text, "cloud", "publish_key")),
        ("cloud.api_token", value_in(text, "cloud", "api_token")),
    ];
    assert_eq!(
        secrets[0].1,
        value_in(text, "edge", "edge_token"),
        "one edge token for both"
    );
    assert_eq!(
        secrets[4].1,
        value_in(text, "edge", "api_token"),
        "one API token for both"
    );
    secrets
}

#[test]
fn missing_config_file_is_written_with_defaults_and_fresh_secrets() {
    let dir = TestDir::new("missingcfg");
    let (first, printed) = fresh_config(&dir, "first");
    let (second, _) = fresh_config(&dir, "second");
    for key in [
        "rtmp_addr",
        "api_addr",
        "client_addr_list",
        "udp_addr",
        "flv_addr",
    ] {
        assert!(first.contains(key), "default config lacks {key}:\n{first}");
    }
    assert_eq!(
        value_in(&first, "cloud", "rtmp_addr"),
        ":1935",
        "every interface"
    );
    assert_eq!(
        value_in(&first, "edge", "flv_addr"),
        ":7001",
        "every interface"
    );
    for placeholder in PLACEHOLDERS {
        assert!(
            !first.contains(placeholder),
            "{placeholder} in the fresh config"
        );
    }
    let (a, b) = (secrets_of(&first), secrets_of(&second));
    for ((key, one), (_, other)) in a.iter().zip(&b) {
        assert!(
            one.len() == 32 && one.bytes().all(|c| c.is_ascii_alphanumeric()),
            "{key} {one:?} is not a fresh secret"
        );
        assert_ne!(one, other, "{key} is the same in two fresh configs");
        assert_eq!(
            printed.matches(one.as_str()).count(),
            1,
            "{key} is printed once:\n{printed}"
        );
    }
}

/// A cloud section listening on every interface with secrets of its own, `leave_out` left out
/// (so it takes its placeholder default).
fn open_cloud_yaml(dir: &TestDir, ports: [u16; 3], leave_out: &str) -> String {
    let mut yaml = format!(
        "cloud:\n  rtmp_addr: \"0.0.0.0:{}\"\n  api_addr: \"0.0.0.0:{}\"\n  quic_addr: \"0.0.0.0:{}\"\n  \
         quic_cert_file: \"{}\"\n  quic_key_file: \"{}\"\n  client_addr_list: [\"127.0.0.1:9\"]\n",
        ports[0],
        ports[1],
        ports[2],
        dir.join("cert.pem").display(),
        dir.join("key.pem").display(),
    );
    for (key, line) in [
        (
            "edge_tokens",
            "edge_tokens: [\"own-edge-token-0123456789\"]",
        ),
        (
            "server_keys",
            "server_keys: [{access_key: \"ak-own\", secret_key: \"own-secret-key-0123456789\"}]",
        ),
        ("jwt_key", "jwt_key: \"own-jwt-key-0123456789\""),
        ("api_token", "api_token: \"own-api-token-0123456789\""),
    ] {
        if key != leave_out {
            yaml += &format!("  {line}\n");
        }
    }
    yaml
}

/// Each placeholder secret on a node listening on 0.0.0.0 stops it at start (status 1, also
/// under `--check-config`) with an error naming the key; the same config with secrets of its
/// own starts, and then its reads are closed (`api_read_auth: auto` beyond loopback).
#[test]
fn placeholder_secrets_refuse_to_start_beyond_loopback() {
    let dir = TestDir::new("placeholders");
    let ports = [free_port(), free_port(), free_port()];
    let edge_yaml = |lines: &str| {
        format!(
            "edge:\n  udp_addr: \":{}\"\n  flv_addr: \"0.0.0.0:{}\"\n  cloud_quic_addr: \"127.0.0.1:{}\"\n  \
             cloud_cert_file: \"{}\"\n{lines}",
            free_port(),
            free_port(),
            ports[2],
            dir.join("cert.pem").display(),
        )
    };
    let mut cases: Vec<(&str, String, String)> =
        ["edge_tokens", "server_keys", "jwt_key", "api_token"]
            .into_iter()
            .map(|key| {
                (
                    "cloud",
                    open_cloud_yaml(&dir, ports, key),
                    format!("cloud.{key}"),
                )
            })
            .collect();
    cases.extend([
        ("edge", edge_yaml(""), "edge.edge_token".into()),
        (
            "edge",
            edge_yaml("  edge_token: \"own-edge-token-0123456789\"\n"),
            "edge.api_token".into(),
        ),
    ]);
    for (index, (bin, yaml, key)) in cases.iter().enumerate() {
        let label = format!("{bin}-placeholder-{index}");
        let mut node = run_with_config(&dir, bin, &label, yaml);
        let status = node.wait_exit(Duration::from_secs(10));
        let log = node.log();
        assert!(
            status.code() == Some(1)
                && log.contains(&format!("{key}: holds the shipped placeholder secret"))
                && log.contains("0.0.0.0:"),
            "{bin} with the placeholder of {key} on 0.0.0.0: {status}\n{log}"
        );
        let checked = Command::new(relay_bin(bin))
            .arg("-f")
            .arg(dir.join(&format!("{label}.yaml")))
            .arg("--check-config")
            .output()
            .expect("run --check-config");
        assert!(
            checked.status.code() == Some(1)
                && String::from_utf8_lossy(&checked.stderr).contains(key.as_str()),
            "{bin} --check-config passed the placeholder of {key}"
        );
    }

    // Secrets of its own: the cloud starts on every interface, and reads need credentials.
    // Fresh ports, tried again when another test's connection took one since it was picked.
    let (mut cloud, api) = (0..5)
        .find_map(|attempt| {
            let ports = [free_port(), free_port(), free_port()];
            let label = format!("cloud-own-{attempt}");
            let mut cloud =
                run_with_config(&dir, "cloud", &label, &open_cloud_yaml(&dir, ports, ""));
            let api = loopback(ports[1]);
            let up = poll_until(Duration::from_secs(20), Duration::from_millis(50), || {
                if !cloud.is_running() {
                    return Some(false);
                }
                tcp_answers(api).then_some(true)
            });
            match up {
                Some(true) => Some((cloud, api)),
                Some(false) if cloud.log().contains("Address already in use") => None,
                _ => panic!(
                    "the cloud did not start with secrets of its own\n{}",
                    cloud.log_tail(20)
                ),
            }
        })
        .expect("the cloud found free ports within five tries");
    let timeout = Duration::from_secs(10);
    let closed = http::request(api, "GET", "/stat/livestat", timeout).expect("livestat");
    assert_eq!(
        closed.status,
        401,
        "reads on 0.0.0.0 are closed by default: {}",
        closed.body_text()
    );
    let (name, value) = bearer("own-api-token-0123456789");
    let open = http::request_with_headers(api, "GET", "/stat/livestat", &[(name, &value)], timeout)
        .expect("livestat");
    assert_eq!(open.status, 200, "{}", open.body_text());
    let write = http::request(api, "POST", "/control/get?room=live/x", timeout).expect("control");
    assert_eq!(write.status, 401, "{}", write.body_text());
    cloud.signal("TERM");
    cloud.wait_exit(timeout);
}

/// SIGTERM to the cloud and SIGINT to the edge while a stream plays: both exit 0 promptly.
#[test]
fn signals_shut_down_gracefully() {
    let media = Media::standard();
    let dir = TestDir::new("signals");
    let mut pair = Pair::start(dir.path());
    let name = "signals";
    let mut capture = start_capture(&pair.edge, "player", name, media);
    let publisher = Publisher::start(&dir, "publisher", media, &pair.cloud.rtmp_url(name));
    expect_attached(
        &mut capture,
        &[&pair.cloud.proc, &pair.edge.proc, &publisher.proc],
    );
    std::thread::sleep(Duration::from_secs(1));
    // The edge first, while its player is attached and the publisher still streams: the
    // player's response must end cleanly (the last chunk, not a cut connection).
    for (proc, sig) in [(&mut pair.edge.proc, "TERM"), (&mut pair.cloud.proc, "INT")] {
        proc.signal(sig);
        let status = proc
            .wait_timeout(Duration::from_secs(10))
            .unwrap_or_else(|| {
                panic!(
                    "{} still running 10 s after SIG{sig}\n{}",
                    proc.name(),
                    proc.log_tail(20)
                )
            });
        assert!(
            status.success(),
            "{} exited with {status} after SIG{sig}\n{}",
            proc.name(),
            proc.log_tail(20)
        );
    }
    drop(publisher);
    let response = capture.finish().expect("the player's response");
    assert!(
        response.complete,
        "SIGTERM to the edge cut the player's response instead of ending it: {:?} after {} bytes",
        response.error,
        response.body.len()
    );
    assert!(
        !response.body.is_empty(),
        "the player got nothing before the shutdown"
    );
}

/// `--check-config` validates and exits without starting: 0 and "config OK" for a good file
/// (ports are taken here, so a node that started instead would fail or keep running), 1 and
/// the key for a bad one, and a missing file is an error rather than written.
#[test]
fn check_config_validates_without_starting() {
    let dir = TestDir::new("checkconfig");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let good = format!(
        "cloud:\n  rtmp_addr: \"127.0.0.1:{port}\"\n  api_addr: \"127.0.0.1:{port}\"\n  quic_addr: \"127.0.0.1:{port}\"\nedge:\n  flv_addr: \"127.0.0.1:{port}\"\n"
    );
    let bad = "cloud:\n  multicast_ttl: 0\nedge:\n  playout_deadline_ms: 1\n";
    for (bin, key) in [
        ("cloud", "cloud.multicast_ttl"),
        ("edge", "edge.playout_deadline_ms"),
    ] {
        for (label, yaml, ok) in [("good", good.as_str(), true), ("bad", bad, false)] {
            let path = dir.join(&format!("{bin}-{label}.yaml"));
            std::fs::write(&path, yaml).expect("write config");
            let output = Command::new(relay_bin(bin))
                .arg("-f")
                .arg(&path)
                .arg("--check-config")
                .current_dir(dir.path())
                .output()
                .expect("run");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert_eq!(
                output.status.success(),
                ok,
                "{bin} --check-config on the {label} file: {text}"
            );
            if ok {
                assert!(text.contains("config OK"), "{bin}: {text}");
            } else {
                assert!(text.contains(key), "{bin} does not name {key}: {text}");
            }
        }
        let missing = dir.join(&format!("{bin}-missing.yaml"));
        let output = Command::new(relay_bin(bin))
            .arg("-f")
            .arg(&missing)
            .arg("--check-config")
            .output()
            .expect("run");
        assert!(
            !output.status.success(),
            "{bin} --check-config accepted a missing file"
        );
        assert!(
            !missing.exists(),
            "{bin} --check-config wrote the missing file"
        );
    }
    drop(taken);
}

/// With `enable_log_file` a node logs to `log_file` (relative to its working directory) and
/// not to stderr, appending to what the file holds and rotating it by size; a `log_file` that
/// cannot be opened stops the node at start, naming the key.
#[test]
fn log_file_is_written_and_rotated() {
    let dir = TestDir::new("logfile");
    std::fs::create_dir(dir.join("logs")).expect("create logs/");
    // Whole lines just under the smallest log_max_bytes: the node's first lines rotate it.
    let earlier = "a line of an earlier run\n".repeat(65_536 / 25);
    std::fs::write(dir.join("logs/edge.log"), &earlier).expect("write the earlier log");
    let yaml = format!(
        "edge:\n  udp_addr: \":{}\"\n  flv_addr: \"127.0.0.1:{}\"\n  cloud_quic_addr: \"127.0.0.1:9\"\n  \
         enable_log_file: true\n  log_file: \"logs/edge.log\"\n  log_max_bytes: 65536\n  \
         log_max_files: 1\n",
        free_port(),
        free_port()
    );
    let mut edge = run_with_config(&dir, "edge", "edge-logfile", &yaml);
    let log = dir.join("logs/edge.log");
    let started = poll_until(Duration::from_secs(10), Duration::from_millis(50), || {
        edge.assert_running("while starting");
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains("edge started").then_some(text)
    });
    let text = started.unwrap_or_else(|| {
        panic!(
            "the edge logged no \"edge started\" to {}\n{}",
            log.display(),
            edge.log_tail(20)
        )
    });
    assert!(
        !text.contains("earlier run"),
        "the first lines did not rotate the full file: {text}"
    );
    let rotated = std::fs::read_to_string(dir.join("logs/edge.log.1")).unwrap_or_default();
    assert_eq!(rotated, earlier, "logs/edge.log.1 is not the earlier file");
    edge.signal("TERM");
    edge.wait_exit(Duration::from_secs(10));
    assert!(
        edge.log().is_empty(),
        "the edge wrote to stderr as well: {}",
        edge.log_tail(20)
    );
    for bin in ["cloud", "edge"] {
        let yaml = format!("{bin}:\n  enable_log_file: true\n  log_file: \"missing/{bin}.log\"\n");
        let mut node = run_with_config(&dir, bin, &format!("{bin}-nolog"), &yaml);
        let status = node.wait_exit(Duration::from_secs(10));
        let key = format!("{bin}.log_file");
        assert!(
            !status.success() && node.log().contains(&key),
            "{bin} with an unopenable log file: {status}, error not naming {key}:\n{}",
            node.log_tail(10)
        );
    }
}
