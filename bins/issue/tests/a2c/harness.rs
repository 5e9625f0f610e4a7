//! The fixture itself: nothing of an acme2certifier outlives it, whether
//! the test ends or fails.

use std::process::Command;
use std::time::Duration;

use certdrop_testkit::a2c::{A2c, A2cOpts};
use certdrop_testkit::within;

/// Whether `ip netns list` names `ns`.
fn listed(ns: &str) -> bool {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .any(|w| w == ns)
}

/// Whether a process whose command line holds `text` runs.
fn running(text: &str) -> bool {
    Command::new("pgrep")
        .args(["-f", text])
        .output()
        .expect("pgrep")
        .status
        .success()
}

#[test]
fn everything_stops_on_drop_and_after_a_panic() {
    let a2c = A2c::start(A2cOpts::default());
    let (ns, dir) = (a2c.namespace(), a2c.dir.display().to_string());
    assert!(listed(&ns), "{ns}");
    assert!(running(&dir), "no process of {dir}");
    assert!(a2c.startup < Duration::from_secs(60), "{:?}", a2c.startup);
    drop(a2c);
    assert!(!listed(&ns), "{ns} left");
    assert!(
        within(Duration::from_secs(10), || !running(&dir)),
        "a process of {dir} left"
    );

    let seen = std::sync::Mutex::new(None);
    let panicked = std::panic::catch_unwind(|| {
        let a2c = A2c::start(A2cOpts::default());
        *seen.lock().expect("lock") = Some((a2c.namespace(), a2c.dir.display().to_string()));
        panic!("on purpose");
    });
    assert!(panicked.is_err());
    let (ns, dir) = seen.into_inner().expect("lock").expect("started");
    assert!(!listed(&ns), "{ns} left after a panic");
    assert!(
        within(Duration::from_secs(10), || !running(&dir)),
        "a process of {dir} left after a panic"
    );
}
