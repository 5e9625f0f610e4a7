//! Running programs in tests, ripgrep style: a [`Ran`] is what one finished
//! run did (exit code, stdout, stderr) with assertions that show the output
//! when they fail; [`Run`] adds `ran()` to `std::process::Command`; [`sh`]
//! runs a script that must succeed; [`Proc`] is a background child killed
//! and reaped on drop; [`bin`] finds a binary of the workspace.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::wait::TICK;

/// Exit code and output of one finished run (code -1: killed by a signal
/// or by [`Run::ran_within`]).
#[derive(Debug)]
pub struct Ran {
    /// The exit code.
    pub code: i32,
    /// Standard output, lossily UTF-8.
    pub stdout: String,
    /// Standard error, lossily UTF-8.
    pub stderr: String,
}

impl Ran {
    /// Assert the exit code, showing the output if it differs.
    #[track_caller]
    pub fn expect(self, code: i32) -> Ran {
        assert_eq!(
            self.code, code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Assert nothing was printed, on either stream.
    #[track_caller]
    pub fn silent(self) -> Ran {
        assert_eq!(
            (self.stdout.as_str(), self.stderr.as_str()),
            ("", ""),
            "expected no output"
        );
        self
    }

    /// Assert stdout contains `what`, showing stdout if not.
    #[track_caller]
    pub fn stdout_has(&self, what: &str) -> &Ran {
        contains("stdout", &self.stdout, what);
        self
    }

    /// Assert stderr contains `what`, showing stderr if not.
    #[track_caller]
    pub fn stderr_has(&self, what: &str) -> &Ran {
        contains("stderr", &self.stderr, what);
        self
    }

    /// Assert stdout starts with `prefix`, showing stdout if not.
    #[track_caller]
    pub fn stdout_starts(&self, prefix: &str) -> &Ran {
        starts("stdout", &self.stdout, prefix);
        self
    }

    /// Assert stderr starts with `prefix`, showing stderr if not.
    #[track_caller]
    pub fn stderr_starts(&self, prefix: &str) -> &Ran {
        starts("stderr", &self.stderr, prefix);
        self
    }

    /// Assert exactly one line on stderr, containing `what`, and nothing on stdout.
    #[track_caller]
    pub fn one_error(self, what: &str) -> Ran {
        assert_eq!(self.stderr.lines().count(), 1, "one line: {}", self.stderr);
        assert!(self.stderr.contains(what), "'{what}' in: {}", self.stderr);
        assert!(self.stdout.is_empty(), "stdout: {}", self.stdout);
        self
    }
}

/// Assert `text` (the stream `name`) contains `what`, showing it if not.
#[track_caller]
fn contains(name: &str, text: &str, what: &str) {
    assert!(text.contains(what), "'{what}' not on {name}:\n{text}");
}

/// Assert `text` (the stream `name`) starts with `prefix`, showing it if not.
#[track_caller]
fn starts(name: &str, text: &str, prefix: &str) {
    assert!(
        text.starts_with(prefix),
        "{name} does not start with '{prefix}':\n{text}"
    );
}

impl From<Output> for Ran {
    fn from(out: Output) -> Ran {
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Running a `Command` to a [`Ran`], or in the background as a [`Proc`].
pub trait Run {
    /// Run to completion (stdin closed) and collect the output; panics if it cannot start.
    fn ran(&mut self) -> Ran;
    /// As [`Run::ran`], but killed after `limit` (code -1): for a program
    /// that should exit at once and must not hang the suite if it does not.
    fn ran_within(&mut self, limit: Duration) -> Ran;
    /// As [`Run::ran_within`], but a run still going after `limit` fails
    /// the test (showing what it printed): for a program that must never
    /// block, such as a reader facing a planted FIFO.
    fn ended_within(&mut self, limit: Duration) -> Ran;
    /// Start in the background, stdout and stderr to `log`, stdin closed.
    fn logged(&mut self, log: &Path) -> Proc;
    /// Start a server in the background with no standard streams (it
    /// logs to a file of its own); the caller tracks the child.
    fn quiet(&mut self) -> Child;
}

impl Run for Command {
    fn ran(&mut self) -> Ran {
        self.stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {:?}: {e}", self.get_program()))
            .into()
    }

    fn ran_within(&mut self, limit: Duration) -> Ran {
        bounded(self, limit).0
    }

    #[track_caller]
    fn ended_within(&mut self, limit: Duration) -> Ran {
        let (ran, ended) = bounded(self, limit);
        assert!(
            ended,
            "{:?} still running after {limit:?}: blocked; stdout:\n{}\nstderr:\n{}",
            self.get_program(),
            ran.stdout,
            ran.stderr
        );
        ran
    }

    fn logged(&mut self, log: &Path) -> Proc {
        let f = File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let child = self
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("dup log"))
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("start {:?}: {e}", self.get_program()));
        Proc(child)
    }

    fn quiet(&mut self) -> Child {
        self.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {:?} (is it installed?): {e}", self.get_program()))
    }
}

/// Run `cmd` (stdin closed) for at most `limit`: what it did (code -1 if it
/// was killed) and whether it ended by itself in time.
fn bounded(cmd: &mut Command, limit: Duration) -> (Ran, bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&out).expect("out"))
        .stderr(File::create(&err).expect("err"))
        .spawn()
        .unwrap_or_else(|e| panic!("run {:?}: {e}", cmd.get_program()));
    let deadline = Instant::now() + limit;
    let (code, ended) = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break (s.code().unwrap_or(-1), true);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break (-1, false);
        }
        std::thread::sleep(TICK);
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let ran = Ran {
        code,
        stdout: read(&out),
        stderr: read(&err),
    };
    (ran, ended)
}

/// A child process in the background, killed and reaped on drop (so a
/// failed assertion never leaves it running).
#[derive(Debug)]
pub struct Proc(pub Child);

impl Proc {
    /// Its pid.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.0.id()).expect("pid fits i32"))
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.0.try_wait().expect("try_wait").is_none()
    }

    /// Send `signal`, then wait up to `limit` for it to exit: its exit code,
    /// or None if it did not stop in time or died by a signal.
    pub fn stop(&mut self, signal: Signal, limit: Duration) -> Option<i32> {
        kill(self.pid(), signal).expect("kill");
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return status.code();
            }
            std::thread::sleep(TICK);
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `sh -c script` in `dir`; it must succeed (else panic with its
/// output). Returns its stdout.
#[track_caller]
pub fn sh(dir: &Path, script: &str) -> String {
    let ran = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .ran();
    assert_eq!(ran.code, 0, "{script}: {}\n{}", ran.stdout, ran.stderr);
    ran.stdout
}

/// The workspace's binary `name` in target/debug, as `cargo test --workspace`
/// builds it (for tests that run binaries of other crates).
pub fn bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let p = target.join("debug").join(name);
    assert!(
        p.exists(),
        "{} not built: run `cargo build --workspace` first",
        p.display()
    );
    p
}
