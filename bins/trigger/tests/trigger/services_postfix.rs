//! The shipped postfix definition against a real postfix (Debian 12,
//! postfix 3.7): its files found in `postconf -n -x` of the test's
//! configuration directory, and what postfix does with a certificate
//! replaced under the same file name: an idle smtpd keeps serving the old
//! one, `postfix reload` makes the next connection get the new one, seen
//! over SMTP STARTTLS by the trigger's own post-flight (`protocol =
//! "smtp"`: the test's port is no 25) and by certdrop-probe.

use certdrop_testkit::free_port;
use certdrop_testkit::postfix::Postfix;

use crate::harness::{Tree, NAME, PUBLISHED};
use crate::services::{
    assert_serves, discover_command, endpoints, first_run, quoted, served, shipped,
};

/// The shipped definition with this postfix's configuration directory.
fn site(postfix: &Postfix) -> String {
    let conf = postfix.conf_dir();
    shipped(
        "postfix",
        &[
            (
                "discover",
                discover_command("postfix", &format!("postconf -c {} -n -x", conf.display())),
            ),
            (
                "pidfile",
                quoted(
                    &postfix
                        .dir
                        .join("queue/pid/master.pid")
                        .display()
                        .to_string(),
                ),
            ),
            // `postfix check` takes seconds (it runs postconf some twenty
            // times); postconf alone still fails on a broken main.cf.
            (
                "preflight",
                quoted(&format!("postconf -c {} -n >/dev/null", conf.display())),
            ),
            ("reload", quoted(&postfix.reload_command())),
            ("postflight", endpoints(&[(postfix.addr(), Some("smtp"))])),
        ],
    )
}

#[test]
fn postfix_reload_takes_a_new_certificate_an_idle_smtpd_does_not() {
    let tree = Tree::new();
    let first = tree.issue();
    let (cert, key) = (tree.path(PUBLISHED), tree.path("keys/www.pem"));
    let postfix = Postfix::start(&tree.path("postfix"), free_port(), &cert, &key);
    tree.config(&site(&postfix));
    first_run(
        &tree,
        (&cert, &key),
        (postfix.addr(), Some("smtp")),
        &first.der,
        "postfix",
    );

    // A renewal under the same file name: the smtpd that served the last
    // connection is idle, not gone, and serves the next one with what it
    // read when it started.
    let pid = postfix.pid();
    let second = tree.issue();
    assert_eq!(
        served(postfix.addr(), Some("smtp")),
        Some(first.der.clone()),
        "an idle smtpd re-read the certificate: {NAME} {}",
        postfix.log()
    );
    let ran = tree.run(&["run"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: reloaded, served: content changed since the last deployment (content-changed)\n"
    );
    assert_serves(postfix.addr(), Some("smtp"), &second.der, "postfix");
    assert_eq!(postfix.pid(), pid, "a reload keeps the master");
    tree.run(&["run"]).expect(2).silent();
}
