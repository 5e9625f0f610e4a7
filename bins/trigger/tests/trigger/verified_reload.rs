//! The verified reload (issue 13) against a real nginx: a definition with
//! both a reload and a restart. A reload that is taken is said as
//! "reloaded, served"; a reload that nginx accepts but that does not make
//! it re-read its certificate (SIGUSR1: reopen the logs) is followed by
//! the real restart; when the restart does not take it either, the
//! installed files go back. A TLS 1.3-only nginx is checked like any
//! other, an endpoint's protocol is the one the probe speaks, a service
//! without a post-flight endpoint says that nothing was checked, and `-n`
//! refuses the pid-file rule with a reload in front of the restart.

use certdrop_testkit::free_port;
use certdrop_testkit::nginx::Server;

use crate::harness::{Tree, NAME, PUBLISHED};
use crate::nginx::{service, serving, serving_www, Nginx, Serves, HUP};

/// A command nginx accepts that does not make it re-read its
/// certificates: SIGUSR1 only reopens the log files.
const REOPEN_LOGS: &str = "kill -USR1 $(cat {pidfile})";

/// The service body for `nginx` deploying `cert` (content-changed): `reload`
/// first, `restart` when the reload is not taken, post-flight on its port.
fn both(nginx: &Nginx, cert: &str, reload: &str, restart: &str) -> String {
    format!(
        "{}restart = \"{restart}\"\n",
        service(nginx, cert, "reload", reload, "content-changed")
    )
}

/// The same, installing pub/www/fullchain.pem to srv/www.pem first.
fn installing(nginx: &Nginx, reload: &str, restart: &str) -> String {
    format!(
        "{}install = [{{ from = \"fullchain.pem\", to = \"srv/www.pem\" }}]\n",
        both(nginx, "srv/www.pem", reload, restart)
    )
}

/// Write trigger.toml for `service` with postflight_wait `wait`: the time
/// a reload is given before it is called not taken, kept short so that the
/// tests that wait it out stay quick (nginx serves a new certificate well
/// within it after a SIGHUP, and the port is up at once after a restart
/// command that returns when nginx has started).
fn config(tree: &Tree, service: &str, wait: &str) {
    let path = tree.config(service);
    let text = std::fs::read_to_string(&path).expect("trigger.toml");
    assert!(text.contains("postflight_wait = \"5s\""), "{text}");
    let text = text.replace(
        "postflight_wait = \"5s\"",
        &format!("postflight_wait = \"{wait}\""),
    );
    std::fs::write(&path, text).expect("trigger.toml");
}

