//! Tests of the kit's own parts that every suite leans on: ports are not
//! handed out twice, waiting gives up at its limit, the runner reports
//! what a process did and its assertions fail when they should.

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;

#[test]
fn ports_are_free_and_never_handed_out_twice() {
    let ports: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..25).map(|_| free_port()).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    let unique: HashSet<u16> = ports.iter().copied().collect();
    assert_eq!(unique.len(), ports.len(), "{ports:?}");
    assert!(
        ports.iter().all(|p| (10_000..30_000).contains(p)),
        "{ports:?}"
    );
}

#[test]
fn waiting_stops_at_the_condition_or_the_limit() {
    assert!(within(Duration::from_secs(5), || true));
    let t0 = Instant::now();
    assert!(!within(Duration::from_millis(100), || false));
    assert!(t0.elapsed() >= Duration::from_millis(100));
    let mut n = 0;
    assert_eq!(
        wait_for(Duration::from_secs(5), || {
            n += 1;
            (n == 3).then_some(n)
        }),
        Some(3)
    );
}

#[test]
fn the_runner_reports_code_and_output() {
    let ran = Command::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 3"])
        .ran()
        .expect(3);
    assert_eq!(
        (ran.stdout.as_str(), ran.stderr.as_str()),
        ("out\n", "err\n")
    );
    ran.stdout_has("out").stderr_has("err");
    Command::new("true").ran().expect(0).silent();
    let killed = Command::new("sleep")
        .arg("10")
        .ran_within(Duration::from_millis(100));
    assert_eq!(killed.code, -1);
    let tree = Tree::new();
    assert_eq!(sh(tree.root(), "echo hi"), "hi\n");
}

#[test]
#[should_panic(expected = "exit code")]
fn a_wrong_exit_code_fails() {
    Command::new("false").ran().expect(0);
}

#[test]
#[should_panic(expected = "not on stderr")]
fn missing_output_fails() {
    Command::new("true").ran().stderr_has("anything");
}

#[test]
fn a_planted_fifo_is_a_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let tree = Tree::new();
    let fifo = tree.path("deep/in/fifo");
    crate::tree::mkfifo(&fifo);
    let meta = std::fs::symlink_metadata(&fifo).expect("lstat");
    assert!(meta.file_type().is_fifo());
}

#[test]
#[should_panic(expected = "still running after")]
fn a_run_that_blocks_fails() {
    Command::new("sleep")
        .arg("10")
        .ended_within(Duration::from_millis(100));
}

#[test]
fn a_run_that_ends_in_time_is_kept() {
    Command::new("sh")
        .args(["-c", "echo out; exit 4"])
        .ended_within(Duration::from_secs(20))
        .expect(4)
        .stdout_has("out");
}

#[test]
#[should_panic(expected = "does not start with")]
fn a_wrong_start_fails() {
    Command::new("sh")
        .args(["-c", "echo out"])
        .ran()
        .stdout_has("out")
        .stdout_starts("ou")
        .stdout_starts("t");
}
