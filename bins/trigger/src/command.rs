//! Running a service's commands (discovery, pre-flight, reload, restart)
//! through `/bin/sh -c`, bounded in time. Output goes to anonymous files
//! (memfd; elsewhere unlinked files in the state directory), not pipes: a
//! restart command leaves a daemon behind that inherits the descriptors,
//! and a pipe would never reach end of file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Failure;

/// The shell.
const SHELL: &str = "/bin/sh";

/// What a command did.
#[derive(Debug)]
pub struct Ran {
    /// Its standard output.
    pub stdout: Vec<u8>,
}

/// Run `cmd` with `sh -c` in `scratch`'s file system, at most `timeout`.
/// Success is exit 0; otherwise the error is `exit N: <last line of
/// stderr, else stdout>` (or the signal, or the timeout), of the class the
/// caller gives for a command that says no (`refused`: what its failure
/// means depends on the command). Output that cannot be captured is 73.
pub fn run(cmd: &str, scratch: &Path, timeout: Duration, refused: Failure) -> Result<Ran> {
    let mut out = scratch_file(scratch)?;
    let mut err = scratch_file(scratch)?;
    let capture = |f: &File| {
        f.try_clone()
            .map_err(|e| Error::new(Failure::CantCreate, format!("cannot capture output: {e}")))
    };
    let mut child = Command::new(SHELL)
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(capture(&out)?)
        .stderr(capture(&err)?)
        // Its own process group, so a timeout ends the whole pipeline.
        .process_group(0)
        .spawn()
        .map_err(|e| Error::new(refused, format!("cannot run {SHELL}: {e}")))?;
    let deadline = Instant::now() + timeout;
    let status = match certdrop_core::child::wait_or_kill(&mut child, deadline) {
        Ok(Some(status)) => status,
        // Killed already (its process group, so the whole pipeline).
        Ok(None) => {
            return Err(Error::new(
                refused,
                format!(
                    "did not finish within {}",
                    certdrop_core::duration::render(timeout)
                ),
            ));
        }
        Err(e) => return Err(Error::software(format!("cannot wait: {e}"))),
    };
    let stdout = read_back(&mut out)?;
    if status.success() {
        return Ok(Ran { stdout });
    }
    let stderr = read_back(&mut err)?;
    let said = telling_line(&stderr).or_else(|| telling_line(&stdout));
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "failed".to_string(),
    };
    Err(Error::new(
        refused,
        match said {
            Some(line) => format!("{how}: {line}"),
            None => how,
        },
    ))
}

/// A file only our descriptor reaches: an anonymous memory file where the
/// system has them (memfd_create: Linux, FreeBSD 13), else a file in `dir`
/// unlinked at once. Not a file system's inode: on ext4 allocating one
/// scans the inode bitmap past recently deleted inodes, which a pass
/// making two per command over a thousand services made most of its
/// system time (a first pass went from 1.7 s to 3 s on a file system that
/// had seen many creates and deletes).
fn scratch_file(dir: &Path) -> Result<File> {
    #[cfg(any(target_os = "linux", target_os = "freebsd"))]
    {
        use nix::sys::memfd::{memfd_create, MFdFlags};
        if let Ok(fd) = memfd_create("certdrop-command-output", MFdFlags::MFD_CLOEXEC) {
            return Ok(File::from(fd));
        }
    }
    certdrop_core::atomic::scratch_file(dir, "command-output")
        .map_err(|e| Error::cantcreat(&dir.join("command-output"), "cannot create", &e))
}

fn read_back(file: &mut File) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut buf))
        .map_err(|e| Error::software(format!("cannot read command output: {e}")))?;
    Ok(buf)
}

/// Words that mark the line saying why a tool failed, ahead of its summary
/// (nginx: `[emerg] unknown directive ...` before `... test failed`).
const ERROR_WORDS: [&str; 4] = ["emerg", "error", "fatal", "crit"];

/// The first non-blank line naming an error, else the last non-blank one.
fn telling_line(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .find(|l| {
            let lower = l.to_ascii_lowercase();
            ERROR_WORDS.iter().any(|w| lower.contains(w))
        })
        .or(lines.last())
        .map(|l| l.to_string())
}

/// `text` quoted for sh: single quotes, embedded ones closed and escaped.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn output_errors_and_timeouts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = Duration::from_secs(5);
        let run = |cmd: &str, t| run(cmd, dir.path(), t, Failure::Config);
        assert_eq!(run("echo hi", t).expect("ok").stdout, b"hi\n");
        let e = run("echo one >&2; echo two >&2; exit 3", t).expect_err("fails");
        assert_eq!(e.msg, "exit 3: two");
        assert_eq!(e.class, Failure::Config, "the caller's class");
        let e = run(
            "echo 'x: [emerg] bad' >&2; echo 'x: test failed' >&2; exit 1",
            t,
        )
        .expect_err("fails");
        assert_eq!(e.msg, "exit 1: x: [emerg] bad");
        let e = run("echo only out; false", t).expect_err("fails");
        assert_eq!(e.msg, "exit 1: only out");
        let start = Instant::now();
        let e = run("sleep 30", Duration::from_millis(200)).expect_err("timeout");
        assert!(e.msg.starts_with("did not finish"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(5));
        // A daemon left behind holding our descriptors does not hang us.
        let start = Instant::now();
        run("(sleep 3 &) ; echo started", t).expect("daemon");
        assert!(start.elapsed() < Duration::from_secs(2));
        // Nothing is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).expect("rd").count(), 0);
        assert_eq!(quote("a'b"), r"'a'\''b'");
    }
}
