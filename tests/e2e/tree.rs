//! Running the workspace's binaries from the end-to-end tests: in the
//! foreground to a [`Ran`], or in the background as a [`Proc`] (the
//! runner is certdrop-testkit's).

use std::path::Path;
use std::process::Command;

use certdrop_testkit::{bin, Proc, Ran, Run};

/// Run the workspace's binary `name` with `args`.
pub fn run(name: &str, args: &[&str]) -> Ran {
    Command::new(bin(name))
        .args(args)
        .env_remove("SSL_CERT_FILE")
        .ran()
}

/// Start `name args...` in the background, output to `log`; killed on drop.
pub fn daemon(name: &str, args: &[&str], log: &Path) -> Proc {
    Command::new(bin(name)).args(args).logged(log)
}

/// A cron step that either acted (0) or had nothing to do (2); anything
/// else fails the test, with the step's output.
#[track_caller]
pub fn step(what: &str, ran: Ran) {
    assert!(
        ran.code == 0 || ran.code == 2,
        "{what}: exit {}\n{}{}",
        ran.code,
        ran.stdout,
        ran.stderr
    );
}
