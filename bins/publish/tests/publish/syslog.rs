//! `--log syslog` against a real rsyslogd: a publication is `notice`, -vv
//! detail `debug`, in the facility asked for; `--json` output stays on
//! stdout; `watch` logs there without being told, a refused certificate as
//! `err`; `watch -n` is a usage error in one line on stderr.

use std::process::{Command, Stdio};
use std::time::Duration;

use certdrop_core::store::CertFiles;
use certdrop_testkit::rsyslog::Rsyslog;
use certdrop_testkit::{Proc, Ran};
use nix::sys::signal::Signal;

use crate::site::Site;

/// Generous on a busy machine.
const LIMIT: Duration = Duration::from_secs(15);

/// certdrop-publish -c publish.toml `args`: its pid and what it did.
fn run(site: &Site, args: &[&str]) -> (String, Ran) {
    let config = site.write("publish.toml", &site.config_text());
    let child = Command::new(env!("CARGO_BIN_EXE_certdrop-publish"))
        .arg("-c")
        .arg(config)
        .args(args)
        .env_remove("CERTDROP_PUBLISH_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start certdrop-publish");
    let pid = child.id().to_string();
    (pid, Ran::from(child.wait_with_output().expect("wait")))
}

#[test]
fn a_publication_is_notice_and_detail_debug_and_json_stays_on_stdout() {
    let site = Site::new();
    let syslog = Rsyslog::start(&site.path("syslog"));
    let socket = syslog.socket().display().to_string();
    site.install("www", &site.www(1));
    let log = ["--log", "syslog", "--syslog-socket", &socket];
    let (pid, ran) = run(
        &site,
        &[&log[..], &["--syslog-facility", "local5", "-vv", "run"]].concat(),
    );
    ran.expect(0).silent();
    let e = syslog.wait_for("notice: www published", |e| {
        e.pid == pid && e.msg.starts_with("www: published serial 01")
    });
    assert_eq!(
        (e.facility.as_str(), e.severity.as_str(), e.tag.as_str()),
        ("local5", "notice", "certdrop-publish")
    );
    let d = syslog.wait_for("debug: the signing key", |e| {
        e.pid == pid && e.msg.starts_with("signing key ")
    });
    assert_eq!(
        (d.facility.as_str(), d.severity.as_str()),
        ("local5", "debug")
    );

    // What the user asked to see is not a log line.
    site.install("www", &site.www(2));
    let (pid, ran) = run(&site, &[&log[..], &["--json", "run"]].concat());
    let ran = ran.expect(0);
    assert!(ran.stdout.contains("\"published\""), "{}", ran.stdout);
    assert_eq!(ran.stderr, "");
    syslog.sync();
    assert!(
        syslog.entries().iter().all(|e| e.pid != pid),
        "{}",
        syslog.render()
    );
}

#[test]
fn watch_logs_to_syslog_by_default_and_a_refusal_is_err() {
    let site = Site::new();
    let syslog = Rsyslog::start(&site.path("syslog"));
    site.install("www", &site.www(1));
    let config = site.write("publish.toml", &site.config_text());
    let mut watch = Proc(
        Command::new(env!("CARGO_BIN_EXE_certdrop-publish"))
            .arg("-c")
            .arg(config)
            .args(["watch", "--interval", "1h", "--syslog-socket"])
            .arg(syslog.socket())
            .env_remove("CERTDROP_PUBLISH_CONFIG")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(site.path("watch.out")).expect("watch.out"))
            .stderr(std::fs::File::create(site.path("watch.err")).expect("watch.err"))
            .spawn()
            .expect("start watch"),
    );
    let pid = watch.pid().to_string();
    let first = syslog.wait_for("the first round's notice", |e| {
        e.pid == pid && e.msg.starts_with("www: published serial 01")
    });
    assert_eq!(
        (first.facility.as_str(), first.severity.as_str()),
        ("daemon", "notice")
    );
    site.install(
        "www",
        &CertFiles {
            cert: b"-----BEGIN CERTIFICATE-----\nTUlJQmFk\n-----END CERTIFICATE-----\n".to_vec(),
            ..site.www(2)
        },
    );
    let refused = syslog.wait_for("err: the broken certificate refused", |e| {
        e.pid == pid && e.msg.starts_with("www: refused: cert.pem: bad certificate")
    });
    assert_eq!(refused.severity, "err");
    assert_eq!(watch.stop(Signal::SIGTERM, LIMIT), Some(0));
    assert_eq!(site.read_text("watch.out"), "");
    assert_eq!(site.read_text("watch.err"), "");
}

#[test]
fn watch_n_is_a_usage_error_in_one_line_on_stderr() {
    let site = Site::new();
    let syslog = Rsyslog::start(&site.path("syslog"));
    // No --log: a watch would log to syslog; this one is no daemon, so
    // neither a syslogd that is not there nor one that is gets a word.
    let missing = site.path("no-syslogd/log");
    for socket in [missing, syslog.socket()] {
        let socket = socket.display().to_string();
        let (_, ran) = run(&site, &["watch", "-n", "--syslog-socket", &socket]);
        ran.expect(64)
            .one_error("watch acts: -n/--check goes with run, check or pull");
    }
    syslog.sync();
    assert!(syslog.entries().is_empty(), "{}", syslog.render());
}
