//! Where certdrop-trigger's lines go: `watch` to syslog unless told
//! otherwise, every other command to stderr; a real rsyslogd receives.
//! `watch -n` is a usage error in one line on stderr.

use certdrop_testkit::rsyslog::Rsyslog;

use crate::harness::{run, Tree};

#[test]
fn watch_logs_to_syslog_by_default_and_run_to_stderr() {
    let tree = Tree::new();
    let syslog = Rsyslog::start(&tree.path("syslog"));
    let socket = syslog.socket();
    let socket = socket.to_str().expect("utf8");
    let missing = tree.path("missing.toml");
    let missing = missing.to_str().expect("utf8");
    // The daemon fails to start: its one line is in syslog, as err.
    let ran = run(&["-c", missing, "watch", "--syslog-socket", socket]).expect(78);
    assert_eq!((ran.stdout.as_str(), ran.stderr.as_str()), ("", ""));
    let e = syslog.wait_for("err: the configuration cannot be read", |e| {
        e.msg.contains("missing.toml: cannot read")
    });
    assert_eq!(
        (e.facility.as_str(), e.severity.as_str(), e.tag.as_str()),
        ("daemon", "err", "certdrop-trigger")
    );
    // The same failure from cron's `run`: on stderr, not in syslog.
    run(&["-c", missing, "run", "--syslog-socket", socket])
        .expect(78)
        .one_error("missing.toml: cannot read");
    syslog.sync();
    assert_eq!(syslog.entries().len(), 1, "{}", syslog.render());
}

#[test]
fn watch_n_is_a_usage_error_in_one_line_on_stderr() {
    let tree = Tree::new();
    let syslog = Rsyslog::start(&tree.path("syslog"));
    // No --log: a watch would log to syslog; this one is no daemon, so
    // neither a syslogd that is not there nor one that is gets a word.
    let missing = tree.path("no-syslogd/log");
    for socket in [missing, syslog.socket()] {
        let socket = socket.to_str().expect("utf8");
        tree.run(&["watch", "-n", "--syslog-socket", socket])
            .expect(64)
            .one_error("watch acts: -n/--check goes with run or check");
    }
    syslog.sync();
    assert!(syslog.entries().is_empty(), "{}", syslog.render());
}
