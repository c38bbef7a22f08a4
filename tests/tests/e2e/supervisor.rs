//! The shipped supervisord files under a real supervisord: `supervisor/supervisord.conf` with
//! `cloud.conf` and `edge.conf`, copied unchanged into a temporary tree laid out like the
//! repository (`supervisor/`, `target/release/{cloud,edge}`, `config.yaml`). The tree's root
//! has a space in its name, as a checkout's path may.
//!
//! supervisord is started in the foreground (`-n`) as a child of the test. A guard shuts it
//! down and kills whatever of the tree is still running, even when the test fails; should the
//! test binary itself be killed, supervisord gets SIGTERM and stops its programs.

use crate::{capture_timeout, expect_capture, LIVE_TIMEOUT};
use e2e_tests::checks::{check_packets_subsequence, check_play_headers, check_preamble, Join};
use e2e_tests::cluster::shared_config_yaml;
use e2e_tests::flv::{self, Tag};
use e2e_tests::http::{Capture, HttpResponse};
use e2e_tests::media::{check_decodes_clean, compare_tags, framemd5};
use e2e_tests::process::Proc;
use e2e_tests::util::{loopback, poll_until, relay_bin, tcp_answers};
use e2e_tests::{CloudConfig, Edge, EdgeConfig, Media, Publisher, TestDir};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// The files of the repository's `supervisor/` directory, copied byte for byte.
const SHIPPED: [&str; 3] = ["supervisord.conf", "cloud.conf", "edge.conf"];

/// How long supervisord may take to have a program RUNNING (its startsecs included).
const RUNNING_TIMEOUT: Duration = Duration::from_secs(20);

/// Bound for one supervisorctl command.
const CTL_TIMEOUT: Duration = Duration::from_secs(15);

/// Bound for `supervisorctl shutdown` to stop both programs and supervisord (the programs'
/// stopwaitsecs is 10).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);

/// The longest Unix socket path, and how much longer the name is that supervisord binds
/// first (".<pid>").
const SOCKET_PATH_MAX: usize = 107;
const SOCKET_TEMP_SUFFIX: usize = 8;

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// The repository's `supervisor/` directory.
fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../supervisor")
}

/// A temporary tree laid out like the repository, with the shipped supervisor files, the
/// binaries under test and a config file with free loopback ports for both nodes.
struct Tree {
    dir: TestDir,
    root: PathBuf,
    cloud: CloudConfig,
    edge: EdgeConfig,
}

impl Tree {
    fn build(label: &str) -> Tree {
        for tool in ["supervisord", "supervisorctl"] {
            assert!(
                on_path(tool),
                "{tool} is not on PATH: these tests run the shipped files under a real \
                 supervisord. scripts/test.sh installs it (Debian/Ubuntu package `supervisor`)"
            );
        }
        let dir = TestDir::new(label);
        let root = dir.join("liverelay checkout");
        let socket = root.join("supervisor.sock");
        let socket_len = socket.as_os_str().len();
        assert!(
            socket_len + SOCKET_TEMP_SUFFIX <= SOCKET_PATH_MAX,
            "the test tree's control socket {} is {socket_len} bytes, too long for a Unix \
             socket once supervisord adds \".<pid>\": set TMPDIR to a shorter directory",
            socket.display()
        );
        let supervisor = root.join("supervisor");
        let release = root.join("target/release");
        for made in [&supervisor, &release] {
            std::fs::create_dir_all(made)
                .unwrap_or_else(|e| panic!("create {}: {e}", made.display()));
        }
        for name in SHIPPED {
            let from = shipped_dir().join(name);
            std::fs::copy(&from, supervisor.join(name))
                .unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        }
        for bin in ["cloud", "edge"] {
            std::os::unix::fs::symlink(relay_bin(bin), release.join(bin))
                .unwrap_or_else(|e| panic!("link target/release/{bin}: {e}"));
        }
        // Relative certificate paths: they resolve in the programs' `directory=`, the root.
        let mut cloud = CloudConfig::new(Path::new(""), Vec::new());
        let edge = EdgeConfig::unicast(&cloud);
        cloud.client_addr_list.push(edge.unicast_target());
        let config = root.join("config.yaml");
        std::fs::write(&config, shared_config_yaml(&cloud, &edge))
            .unwrap_or_else(|e| panic!("write {}: {e}", config.display()));
        Tree {
            dir,
            root,
            cloud,
            edge,
        }
    }

    fn supervisor_dir(&self) -> PathBuf {
        self.root.join("supervisor")
    }

