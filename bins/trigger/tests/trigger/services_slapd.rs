//! The shipped slapd definition against a real slapd (Debian 12, slapd
//! 2.5.13) configured from slapd.conf: its files found in slapd.conf, what
//! slapd does when asked to reload (SIGHUP stops it), that a certificate
//! replaced under the same file name is not served until a restart, and
//! the definition's restart on the field rule (a file newer than the pid
//! file), seen over LDAP StartTLS by certdrop-probe.
//!
//! The post-flight is left out (`postflight = []`) until the trigger's
//! post-flight speaks StartTLS (the `protocol` key); then it belongs here
//! as `[{ connect = ..., sni = ..., protocol = "ldap" }]`.

use std::net::TcpStream;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use certdrop_testkit::free_port;
use certdrop_testkit::slapd::Slapd;
use certdrop_testkit::within;

use crate::harness::{Tree, PUBLISHED};
use crate::services::{assert_serves, discover_file, quoted, served, shipped, PidFile};

/// How long slapd may take to stop.
const STOP: Duration = Duration::from_secs(10);

/// The shipped definition with this slapd's slapd.conf, and a restart
/// that stops it, waits until it is gone (a zombie of the test's own
/// child counts as gone) and starts it again as a daemon.
fn site(slapd: &Slapd) -> String {
    let conf = slapd.dir.join("slapd.conf");
    let restart = format!(
        "pid=$(cat {{pidfile}}); kill $pid; \
         while ps -o stat= -p $pid | grep -q '^[^Z]'; do sleep 0.05; done; \
         slapd -h ldap://127.0.0.1:{}/ -f {}",
        slapd.port,
        conf.display()
    );
    shipped(
        "slapd",
        &[
            ("discover", discover_file("slapd", &conf)),
            (
                "pidfile",
                quoted(&slapd.dir.join("slapd.pid").display().to_string()),
            ),
            (
                "preflight",
                quoted(&format!("slaptest -u -f {}", conf.display())),
            ),
            ("restart", quoted(&restart)),
            ("postflight", "[]".to_string()),
        ],
    )
}

#[test]
fn slapd_has_no_reload_sighup_stops_it() {
    let tree = Tree::new();
    tree.issue();
    let (cert, key) = (tree.path(PUBLISHED), tree.path("keys/www.pem"));
    let slapd = Slapd::start(&tree.path("slapd"), free_port(), &cert, &key);
    kill(Pid::from_raw(slapd.pid()), Signal::SIGHUP).expect("SIGHUP");
    assert!(
        within(STOP, || TcpStream::connect(slapd.addr()).is_err()),
        "slapd still listens after SIGHUP: {}",
        slapd.log()
    );
}

#[test]
fn slapd_restart_on_a_file_newer_than_its_pid_file_serves_the_new_certificate() {
    let tree = Tree::new();
    let first = tree.issue();
    let (cert, key) = (tree.path(PUBLISHED), tree.path("keys/www.pem"));
    let slapd = Slapd::start(&tree.path("slapd"), free_port(), &cert, &key);
    let pidfile = slapd.dir.join("slapd.pid");
    // The daemon the restart starts, stopped at the end.
    let _restarted = PidFile(pidfile.clone());
    assert!(within(STOP, || pidfile.exists()), "no pid file");
    tree.config(&site(&slapd));
    // Started after the files were published: not due.
    let ran = tree.run(&["-vv", "run"]).expect(2);
    ran.stderr_has(&format!(
        "www: found {} key {}",
        cert.display(),
        key.display()
    ));
    assert_serves(slapd.addr(), Some("ldap"), &first.der, "slapd");

    // A renewal under the same file name: slapd keeps what it read at start.
    let second = tree.issue();
    assert_eq!(served(slapd.addr(), Some("ldap")), Some(first.der.clone()));
    let ran = tree.run(&["run"]).expect(0);
    ran.stdout_starts("www: restarted");
    ran.stdout_has("newer than");
    assert_serves(slapd.addr(), Some("ldap"), &second.der, "slapd");
    assert_ne!(
        std::fs::read_to_string(&pidfile).expect("pid file").trim(),
        slapd.pid().to_string(),
        "a new slapd"
    );
    tree.run(&["run"]).expect(2).silent();
}
