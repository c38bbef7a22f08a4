//! Config handling and shutdown, from the contract: unknown keys are refused naming the key,
//! a missing file is written with defaults, SIGTERM/SIGINT shut down gracefully.

use crate::{expect_attached, start_capture};
use e2e_tests::cluster::Pair;
use e2e_tests::process::Proc;
use e2e_tests::util::{free_port, poll_until, relay_bin};
use e2e_tests::{Media, Publisher, TestDir};
use std::process::Command;
use std::time::Duration;

fn run_with_config(dir: &TestDir, bin: &str, label: &str, yaml: &str) -> Proc {
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

#[test]
fn missing_config_file_is_written_with_defaults() {
    let dir = TestDir::new("missingcfg");
    let path = dir.join("new-config.yaml");
    let mut cmd = Command::new(relay_bin("cloud"));
    cmd.arg("-f").arg(&path).current_dir(dir.path());
    // It will try the default ports; whether it can bind them here does not matter.
    let mut p = Proc::spawn("cloud-missing-config", cmd, &dir.join("cloud.log"));
    let written = poll_until(Duration::from_secs(10), Duration::from_millis(50), || {
        let text = std::fs::read_to_string(&path).ok()?;
        (text.contains("cloud:") && text.contains("edge:")).then_some(text)
    });
    p.kill();
    let text = written.unwrap_or_else(|| {
        panic!(
            "cloud did not write a default config to {}\n{}",
            path.display(),
            p.log_tail(20)
        )
    });
    for key in [
        "rtmp_addr",
        "api_addr",
        "client_addr_list",
        "udp_addr",
        "flv_addr",
    ] {
        assert!(text.contains(key), "default config lacks {key}:\n{text}");
    }
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
        "cloud:\n  rtmp_addr: \"127.0.0.1:{port}\"\n  api_addr: \"127.0.0.1:{port}\"\nedge:\n  flv_addr: \"127.0.0.1:{port}\"\n"
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
