//! The verified reload over STARTTLS: a real postfix (certdrop-testkit's,
//! one smtpd on a free loopback port) checked with `protocol = "smtp"`.
//! Its reload is seen taken over SMTP; a reload that does nothing leaves
//! the smtpd that is already running serving the old certificate (an smtpd
//! process loads it once and serves many sessions), so the post-flight
//! check sees it not taken, and the step behind it takes it.

use std::net::SocketAddr;
use std::time::Duration;

use certdrop_probe::{Limits, Protocol, Target};
use certdrop_testkit::free_port;
use certdrop_testkit::postfix::Postfix;

use crate::harness::{Tree, NAME, PUBLISHED};

/// The leaf postfix serves at `addr` after STARTTLS, DER.
fn smtp_leaf(addr: SocketAddr) -> Vec<u8> {
    let target = Target {
        connect: addr,
        server_name: NAME,
        protocol: Protocol::Smtp,
    };
    let limits = Limits {
        timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    certdrop_probe::fetch_chain(&target, &limits)
        .expect("SMTP STARTTLS probe")
        .certs[0]
        .clone()
}

/// The service body for postfix deploying the published files: `reload`,
/// then `restart` when given, checked over SMTP STARTTLS.
fn service(postfix: &Postfix, reload: &str, restart: Option<&str>) -> String {
    let restart = restart.map_or(String::new(), |r| format!("restart = \"{r}\"\n"));
    format!(
        "files = [{{ cert = \"{PUBLISHED}\", key = \"keys/www.pem\" }}]\n\
         rule = \"content-changed\"\nreload = \"{reload}\"\n{restart}\
         postflight = [{{ connect = \"{}\", sni = \"{NAME}\", protocol = \"smtp\" }}]\n",
        postfix.addr()
    )
}

/// trigger.toml for `service` with postflight_wait `wait`.
fn config(tree: &Tree, service: &str, wait: &str) {
    let path = tree.config(service);
    let text = std::fs::read_to_string(&path).expect("trigger.toml");
    let text = text.replace(
        "postflight_wait = \"5s\"",
        &format!("postflight_wait = \"{wait}\""),
    );
    std::fs::write(&path, text).expect("trigger.toml");
}

#[test]
fn postfix_is_checked_over_smtp_starttls_and_a_reload_not_taken_is_seen() {
    let tree = Tree::new();
    let first = tree.issue();
    let port = free_port();
    let postfix = Postfix::start(
        &tree.path(&format!("postfix-{port}")),
        port,
        &tree.path(PUBLISHED),
        &tree.path("keys/www.pem"),
    );
    assert_eq!(smtp_leaf(postfix.addr()), first.der);
    config(
        &tree,
        &service(&postfix, &postfix.reload_command(), None),
        "5s",
    );
    tree.run(&["run"])
        .expect(0)
        .stdout_starts("www: reloaded, served: no deployment recorded yet");

    // A renewal: postfix reload is taken, as seen over SMTP.
    let second = tree.issue();
    let ran = tree.run(&["run"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: reloaded, served: content changed since the last deployment (content-changed)\n"
    );
    assert_eq!(smtp_leaf(postfix.addr()), second.der);

    // A reload that does nothing: the running smtpd keeps the old
    // certificate. Behind it, the step that makes postfix re-read (the
    // harness owns the foreground master, so postfix's own reload stands
    // in for the restart here: what is tested is the step after a reload
    // not taken, over STARTTLS).
    config(
        &tree,
        &service(&postfix, "true", Some(&postfix.reload_command())),
        "2s",
    );
    let third = tree.issue();
    let ran = tree.run(&["run", "-v"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: reload not taken, restarted, served: content changed since the last deployment \
         (content-changed)\n"
    );
    let serial = certdrop_core::certinfo::parse_der(&second.der)
        .expect("certificate")
        .serial;
    ran.stderr_has(&format!(
        "www: reload not taken: {} ({NAME}): smtp: serves serial {serial}",
        postfix.addr()
    ));
    assert_eq!(smtp_leaf(postfix.addr()), third.der);
}
