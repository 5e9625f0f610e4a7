//! Waiting for a child with a deadline: a tool that stops answering (a
//! stopped signer, a reload that hangs) must not hold a run, or a daemon
//! and its lock, past the time it was given. The child must lead its own
//! process group (`CommandExt::process_group(0)`), so that what it started
//! is killed with it.

use std::process::{Child, ExitStatus};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::Pid;

/// Wait for `child` until `deadline`. `Ok(None)`: the deadline passed, and
/// the child's process group was killed and the child reaped.
///
/// A thread blocks in `waitid(WEXITED | WNOWAIT)`, so the exit is seen the
/// moment it happens (no polling interval added to every command), and the
/// child stays unreaped until the kill decision is made: a kill after the
/// deadline can never reach a process that reused its pid.
pub fn wait_or_kill(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    let pid = i32::try_from(child.id())
        .map(Pid::from_raw)
        .map_err(std::io::Error::other)?;
    let (tx, rx) = mpsc::channel();
    let watcher = std::thread::Builder::new()
        .name("child-wait".into())
        .spawn(move || {
            let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
            let r = loop {
                match waitid(Id::Pid(pid), flags) {
                    Err(Errno::EINTR) => continue,
                    r => break r,
                }
            };
            let _ = tx.send(r.map(|_| ()));
        })?;
    let timeout = deadline.saturating_duration_since(Instant::now());
    let exited = match rx.recv_timeout(timeout) {
        Ok(r) => r.map(|()| true).map_err(std::io::Error::from),
        Err(RecvTimeoutError::Timeout) => Ok(false),
        Err(RecvTimeoutError::Disconnected) => Err(std::io::Error::other("waiter thread ended")),
    };
    if matches!(exited, Ok(false)) {
        // The waiter returns once the kill ends the child.
        let _ = killpg(pid, Signal::SIGKILL);
    }
    let _ = watcher.join();
    match exited {
        Ok(true) => child.wait().map(Some),
        Ok(false) => {
            let _ = child.wait();
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    use std::time::Duration;

    #[test]
    fn a_group_past_the_deadline_is_killed_and_one_in_time_is_not() {
        let start = Instant::now();
        let mut late = Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30"])
            .process_group(0)
            .spawn()
            .expect("sh");
        let got = wait_or_kill(&mut late, start + Duration::from_millis(200)).expect("wait");
        assert!(got.is_none());
        assert!(start.elapsed() < Duration::from_secs(20));
        let mut quick = Command::new("true").process_group(0).spawn().expect("true");
        let got = wait_or_kill(&mut quick, Instant::now() + Duration::from_secs(30)).expect("wait");
        assert!(got.is_some_and(|s| s.success()));
    }
}
