//! `watch`: the first round deploys, a publication under pub/ is deployed
//! within moments (debounced events, the same run as `run`), SIGTERM ends
//! it with exit 0.

use std::process::{Command, Stdio};
use std::time::Duration;

use certdrop_testkit::{within, Proc};

use crate::harness::Tree;
use crate::nginx::{reload_files, serving_www, Serves};

#[test]
fn watch_deploys_what_is_published_and_stops_on_sigterm() {
    let tree = Tree::new();
    tree.issue();
    let nginx = serving_www(&tree);
    tree.config(&reload_files(&nginx));
    let config = tree.path("trigger.toml");
    let child = Command::new(env!("CARGO_BIN_EXE_certdrop-trigger"))
        .arg("-c")
        .arg(&config)
        // The daemon logs to syslog by default; this test reads stderr.
        .args(["watch", "--interval", "1h", "--log", "stderr"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("watch");
    // Stopped by its pid even if an assertion fails below.
    let mut child = Proc(child);
    // The state file of the first round.
    let state = tree.path("state/www.json");
    assert!(
        within(Duration::from_secs(10), || state.exists()),
        "first round did not deploy"
    );
    let second = tree.issue();
    nginx.assert_serves(&second.der);
    nix::sys::signal::kill(child.pid(), nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let out = std::mem::replace(
        &mut child.0,
        Command::new("true").spawn().expect("placeholder"),
    )
    .wait_with_output()
    .expect("wait");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("www: reloaded, served: no deployment recorded yet"));
    assert!(lines[1].starts_with("www: reloaded, served: content changed"));
}
