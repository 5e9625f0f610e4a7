//! The shipped dovecot definition against a real dovecot (Debian 12,
//! dovecot 2.3.19): its files found in `doveconf -n -P` of the test's
//! configuration (without -P doveconf hides the key), and what dovecot
//! does with a certificate replaced under the same file name: the old one
//! is served until `doveadm reload`, the new one after it, over IMAP and
//! POP3 STARTTLS as certdrop-probe sees them.
//!
//! The post-flight is left out (`postflight = []`) until the trigger's
//! post-flight speaks STARTTLS (the `protocol` key); then it belongs here
//! as `[{ connect = ..., sni = ..., protocol = "imap" }]`.

use certdrop_testkit::dovecot::{Dovecot, Ports};
use certdrop_testkit::free_port;

use crate::harness::{Tree, PUBLISHED};
use crate::services::{assert_serves, discover_command, quoted, served, shipped};

/// The shipped definition with this dovecot's configuration.
fn site(dovecot: &Dovecot) -> String {
    let conf = dovecot.conf();
    shipped(
        "dovecot",
        &[
            (
                "discover",
                discover_command("dovecot", &format!("doveconf -n -P -c {}", conf.display())),
            ),
            (
                "pidfile",
                quoted(&dovecot.dir.join("run/master.pid").display().to_string()),
            ),
            (
                "preflight",
                quoted(&format!("doveconf -n -c {} >/dev/null", conf.display())),
            ),
            ("reload", quoted(&dovecot.reload_command())),
            ("postflight", "[]".to_string()),
        ],
    )
}

#[test]
fn dovecot_reload_takes_a_new_certificate_at_the_same_path() {
    let tree = Tree::new();
    let first = tree.issue();
    let (cert, key) = (tree.path(PUBLISHED), tree.path("keys/www.pem"));
    let ports = Ports {
        imap: free_port(),
        pop3: free_port(),
        sieve: free_port(),
    };
    let dovecot = Dovecot::start(&tree.path("dovecot"), ports, &cert, &key);
    let imap = std::net::SocketAddr::from(([127, 0, 0, 1], ports.imap));
    let pop3 = std::net::SocketAddr::from(([127, 0, 0, 1], ports.pop3));
    // Why the definition asks for -P: plain -n hides the key file, and
    // discovery says so.
    let plain = format!("doveconf -n -c {}", dovecot.conf().display());
    tree.config(&site(&dovecot).replace(&plain.replace("-n", "-n -P"), &plain));
    tree.run(&["check"])
        .expect(78)
        .stderr_has("doveconf hides the key (`ssl_key = # hidden, use -P to show it`)");

    tree.config(&site(&dovecot));
    let ran = tree.run(&["-vv", "run"]).expect(0);
    ran.stdout_starts("www: reloaded");
    ran.stderr_has(&format!(
        "www: found {} key {}",
        cert.display(),
        key.display()
    ));
    assert_serves(imap, Some("imap"), &first.der, "dovecot imap");

    let pid = dovecot.pid();
    let second = tree.issue();
    assert_eq!(served(imap, Some("imap")), Some(first.der.clone()));
    assert_eq!(served(pop3, Some("pop3")), Some(first.der.clone()));
    let ran = tree.run(&["run"]).expect(0);
    ran.stdout_starts("www: reloaded");
    ran.stdout_has("content changed");
    assert_serves(imap, Some("imap"), &second.der, "dovecot imap");
    assert_serves(pop3, Some("pop3"), &second.der, "dovecot pop3");
    assert_eq!(dovecot.pid(), pid, "a reload keeps the master");
    tree.run(&["run"]).expect(2).silent();
}
