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

/// The processes in namespace `ns` (`ip netns pids`): gunicorn and its
/// workers, pebble-challtestsrv, nsd, whatever a test started there.
fn pids(ns: &str) -> Vec<u32> {
    let out = Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .expect("ip");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Whether any of `pids` still runs (a zombie counts as gone).
fn alive(pids: &[u32]) -> bool {
    pids.iter().any(|p| {
        std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z'))
        })
    })
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
    // Every process of the namespace: the CA's command line names its
    // directory, pebble-challtestsrv's does not.
    let started = pids(&ns);
    assert!(started.len() >= 2, "gunicorn and challtestsrv: {started:?}");
    drop(a2c);
    assert!(!listed(&ns), "{ns} left");
    assert!(
        within(Duration::from_secs(10), || !running(&dir)
            && !alive(&started)),
        "a process of {dir} left: {started:?}"
    );

    let seen = std::sync::Mutex::new(None);
    let panicked = std::panic::catch_unwind(|| {
        let a2c = A2c::start(A2cOpts::default());
        let ns = a2c.namespace();
        *seen.lock().expect("lock") = Some((pids(&ns), ns, a2c.dir.display().to_string()));
        panic!("on purpose");
    });
    assert!(panicked.is_err());
    let (started, ns, dir) = seen.into_inner().expect("lock").expect("started");
    assert!(!listed(&ns), "{ns} left after a panic");
    assert!(
        within(Duration::from_secs(10), || !running(&dir)
            && !alive(&started)),
        "a process of {dir} left after a panic: {started:?}"
    );
}