#[test]
fn a_reload_that_is_taken_is_reloaded_served_and_no_restart_follows() {
    let tree = Tree::new();
    tree.issue();
    let nginx = serving_www(&tree);
    config(
        &tree,
        &both(&nginx, PUBLISHED, HUP, &nginx.restart_command()),
        "5s",
    );
    tree.run(&["run"]).expect(0);
    let pid = nginx.pid();
    let second = tree.issue();
    let ran = tree.run(&["check"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: would reload (restart if not taken): content changed since the last deployment \
         (content-changed)\n"
    );
    let ran = tree.run(&["run"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: reloaded, served: content changed since the last deployment (content-changed)\n"
    );
    assert!(ran.stderr.is_empty(), "{}", ran.stderr);
    nginx.assert_serves(&second.der);
    assert_eq!(nginx.pid(), pid, "no restart after a reload that was taken");
    tree.run(&["run"]).expect(2).silent();
}

#[test]
fn a_reload_that_is_not_taken_is_followed_by_the_restart() {
    let tree = Tree::new();
    let first = tree.issue();
    let nginx = serving_www(&tree);
    config(
        &tree,
        &both(&nginx, PUBLISHED, REOPEN_LOGS, &nginx.restart_command()),
        "2s",
    );
    // The first deployment: nginx already serves these files.
    let ran = tree.run(&["run"]).expect(0);
    ran.stdout_starts("www: reloaded, served: no deployment recorded yet");
    assert_eq!(nginx.served(), first.der);
    let pid = nginx.pid();
    let second = tree.issue();
    let ran = tree.run(&["run", "-v"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: reload not taken, restarted, served: content changed since the last deployment \
         (content-changed)\n"
    );
    // -v says what the reload left served.
    ran.stderr_has(&format!(
        "www: reload not taken: {} ({NAME}): serves serial {}",
        nginx.addr(),
        serial(&first.der)
    ));
    assert_eq!(nginx.served(), second.der, "the restart took it");
    assert_ne!(nginx.pid(), pid, "restarted");
    tree.run(&["run"]).expect(2).silent();

    // A reload command that fails is followed by the restart too.
    config(
        &tree,
        &both(&nginx, PUBLISHED, "exit 3", &nginx.restart_command()),
        "2s",
    );
    let third = tree.issue();
    let ran = tree.run(&["run"]).expect(0);
    ran.stdout_starts("www: reload failed, restarted, served: content changed");
    assert_eq!(nginx.served(), third.der);
}

#[test]
fn when_neither_takes_the_previous_files_go_back_in_one_line() {
    let tree = Tree::new();
    let first = tree.issue();
    let target = tree.path("srv/www.pem");
    std::fs::copy(tree.path(PUBLISHED), &target).expect("bootstrap");
    let nginx = serving(&tree, &target);
    // A restart that does not restart: nothing takes the new certificate.
    config(&tree, &installing(&nginx, REOPEN_LOGS, "true"), "1s");
    tree.run(&["run"])
        .expect(0)
        .stdout_starts("www: reloaded, served: no deployment recorded yet");
    let before = std::fs::read(&target).expect("target");
    let second = tree.issue();
    let ran = tree.run(&["run"]).expect(69);
    let line = ran.stderr.trim_end().to_string();
    ran.one_error("www: rolled back: reload not taken, restart not taken: ");
    let served = format!(
        "{} ({NAME}): serves serial {}",
        nginx.addr(),
        serial(&first.der)
    );
    assert!(line.contains(&served), "{line}");
    assert!(
        line.contains(&format!("not the deployed serial {}", serial(&second.der))),
        "{line}"
    );
    assert!(
        line.ends_with("; previous files restored, reloaded, served"),
        "{line}"
    );
    assert_eq!(
        std::fs::read(&target).expect("target"),
        before,
        "old files back"
    );
    assert_eq!(nginx.served(), first.der);
}

#[test]
fn a_tls13_only_nginx_is_checked_like_any_other() {
    let tree = Tree::new();
    tree.issue();
    let port = free_port();
    let nginx = Nginx::daemon(
        &tree.path(&format!("nginx-{port}")),
        &[Server::new(
            port,
            NAME,
            &tree.path(PUBLISHED),
            &tree.path("keys/www.pem"),
        )
        .protocols("TLSv1.3")],
    );
    config(
        &tree,
        &both(&nginx, PUBLISHED, HUP, &nginx.restart_command()),
        "5s",
    );
    tree.run(&["run"])
        .expect(0)
        .stdout_starts("www: reloaded, served: no deployment recorded yet");
    let second = tree.issue();
    let ran = tree.run(&["run"]).expect(0);
    ran.stdout_starts("www: reloaded, served: content changed");
    nginx.assert_serves(&second.der);
}

#[test]
fn an_endpoint_protocol_reaches_the_probe() {
    // No SMTP server here (the probe's own tests run postfix): the TLS
    // nginx probed as SMTP never says 220, and the line names the
    // protocol that was spoken, after the reload and after the restart.
    let tree = Tree::new();
    tree.issue();
    let nginx = serving_www(&tree);
    let body = both(&nginx, PUBLISHED, HUP, &nginx.restart_command()).replace(
        &format!("sni = \"{NAME}\" }}]"),
        &format!("sni = \"{NAME}\", protocol = \"smtp\" }}]"),
    );
    assert!(body.contains("protocol = \"smtp\""), "{body}");
    config(&tree, &body, "1s");
    let ran = tree.run(&["run"]).expect(69);
    let line = ran.stderr.clone();
    ran.one_error(&format!(
        "www: reload not taken, restart not taken: {} ({NAME}): ",
        nginx.addr()
    ));
    assert!(line.contains("smtp: "), "{line}");
}

#[test]
fn without_a_postflight_endpoint_the_outcome_says_nothing_was_checked() {
    let tree = Tree::new();
    tree.issue();
    let nginx = serving_www(&tree);
    let body = both(&nginx, PUBLISHED, HUP, &nginx.restart_command());
    let body: String = body
        .lines()
        .filter(|l| !l.starts_with("postflight"))
        .map(|l| format!("{l}\n"))
        .collect();
    config(&tree, &body, "5s");
    let ran = tree.run(&["run"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: reloaded (not checked: no postflight endpoint): no deployment recorded yet \
         (content-changed)\n"
    );
}

#[test]
fn check_refuses_the_pid_file_rule_with_a_reload_in_front() {
    let tree = Tree::new();
    tree.issue();
    let pidfile = tree.path("srv/x.pid");
    tree.config(&format!(
        "files = [{{ cert = \"{PUBLISHED}\", key = \"keys/www.pem\" }}]\n\
         pidfile = \"{}\"\nrule = \"newer-than-pidfile\"\nreload = \"true\"\nrestart = \"true\"\n",
        pidfile.display()
    ));
    tree.run(&["-n"])
        .expect(78)
        .one_error("rule: newer-than-pidfile needs restart alone");
    // As a restart alone it is accepted.
    tree.config(&format!(
        "files = [{{ cert = \"{PUBLISHED}\", key = \"keys/www.pem\" }}]\n\
         pidfile = \"{}\"\nrule = \"newer-than-pidfile\"\nrestart = \"true\"\n",
        pidfile.display()
    ));
    tree.run(&["-n"]).expect(0);
}

/// A certificate's serial as the trigger prints it.
fn serial(der: &[u8]) -> String {
    certdrop_core::certinfo::parse_der(der)
        .expect("certificate")
        .serial
}
