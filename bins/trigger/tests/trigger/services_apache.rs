//! The shipped apache definition against a real apache2 (Debian 12,
//! Apache 2.4): its files found in apache2's own `-t -D DUMP_INCLUDES`
//! listing (the virtual host in an included file), its reload (`-k
//! graceful`) taking a new certificate at the same file name, checked by
//! the post-flight and by openssl.

use certdrop_testkit::apache::Apache;
use certdrop_testkit::free_port;

use crate::harness::{Tree, NAME, PUBLISHED};
use crate::services::{assert_serves, discover_command, postflight, quoted, served, shipped};

/// The shipped definition with this apache2's commands and port.
fn site(apache: &Apache) -> String {
    shipped(
        "apache",
        &[
            (
                "discover",
                discover_command("apache", &apache.includes_command()),
            ),
            ("pidfile", quoted(&apache.pidfile().display().to_string())),
            ("preflight", quoted(&apache.test_command())),
            ("reload", quoted(&apache.graceful_command())),
            ("postflight", postflight(apache.addr())),
        ],
    )
}

#[test]
fn apache_graceful_takes_a_new_certificate_at_the_same_path() {
    let tree = Tree::new();
    let first = tree.issue();
    let (cert, key) = (tree.path(PUBLISHED), tree.path("keys/www.pem"));
    let port = free_port();
    let apache = Apache::start(&tree.path("apache"), port, NAME, &cert, &key);
    tree.config(&site(&apache));
    // Discovery reads the included site.conf that DUMP_INCLUDES lists.
    let ran = tree.run(&["-vv", "run"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: reloaded, served: no deployment recorded yet (content-changed)\n"
    );
    ran.stderr_has(&format!(
        "www: found {} key {}",
        cert.display(),
        key.display()
    ));
    assert_serves(apache.addr(), None, &first.der, "apache2");

    // A renewal under the same file name: apache2 keeps what it loaded
    // until told, and `-k graceful` makes it load the new one.
    let pid = apache.pid();
    let second = tree.issue();
    assert_eq!(served(apache.addr(), None), Some(first.der.clone()));
    let ran = tree.run(&["run"]).expect(0);
    ran.stdout_starts("www: reloaded, served: content changed");
    assert_serves(apache.addr(), None, &second.der, "apache2");
    assert_eq!(
        apache.pid(),
        pid,
        "graceful keeps the parent and its pid file"
    );
    tree.run(&["run"]).expect(2).silent();
}
