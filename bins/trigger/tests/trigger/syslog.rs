//! Where certdrop-trigger's lines go: `watch` to syslog unless told
//! otherwise, every other command to stderr; a real rsyslogd receives.

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
    assert_eq!(syslog.entries().len(), 1, "{}", syslog.render());
}
