//! The shipped dovecot definition against a real dovecot (Debian 12,
//! dovecot 2.3.19): its files found in `doveconf -n -P` of the test's
//! configuration (without -P doveconf hides the key), and what dovecot
//! does with a certificate replaced under the same file name: the old one
//! is served until `doveadm reload`, the new one after it. The trigger's
//! post-flight checks the shipped endpoint's shape (imaps, implicit TLS,
//! the protocol a port without a usual one gets), IMAP STARTTLS and POP3
//! STLS, and certdrop-probe looks again on its own.

use std::net::SocketAddr;

use certdrop_testkit::dovecot::{Dovecot, Ports};
use certdrop_testkit::free_port;

use crate::harness::{Tree, PUBLISHED};
use crate::services::{
    assert_serves, discover_command, endpoints, first_run, quoted, served, shipped,
};

/// 127.0.0.1:`port`.
fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The shipped definition with this dovecot's configuration, checked on
/// imaps (no protocol key, as shipped for 993), IMAP and POP3.
fn site(dovecot: &Dovecot) -> String {
    let conf = dovecot.conf();
    let imaps = dovecot.imaps.expect("an imaps listener");
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
            (
                "postflight",
                endpoints(&[
                    (local(imaps), None),
                    (local(dovecot.ports.imap), Some("imap")),
                    (local(dovecot.ports.pop3), Some("pop3")),
                ]),
            ),
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
    let dovecot = Dovecot::with_imaps(&tree.path("dovecot"), ports, free_port(), &cert, &key);
    let imaps = local(dovecot.imaps.expect("imaps"));
    let (imap, pop3) = (local(ports.imap), local(ports.pop3));
    // Why the definition asks for -P: plain -n hides the key file, and
    // discovery says so.
    let plain = format!("doveconf -n -c {}", dovecot.conf().display());
    tree.config(&site(&dovecot).replace(&plain.replace("-n", "-n -P"), &plain));
    tree.run(&["check"])
        .expect(78)
        .stderr_has("doveconf hides the key (`ssl_key = # hidden, use -P to show it`)");

    tree.config(&site(&dovecot));
    first_run(
        &tree,
        (&cert, &key),
        (imaps, None),
        &first.der,
        "dovecot imaps",
    );

    let pid = dovecot.pid();
    let second = tree.issue();
    assert_eq!(served(imaps, None), Some(first.der.clone()));
    assert_eq!(served(imap, Some("imap")), Some(first.der.clone()));
    assert_eq!(served(pop3, Some("pop3")), Some(first.der.clone()));
    let ran = tree.run(&["run"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: reloaded, served: content changed since the last deployment (content-changed)\n"
    );
    assert_serves(imaps, None, &second.der, "dovecot imaps");
    assert_serves(imap, Some("imap"), &second.der, "dovecot imap");
    assert_serves(pop3, Some("pop3"), &second.der, "dovecot pop3");
    assert_eq!(dovecot.pid(), pid, "a reload keeps the master");
    tree.run(&["run"]).expect(2).silent();
}