    /// The `stdout_logfile` a shipped program file sets, `%(here)s` expanded.
    fn stdout_logfile(&self, program: &str) -> PathBuf {
        let file = self.supervisor_dir().join(format!("{program}.conf"));
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        let value = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("stdout_logfile="))
            .unwrap_or_else(|| panic!("{} sets no stdout_logfile", file.display()));
        let here = self.supervisor_dir();
        PathBuf::from(value.trim().replace("%(here)s", &here.to_string_lossy()))
    }

    fn rtmp_url(&self, name: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{name}", self.cloud.rtmp_port)
    }

    fn flv_addr(&self) -> SocketAddr {
        loopback(self.edge.flv_port)
    }

    /// Every port the two nodes listen on.
    fn ports(&self) -> [SocketAddr; 3] {
        [
            loopback(self.cloud.rtmp_port),
            loopback(self.cloud.api_port),
            self.flv_addr(),
        ]
    }
}

/// Processes whose command line names `root`: supervisord (its `-c`) and the programs it runs
/// (their paths), and nothing else, so the tests' cleanup never touches other tests' nodes.
fn processes_of(root: &Path) -> Vec<(u32, String)> {
    let needle = root.to_string_lossy().into_owned();
    let own = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (pid != own && cmdline.contains(&needle)).then(|| (pid, cmdline.trim().to_owned()))
        })
        .collect()
}

fn kill_9(pid: u32) -> bool {
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// The last `n` lines of a file, framed for a failure message.
fn file_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("(unreadable: {e})"));
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(n)..].join("\n");
    format!("---- {} ----\n{tail}\n---- end ----", path.display())
}

/// One line of `supervisorctl status`: `NAME STATE pid PID, uptime ...` or `NAME STATE words`.
#[derive(Debug)]
struct ProgramStatus {
    state: String,
    pid: Option<u32>,
}

fn parse_status(text: &str) -> HashMap<String, ProgramStatus> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?.to_owned();
            let state = words.next()?.to_owned();
            let pid = match (words.next(), words.next()) {
                (Some("pid"), Some(pid)) => pid.trim_end_matches(',').parse().ok(),
                _ => None,
            };
            Some((name, ProgramStatus { state, pid }))
        })
        .collect()
}

/// supervisord running the tree's shipped `supervisord.conf`; shut down on drop.
struct Supervisord {
    proc: Proc,
    conf: PathBuf,
    root: PathBuf,
    /// Where each supervisorctl run writes its output.
    ctl_out: PathBuf,
    logs: Vec<PathBuf>,
}

impl Supervisord {
    fn start(tree: &Tree) -> Supervisord {
        let conf = tree.supervisor_dir().join("supervisord.conf");
        let mut cmd = Command::new("supervisord");
        cmd.arg("-n").arg("-c").arg(&conf);
        // The programs inherit supervisord's environment: keep their log level the config's.
        cmd.env_remove("RUST_LOG");
        let proc = Proc::spawn_dying_with(
            "supervisord",
            cmd,
            &tree.dir.join("supervisord.stdout"),
            libc::SIGTERM,
        );
        Supervisord {
            proc,
            conf,
            root: tree.root.clone(),
            ctl_out: tree.dir.join("supervisorctl.out"),
            logs: vec![tree.stdout_logfile("cloud"), tree.stdout_logfile("edge")],
        }
    }

    /// supervisorctl with the tree's configuration: its exit status and output, or why it
    /// did not finish.
    fn ctl(&self, args: &[&str]) -> Result<(ExitStatus, String), String> {
        let mut cmd = Command::new("supervisorctl");
        cmd.arg("-c").arg(&self.conf).args(args);
        let mut ctl = Proc::spawn("supervisorctl", cmd, &self.ctl_out);
        match ctl.wait_timeout(CTL_TIMEOUT) {
            Some(status) => Ok((status, ctl.log())),
            None => Err(format!(
                "supervisorctl {args:?} did not finish within {CTL_TIMEOUT:?}"
            )),
        }
    }

    fn status(&self) -> HashMap<String, ProgramStatus> {
        // Its exit status says whether every program runs; the lines say more.
        self.ctl(&["status"])
            .map(|(_, out)| parse_status(&out))
            .unwrap_or_default()
    }

    /// supervisord's log and the programs' stdout logs, for failure messages.
    fn logs(&self) -> String {
        let mut out = vec![self.proc.log_tail(30)];
        out.extend(self.logs.iter().map(|log| file_tail(log, 30)));
        out.join("\n")
    }

    /// Waits until `program` is RUNNING with a pid other than `not`; returns the pid.
    fn wait_running(&mut self, program: &str, not: Option<u32>) -> u32 {
        let mut last = String::new();
        let pid = poll_until(RUNNING_TIMEOUT, Duration::from_millis(200), || {
            self.proc.assert_running("while its programs start");
            let status = self.status();
            last = format!("{:?}", status.get(program));
            let found = status.get(program)?;
            (found.state == "RUNNING")
                .then_some(found.pid)
                .flatten()
                .filter(|pid| Some(*pid) != not)
        });
        pid.unwrap_or_else(|| {
            panic!(
                "{program} is not RUNNING{} within {RUNNING_TIMEOUT:?} (last status: {last})\n{}",
                not.map(|p| format!(" with a pid other than {p}"))
                    .unwrap_or_default(),
                self.logs()
            )
        })
    }

