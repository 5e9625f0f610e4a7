//! Running the transport of a pull (rsync, git, or any command that fills
//! a directory): no shell, the configured words as argv, in a process group
//! of its own so that a timeout kills all of it (rsync forks a receiver and
//! an ssh). Its output goes to unlinked files, not pipes: a child left
//! behind holding a pipe would keep the reader waiting forever.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use certdrop_core::error::{Error, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

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
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(capture)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::config(format!("{subject}: cannot run: {e}")))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                if let Ok(pid) = i32::try_from(child.id()) {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = child.wait();
                return Err(Error::temp(format!(
                    "{subject}: killed: did not finish within {}",
                    shown(timeout)
                )));
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => return Err(Error::software(format!("{subject}: cannot wait: {e}"))),
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
