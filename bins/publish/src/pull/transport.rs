//! Running the transport of a pull (rsync, git, or any command that fills
//! a directory): no shell, the configured words as argv, in a process group
//! of its own so that a timeout kills all of it (rsync forks a receiver and
//! an ssh). Its output goes to unlinked files, not pipes: a child left
//! behind holding a pipe would keep the reader waiting forever.
//!
//! That group is no longer in the terminal's or cron's process group, so a
//! SIGTERM or SIGINT meant for the pull would not reach it: the pull takes
//! those signals itself ([`kill_on_signals`]) and kills the running
//! transport's group before it dies, so that no transport outlives its
//! pull (and writes staging beside the next pull's transport).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use certdrop_core::error::{Error, Result};
use nix::sys::signal::{killpg, raise, SigSet, Signal};
use nix::unistd::Pid;

/// The process group of the transport running now, if one is. Set under
/// the lock together with the spawn and cleared together with the reaping
/// of its leader, so the signal thread never kills a group not yet
/// recorded or (its number reused) no longer ours.
static RUNNING: Mutex<Option<Pid>> = Mutex::new(None);

/// The running group, whatever a panicking holder left (it holds only a
/// number).
fn running() -> MutexGuard<'static, Option<Pid>> {
    RUNNING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Take SIGTERM and SIGINT in a thread of their own (certdrop-core's
/// `stop_on_signals`: blocked everywhere, waited for with sigwait(2); call
/// before any other thread exists). On either, kill the running
/// transport's group (SIGKILL: staging is never trusted and kept, so an
/// abrupt end costs only the next run's deltas, and a transport that
/// handles or ignores SIGTERM cannot outlive the pull), then die of the
/// signal as if it had not been taken: every line of `into` is old or new
/// at any instant (versions), as after any kill.
pub fn kill_on_signals() -> Result<()> {
    certdrop_core::debounce::stop_on_signals(|sig| {
        let group = running();
        if let Some(pgid) = *group {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        // Still holding the lock: no new transport starts from here on.
        let mut only = SigSet::empty();
        only.add(sig);
        let _ = only.thread_unblock();
        let _ = raise(sig);
        std::process::exit(128 + sig as i32);
    })
    .map_err(|e| Error::temp(format!("pull: signals: {e}")))
}

/// How often the running transport is looked at.
const POLL: Duration = Duration::from_millis(20);
/// The most of its output kept: the end is what says why it failed.
const MAX_OUTPUT: u64 = 64 * 1024;

/// Run `argv` for at most `timeout`, its scratch files in `scratch` (a
/// directory the caller holds locked). Success is exit 0; a non-zero exit,
/// a signal or the timeout is a temporary failure (75: the next cron run
/// may get through), `transport <program>: exit N: <last stderr line>`; a
/// program that cannot be started is a configuration error (78).
pub fn run(argv: &[String], scratch: &Path, timeout: Duration) -> Result<()> {
    let Some((program, args)) = argv.split_first() else {
        return Err(Error::config("transport: no program"));
    };
    let subject = format!("transport {program}");
    let mut err = scratch_file(scratch)?;
    let capture = err
        .try_clone()
        .map_err(|e| Error::cantcreat(scratch, "cannot capture the transport's output", &e))?;
    let mut group = running();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(capture)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::config(format!("{subject}: cannot run: {e}")))?;
    // The group's number is the leader's pid (process_group(0)).
    let pgid = i32::try_from(child.id()).ok().map(Pid::from_raw);
    *group = pgid;
    drop(group);
    let deadline = Instant::now() + timeout;
    let status = loop {
        let mut group = running();
        match child.try_wait() {
            Ok(Some(status)) => {
                *group = None;
                break status;
            }
            Ok(None) if Instant::now() >= deadline => {
                if let Some(pgid) = pgid {
                    let _ = killpg(pgid, Signal::SIGKILL);
                }
                let _ = child.wait();
                *group = None;
                return Err(Error::temp(format!(
                    "{subject}: killed: did not finish within {}",
                    shown(timeout)
                )));
            }
            Ok(None) => {
                drop(group);
                std::thread::sleep(POLL);
            }
            Err(e) => {
                *group = None;
                return Err(Error::software(format!("{subject}: cannot wait: {e}")));
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "failed".to_string(),
    };
    Err(Error::temp(match last_line(&mut err) {
        Some(line) => format!("{subject}: {how}: {line}"),
        None => format!("{subject}: {how}"),
    }))
}

/// A time limit as configured (`5m`), or in milliseconds below a second.
fn shown(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        certdrop_core::duration::render(d)
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// A file in `dir` that is unlinked at once: only our descriptor keeps it.
fn scratch_file(dir: &Path) -> Result<File> {
    certdrop_core::atomic::scratch_file(dir, "transport-stderr")
        .map_err(|e| Error::cantcreat(&dir.join("transport-stderr"), "cannot create", &e))
}

/// The last non-blank line of what the transport wrote to stderr, with
/// control characters replaced: it is printed as one line of ours.
fn last_line(file: &mut File) -> Option<String> {
    let len = file.seek(SeekFrom::End(0)).ok()?;
    file.seek(SeekFrom::Start(len.saturating_sub(MAX_OUTPUT)))
        .ok()?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(|l| {
            l.chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn exits_timeouts_and_missing_programs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = Duration::from_secs(10);
        run(&argv(&["true"]), dir.path(), t).expect("true");
        let e = run(
            &argv(&[
                "sh",
                "-c",
                "echo one >&2; echo 'two\tx' >&2; echo >&2; exit 3",
            ]),
            dir.path(),
            t,
        )
        .expect_err("exit 3");
        assert_eq!(e.msg, "transport sh: exit 3: two?x");
        assert_eq!(e.class, certdrop_core::exit::Failure::Temporary);
        let start = Instant::now();
        let e = run(
            &argv(&["sh", "-c", "sleep 30 & sleep 30"]),
            dir.path(),
            Duration::from_millis(300),
        )
        .expect_err("timeout");
        assert_eq!(e.msg, "transport sh: killed: did not finish within 300ms");
        assert!(start.elapsed() < Duration::from_secs(8), "killed in time");
        let e = run(&argv(&["/nonexistent/rsync"]), dir.path(), t).expect_err("missing");
        assert_eq!(e.class, certdrop_core::exit::Failure::Config);
        assert_eq!(std::fs::read_dir(dir.path()).expect("rd").count(), 0);
    }
}