    /// Waits until both programs are RUNNING and every port answers; returns their pids.
    fn wait_up(&mut self, tree: &Tree) -> (u32, u32) {
        let cloud = self.wait_running("cloud", None);
        let edge = self.wait_running("edge", None);
        let ports = tree.ports();
        let up = poll_until(RUNNING_TIMEOUT, Duration::from_millis(50), || {
            self.proc.assert_running("while its programs start");
            ports.iter().all(|a| tcp_answers(*a)).then_some(())
        });
        if up.is_none() {
            panic!(
                "the nodes did not open {ports:?} within {RUNNING_TIMEOUT:?}\n{}",
                self.logs()
            );
        }
        (cloud, edge)
    }

    /// `supervisorctl pid PROGRAM`.
    fn pid(&self, program: &str) -> u32 {
        let out = self
            .ctl(&["pid", program])
            .unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
            .1;
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("supervisorctl pid {program} said {out:?}"))
    }

    /// `supervisorctl shutdown`, then waits for supervisord to exit and checks that nothing
    /// of the tree is left running.
    fn shutdown(&mut self) {
        let (status, out) = self
            .ctl(&["shutdown"])
            .unwrap_or_else(|e| panic!("{e}\n{}", self.logs()));
        assert!(status.success(), "supervisorctl shutdown: {status}: {out}");
        let exit = self.proc.wait_timeout(SHUTDOWN_TIMEOUT).unwrap_or_else(|| {
            panic!(
                "supervisord still running {SHUTDOWN_TIMEOUT:?} after shutdown\n{}",
                self.logs()
            )
        });
        assert!(
            exit.success(),
            "supervisord exited with {exit}\n{}",
            self.logs()
        );
        let left = processes_of(&self.root);
        assert!(
            left.is_empty(),
            "still running after supervisord shut down: {left:?}"
        );
    }
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        // Nothing here may panic: this also runs while a failed test unwinds. SIGTERM makes
        // supervisord shut down as `supervisorctl shutdown` does, stopping its programs first.
        if self.proc.is_running() {
            self.proc.signal("TERM");
            if self.proc.wait_timeout(SHUTDOWN_TIMEOUT).is_none() {
                self.proc.kill();
            }
        }
        for (pid, cmdline) in processes_of(&self.root) {
            eprintln!("supervisor test: killing {pid} left running: {cmdline}");
            kill_9(pid);
        }
    }
}

/// The checks for a player whose edge was killed under it: the response was cut, not ended;
/// before the cut it got the preamble and then the source's first frames byte for byte and in
/// order (at least `min_video` video frames); and those frames, as an FLV of whole tags, are
/// the source's packets to ffmpeg and decode clean. Returns the number of video frames.
fn check_cut_capture(
    media: &Media,
    resp: &HttpResponse,
    dir: &TestDir,
    label: &str,
    min_video: usize,
) -> Result<usize, String> {
    let ctx = |e: String| format!("player {label}: {e}");
    check_play_headers(resp).map_err(ctx)?;
    if resp.complete {
        return Err(ctx(
            "the response ended properly, though its edge was killed mid-stream".into(),
        ));
    }
    let got = flv::parse(&resp.body).map_err(|e| ctx(format!("malformed FLV: {e}")))?;
    check_preamble(media, &got).map_err(ctx)?;
    let video: Vec<&Tag> = got.media().filter(|t| t.is_video()).collect();
    let audio: Vec<&Tag> = got.media().filter(|t| t.is_audio()).collect();
    for (what, source, received) in [
        ("video", media.video_tags(), &video),
        ("audio", media.audio_tags(), &audio),
    ] {
        let start = source.get(..received.len()).ok_or_else(|| {
            ctx(format!(
                "{} {what} frames received, the source has {}",
                received.len(),
                source.len()
            ))
        })?;
        compare_tags(&format!("{what} tags"), start, received).map_err(ctx)?;
    }
    if video.len() < min_video {
        return Err(ctx(format!(
            "{} video frames before the kill, expected at least {min_video}",
            video.len()
        )));
    }
    let path = dir.join(&format!("{label}.flv"));
    std::fs::write(&path, flv::write(&got.header, &got.tags)).map_err(|e| e.to_string())?;
    let md5 = framemd5(&path).map_err(ctx)?;
    check_packets_subsequence(media, &md5).map_err(ctx)?;
    check_decodes_clean(&path).map_err(ctx)?;
    Ok(video.len())
}

