//! Child processes that write stdout+stderr to a log file and are killed on drop.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `cmd` with stdin closed and stdout+stderr appended to `log`.
    pub fn spawn(name: &str, cmd: Command, log: &Path) -> Proc {
        Proc::spawn_dying_with(name, cmd, log, libc::SIGKILL)
    }

    /// As [`Proc::spawn`], with the signal the child gets if the test's thread dies without
    /// cleaning up: SIGTERM for a process supervisor, so it can stop its own children first
    /// (they are not children of the test, so nothing else would end them).
    pub fn spawn_dying_with(
        name: &str,
        mut cmd: Command,
        log: &Path,
        death_signal: libc::c_int,
    ) -> Proc {
        let out = File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = out.try_clone().expect("clone log file handle");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        // If the test binary dies without running destructors (killed by a CI timeout), the
        // kernel signals its children too, so no cloud/edge/ffmpeg is left holding ports.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, death_signal) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name} ({cmd:?}): {e}"));
        Proc {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
            status: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has exited, without waiting.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_status() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `timeout`; panics (with the log tail) if the process is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        match self.wait_timeout(timeout) {
            Some(s) => s,
            None => panic!(
                "{} still running after {timeout:?}\n{}",
                self.name,
                self.log_tail(30)
            ),
        }
    }

    /// Sends a signal by name ("TERM", "INT", ...) with kill(1).
    pub fn signal(&mut self, sig: &str) {
        if self.is_running() {
            let _ = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(self.pid().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    pub fn kill(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn log(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The lines of the log that contain `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }

    /// The last `n` lines of the log, framed for a failure message.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let start = lines.len().saturating_sub(n);
        format!(
            "---- last {} lines of {} ({}) ----\n{}\n---- end of {} ----",
            lines.len() - start,
            self.name,
            self.log.display(),
            lines[start..].join("\n"),
            self.name
        )
    }

    /// Panics with the log tail if the process has exited.
    pub fn assert_running(&mut self, context: &str) {
        if let Some(s) = self.try_status() {
            panic!(
                "{} exited ({s}) {context}\n{}",
                self.name,
                self.log_tail(40)
            );
        }
    }
}

/// The value of `key=value` in a log line (tracing's default format), up to the next space.
pub fn log_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!(" {key}=");
    let start = line.find(&pat)? + pat.len();
    let rest = &line[start..];
    Some(rest.split(' ').next().unwrap_or(rest))
}

/// A numeric `key=value` field of a log line.
pub fn log_number(line: &str, key: &str) -> Option<f64> {
    log_field(line, key)?.parse().ok()
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
