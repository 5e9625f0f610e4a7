//! `--log syslog` against a real rsyslogd: what syslog made of each kind
//! of line (a change is `notice`, -v narration `info`, a refused fragment
//! `warning`, a failure `err`; `debug` is publish's test), in the facility and under
//! the tag asked for, with the sender's pid; `watch` logs there without
//! being told; a syslogd that is not there, or dies under a running
//! `watch`, leaves every line on stdout/stderr with one line saying so, and
//! one that stopped reading costs a run one short wait, not one per line;
//! `watch -n` is a usage error in one line on stderr.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use certdrop_testkit::rsyslog::{Entry, Rsyslog};
use certdrop_testkit::{within, Proc, Ran};

use crate::site::{zone, Tree, V1};

const ZONE: &str = "example.test";
/// Generous on a busy machine.
const LIMIT: Duration = Duration::from_secs(15);

/// A tree whose first build changes something (installs the zone; no
/// signer, no reload), and a syslogd.
fn setup() -> (Tree, Rsyslog) {
    let tree = Tree::new();
    tree.sources(ZONE);
    tree.config(ZONE, "[]", "signer = \"none\"\n");
    let syslog = Rsyslog::start(&tree.path("syslog"));
    (tree, syslog)
}

/// Run certdrop-zone -c zone.toml `args` to the end: its pid and output.
fn run(tree: &Tree, args: &[&str]) -> (String, Ran) {
    let child = zone()
        .arg("-c")
        .arg(tree.path("zone.toml"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start certdrop-zone");
    let pid = child.id().to_string();
    let ran = Ran::from(child.wait_with_output().expect("certdrop-zone"));
    (pid, ran)
}

/// The options that send to `syslog`'s socket in `facility`.
fn to(syslog: &Rsyslog, facility: &str) -> Vec<String> {
    vec![
        "--log".into(),
        "syslog".into(),
        "--syslog-socket".into(),
        syslog.socket().display().to_string(),
        "--syslog-facility".into(),
        facility.into(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn each_kind_of_line_has_its_severity_in_the_facility_asked_for() {
    let (tree, syslog) = setup();
    let opts = to(&syslog, "local3");
    // A fragment build refuses (a warning) beside a valid one.
    tree.fragment(
        "good",
        &format!("_acme-challenge.www.example.test. 60 IN TXT \"{V1}\"\n"),
    );
    tree.fragment("bad", "_acme-challenge.www.example.test. 60 IN MX 10 x.\n");
    let mut args = strs(&opts);
    args.extend(["-v", "build"]);
    let (pid, ran) = run(&tree, &args);
    let ran = ran.expect(0);
    assert_eq!(ran.stdout, "", "the action went to syslog");
    assert_eq!(ran.stderr, "", "narration and warnings went to syslog");
    let ours = |e: &Entry| e.tag == "certdrop-zone" && e.pid == pid && e.facility == "local3";
    let action = syslog.wait_for("notice: the zone installed", |e| {
        ours(e) && e.severity == "notice" && e.msg.starts_with("zone example.test: ")
    });
    assert!(!action.msg.contains('\n'), "{action:?}");
    syslog.wait_for("warning: the MX fragment refused", |e| {
        ours(e)
            && e.severity == "warning"
            && e.msg.starts_with("warning: ")
            && e.msg.contains("bad")
    });
    syslog.sync();
    assert!(
        syslog.entries().iter().all(ours),
        "only this run's lines, all in local3:\n{}",
        syslog.render()
    );

    // Nothing new: -v says so, as info.
    let (pid, ran) = run(&tree, &args);
    ran.expect(2).silent();
    let said = syslog.wait_for("info: -v narration", |e| e.pid == pid);
    assert_eq!(
        (said.severity.as_str(), said.msg.as_str()),
        ("info", "zone example.test: inputs unchanged")
    );

    // A failure: err, same facility; nothing on stderr.
    let (pid, ran) = run(&tree, &[&args[..6], &["build", "no.such.zone"]].concat());
    let ran = ran.expect(64);
    assert_eq!(ran.stderr, "");
    let err = syslog.wait_for("err: no zone named", |e| {
        e.pid == pid && e.severity == "err"
    });
    assert_eq!(err.facility, "local3");
    assert!(err.msg.contains("no zone named 'no.such.zone'"), "{err:?}");
}

#[test]
fn the_tag_is_the_one_asked_for() {
    let (tree, syslog) = setup();
    let opts = to(&syslog, "daemon");
    let mut args = strs(&opts);
    args.extend(["--syslog-tag", "dns1.zone", "build"]);
    let (pid, ran) = run(&tree, &args);
    ran.expect(0);
    let e = syslog.wait_for("notice under the tag asked for", |e| e.pid == pid);
    assert_eq!(
        (e.tag.as_str(), e.facility.as_str(), e.severity.as_str()),
        ("dns1.zone", "daemon", "notice"),
        "{e:?}"
    );
}

#[test]
fn a_bad_facility_or_tag_is_a_usage_error_in_one_line() {
    let (tree, _syslog) = setup();
    for (opt, value, says) in [
        (
            "--syslog-facility",
            "local8",
            "unknown facility 'local8' (one of: user,",
        ),
        ("--syslog-facility", "kern", "unknown facility 'kern'"),
        ("--syslog-tag", "a tag", "is not a tag"),
    ] {
        let (_, ran) = run(&tree, &[opt, value, "build"]);
        ran.expect(64).one_error(says);
    }
    assert!(!tree.path("zones/example.test.zone").exists());
}

/// `watch` with no --log: a daemon logs to syslog.
fn watch(tree: &Tree, socket: &std::path::Path) -> Proc {
    Proc(
        Command::new(env!("CARGO_BIN_EXE_certdrop-zone"))
            .arg("-c")
            .arg(tree.path("zone.toml"))
            .args(["watch", "--interval", "1h", "--syslog-socket"])
            .arg(socket)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(tree.path("watch.out")).expect("watch.out"))
            .stderr(std::fs::File::create(tree.path("watch.err")).expect("watch.err"))
            .spawn()
            .expect("start watch"),
    )
}

#[test]
fn watch_logs_to_syslog_by_default_and_to_stderr_when_syslogd_dies() {
    let (tree, mut syslog) = setup();
    let mut w = watch(&tree, &syslog.socket());
    let pid = w.pid().to_string();
    let first = syslog.wait_for("the first build's notice", |e| {
        e.pid == pid && e.severity == "notice" && e.facility == "daemon"
    });
    assert_eq!(first.tag, "certdrop-zone");
    assert_eq!(tree.read_text("watch.out"), "");
    assert_eq!(tree.read_text("watch.err"), "");

    // syslogd gone under the daemon: the next build's line is not lost.
    syslog.kill();
    tree.fragment(
        "a",
        &format!("_acme-challenge.www.example.test. 60 IN TXT \"{V1}\"\n"),
    );
    assert!(
        within(LIMIT, || tree
            .read_text("watch.out")
            .starts_with("zone example.test: ")),
        "the build's line not on stdout; stderr:\n{}",
        tree.read_text("watch.err")
    );
    assert!(w.running(), "{}", tree.read_text("watch.err"));
    assert_eq!(w.stop(Signal::SIGTERM, LIMIT), Some(0));
    let err = tree.read_text("watch.err");
    assert_eq!(err.lines().count(), 1, "one line says so: {err}");
    assert!(
        err.starts_with(&format!(
            "certdrop-zone: syslog: {}: cannot send: ",
            syslog.socket().display()
        )),
        "{err}"
    );
}

#[test]
fn without_a_syslogd_a_watch_says_so_once_and_uses_stderr() {
    let (tree, syslog) = setup();
    let missing = tree.path("no-syslogd/log");
    let mut w = watch(&tree, &missing);
    assert!(
        within(LIMIT, || tree
            .read_text("watch.out")
            .starts_with("zone example.test: ")),
        "the first build's line not on stdout; stderr:\n{}",
        tree.read_text("watch.err")
    );
    assert_eq!(w.stop(Signal::SIGTERM, LIMIT), Some(0));
    let err = tree.read_text("watch.err");
    assert_eq!(
        err,
        format!(
            "certdrop-zone: syslog: {}: cannot connect: No such file or directory (os error 2); lines stay on stdout and stderr\n",
            missing.display()
        )
    );
    syslog.sync();
    assert!(syslog.entries().is_empty(), "{}", syslog.render());
}

#[test]
fn a_syslogd_that_stopped_reading_costs_little_and_every_line_stays() {
    let (tree, _syslog) = setup();
    // A syslogd alive but not reading: its socket bound, its buffer full.
    let path = tree.path("stuck.sock");
    let _stuck = UnixDatagram::bind(&path).expect("bind");
    let filler = UnixDatagram::unbound().expect("socket");
    filler.connect(&path).expect("connect");
    filler.set_nonblocking(true).expect("nonblocking");
    while filler.send(b"<14>filler[1]: x").is_ok() {}
    const BAD: usize = 200;
    for i in 0..BAD {
        tree.fragment(
            &format!("bad{i:03}"),
            "_acme-challenge.www.example.test. 60 IN MX 10 x.\n",
        );
    }
    let socket = path.display().to_string();
    let start = Instant::now();
    let (_, ran) = run(
        &tree,
        &["--log", "syslog", "--syslog-socket", &socket, "-v", "build"],
    );
    let took = start.elapsed();
    let ran = ran.expect(0);
    // A short wait once, then no syslog for 30 s: well under a second
    // here. Each line offered to syslog would take 0.1 s at least (20 s in
    // all; 2 s each, twice, before this was fixed).
    assert!(
        took < Duration::from_secs(10),
        "{BAD} warnings took {took:?}"
    );
    assert!(
        ran.stdout.starts_with("zone example.test: "),
        "the action on stdout: {}",
        ran.stdout
    );
    let mut err = ran.stderr.lines();
    let said = err.next().unwrap_or_default();
    assert!(
        said.starts_with(&format!("certdrop-zone: syslog: {socket}: cannot send: "))
            && said.ends_with("; lines stay on stdout and stderr, syslog is tried again every 30s"),
        "{said}"
    );
    // -v: each refused fragment its own warning, besides the narration.
    let rest: Vec<&str> = err.collect();
    for i in 0..BAD {
        let name = format!("/dnsextra/bad{i:03}: rejected: type MX");
        assert!(
            rest.iter()
                .any(|l| l.starts_with("certdrop-zone: warning: ") && l.contains(&name)),
            "no warning for bad{i:03}:\n{}",
            ran.stderr
        );
    }
    assert!(
        !rest.iter().any(|l| l.contains("syslog")),
        "the outage said once:\n{}",
        ran.stderr
    );
}

#[test]
fn watch_n_is_a_usage_error_in_one_line_on_stderr() {
    let (tree, syslog) = setup();
    // No --log: a watch would log to syslog; this one is no daemon, so
    // neither a syslogd that is not there nor one that is gets a word.
    let missing = tree.path("no-syslogd/log");
    for socket in [missing, syslog.socket()] {
        let socket = socket.display().to_string();
        let (_, ran) = run(&tree, &["watch", "-n", "--syslog-socket", &socket]);
        ran.expect(64)
            .one_error("watch installs zones: -n/--check goes with build or check");
    }
    syslog.sync();
    assert!(syslog.entries().is_empty(), "{}", syslog.render());
}