/// Under supervisord, the edge is killed (SIGKILL) while a player watches a stream; supervisord
/// starts it again (a new pid, RUNNING) and a new player gets the rest of the same stream from
/// a keyframe, packet for packet. The cloud is not disturbed.
#[test]
fn supervisord_restarts_a_killed_edge() {
    let started = Instant::now();
    let media = Media::standard();
    let tree = Tree::build("sup");
    let mut supervisord = Supervisord::start(&tree);
    let (cloud_pid, edge_pid) = supervisord.wait_up(&tree);
    let name = "supervised";
    let path = Edge::play_path(name);
    let mut first = Capture::start(
        "player-before",
        tree.flv_addr(),
        &path,
        LIVE_TIMEOUT,
        capture_timeout(media),
    );
    let mut publisher = Publisher::start(&tree.dir, "publisher", media, &tree.rtmp_url(name));
    let attached = first.wait_connected(LIVE_TIMEOUT).unwrap_or_else(|| {
        panic!(
            "the first player could not attach within {LIVE_TIMEOUT:?}\n{}\n{}",
            publisher.proc.log_tail(10),
            supervisord.logs()
        )
    });
    // About a second of the stream (before its second keyframe, at 2000 ms), then the kill.
    std::thread::sleep(
        (attached + Duration::from_millis(1200)).saturating_duration_since(Instant::now()),
    );
    assert_eq!(supervisord.pid("edge"), edge_pid);
    assert!(kill_9(edge_pid), "kill -9 {edge_pid} failed");
    let killed = Instant::now();
    let new_edge_pid = supervisord.wait_running("edge", Some(edge_pid));
    let restarted = killed.elapsed();
    let mut second = Capture::start(
        "player-after",
        tree.flv_addr(),
        &path,
        LIVE_TIMEOUT,
        capture_timeout(media),
    );
    if second.wait_connected(LIVE_TIMEOUT).is_none() {
        panic!(
            "no player could attach to the restarted edge within {LIVE_TIMEOUT:?}\n{}",
            supervisord.logs()
        );
    }
    let cut = first
        .finish()
        .unwrap_or_else(|e| panic!("first player: {e}\n{}", supervisord.logs()));
    let before = check_cut_capture(media, &cut, &tree.dir, "player-before", 15)
        .unwrap_or_else(|e| panic!("{e}\n{}", supervisord.logs()));
    if let Err(e) = publisher.finish() {
        panic!("{e}\n{}", supervisord.logs());
    }
    let after = expect_capture(second, media, &tree.dir, Join::Late, &[&supervisord.proc]);
    assert_eq!(
        supervisord.pid("cloud"),
        cloud_pid,
        "the cloud was restarted too\n{}",
        supervisord.logs()
    );
    let edge_log = tree.stdout_logfile("edge");
    let starts = std::fs::read_to_string(&edge_log)
        .unwrap_or_default()
        .matches("edge started")
        .count();
    assert_eq!(
        starts,
        2,
        "the edge's stdout_logfile should hold both runs\n{}",
        file_tail(&edge_log, 40)
    );
    supervisord.shutdown();
    eprintln!(
        "supervisor: edge {edge_pid} killed after {before} video frames, RUNNING again as \
         {new_edge_pid} {restarted:?} later; the new player got the stream from {} ms; {:?} \
         in all",
        after.first_video_ts,
        started.elapsed()
    );
}

/// Both program files start their node with its output in the program's `stdout_logfile`,
/// and supervisord's SIGTERM stops each one gracefully (it logs its shutdown, exit status 0).
#[test]
fn program_files_log_to_their_stdout_logfile() {
    let tree = Tree::build("suplog");
    let mut supervisord = Supervisord::start(&tree);
    supervisord.wait_up(&tree);
    for program in ["cloud", "edge"] {
        let log = tree.stdout_logfile(program);
        let needle = format!("{program} started");
        let logged = poll_until(Duration::from_secs(10), Duration::from_millis(50), || {
            let text = std::fs::read_to_string(&log).ok()?;
            text.contains(&needle).then_some(())
        });
        assert!(
            logged.is_some(),
            "{program}'s stdout_logfile has no {needle:?}\n{}",
            supervisord.logs()
        );
    }
    supervisord.shutdown();
    for program in ["cloud", "edge"] {
        let log = tree.stdout_logfile(program);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            text.contains("shutting down"),
            "{program} did not log a graceful shutdown\n{}",
            file_tail(&log, 20)
        );
        let stopped = format!("stopped: {program} (exit status 0)");
        assert!(
            supervisord.proc.log().contains(&stopped),
            "supervisord did not log {stopped:?}\n{}",
            supervisord.proc.log_tail(30)
        );
    }
}
