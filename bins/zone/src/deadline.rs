//! Running a tool with a deadline: a signer that stops answering (a
//! SIGSTOPped knotd, a transfer that never ends) must not hold a build,
//! or a watch and its lock, for longer than the zone's `serve_wait`. The
//! child runs in its own process group, killed as a whole at the
//! deadline (as certdrop-trigger runs a service's commands).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use certdrop_core::error::{Error, Result};

/// Run `cmd` (stdin closed, output captured) until it exits or
/// `deadline` passes; then its process group is killed and the error is
/// 69 "`what`: did not finish within T". One that cannot start is 69 too.
pub fn output(cmd: &mut Command, what: &str, deadline: Instant) -> Result<Output> {
    let budget = deadline.saturating_duration_since(Instant::now());
    let late = || {
        Error::unavailable(format!(
            "{what}: did not finish within {}",
            certdrop_core::duration::render(Duration::from_secs(budget.as_secs().max(1)))
        ))
    };
    if budget.is_zero() {
        return Err(late());
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| Error::unavailable(format!("{what}: cannot run: {e}")))?;
    // Read beside the wait, so that a full pipe never stops the child.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = match certdrop_core::child::wait_or_kill(&mut child, deadline) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = (out.join(), err.join());
            return Err(late());
        }
        Err(e) => return Err(Error::software(format!("{what}: cannot wait: {e}"))),
    };
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_past_the_deadline_is_killed() {
        let start = Instant::now();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & sleep 30"]);
        let e =
            output(&mut cmd, "sleeper", start + Duration::from_millis(300)).expect_err("killed");
        assert!(
            e.to_string().contains("sleeper: did not finish within 1s"),
            "{e}"
        );
        assert!(start.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn output_is_captured() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2"]);
        let o = output(&mut cmd, "echo", Instant::now() + Duration::from_secs(30)).expect("ran");
        assert_eq!(o.stdout, b"out\n");
        assert_eq!(o.stderr, b"err\n");
    }
}
