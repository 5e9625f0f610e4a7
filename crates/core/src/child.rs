//! Waiting for a child with a deadline: a tool that stops answering (a
//! stopped signer, a reload that hangs) must not hold a run, or a daemon
//! and its lock, past the time it was given. The child must lead its own
//! process group (`CommandExt::process_group(0)`), so that what it started
//! is killed with it.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How often a running child is looked at.
const POLL: Duration = Duration::from_millis(20);

/// Wait for `child` until `deadline`. `Ok(None)`: the deadline passed, and
/// the child's process group was killed and the child reaped.
pub fn wait_or_kill(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

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
