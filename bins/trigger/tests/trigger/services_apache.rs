//! The shipped apache definition against a real apache2 (Debian 12,
//! Apache 2.4): its files found in apache2's own `-t -D DUMP_INCLUDES`
//! listing (the virtual host in an included file), its reload (`-k
//! graceful`) taking a new certificate at the same file name, checked by
//! the post-flight and by certdrop-probe; and the restart behind the
//! reload: a reload that is not taken (one that does nothing) is followed
//! by a real restart (stop, start), which serves the new certificate.

use certdrop_testkit::apache::Apache;
use certdrop_testkit::free_port;

use crate::harness::{Tree, NAME, PUBLISHED};
use crate::services::{
    assert_serves, config_waiting, discover_command, first_run, postflight, quoted, served, shipped,
};

/// The shipped definition with this apache2's commands and port: its
/// graceful, and its restart behind it.
fn site(apache: &Apache) -> String {
    site_reloading(apache, &apache.graceful_command())
}

/// The same with `reload` for the graceful.
fn site_reloading(apache: &Apache, reload: &str) -> String {
    shipped(
        "apache",
        &[
            (
                "discover",
                discover_command("apache", &apache.includes_command()),
            ),
            ("pidfile", quoted(&apache.pidfile().display().to_string())),
            ("preflight", quoted(&apache.test_command())),
            ("reload", quoted(reload)),
            ("restart", quoted(&apache.restart_command())),
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
    first_run(
        &tree,
        (&cert, &key),
        (apache.addr(), None),
        &first.der,
        "apache2",
    );

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
        "graceful keeps the parent and its pid file: no restart after it"
    );
    tree.run(&["run"]).expect(2).silent();
}

#[test]
fn apache_restart_follows_a_reload_that_is_not_taken() {
    let tree = Tree::new();
    let first = tree.issue();
    let (cert, key) = (tree.path(PUBLISHED), tree.path("keys/www.pem"));
    let apache = Apache::start(&tree.path("apache"), free_port(), NAME, &cert, &key);
    // A reload that does nothing: apache2 keeps what it loaded. The
    // post-flight waits 2 s for it before the restart.
    config_waiting(&tree, &site_reloading(&apache, "true"), "2s");
    tree.run(&["run"])
        .expect(0)
        .stdout_starts("www: reloaded, served: no deployment recorded yet");
    let pid = apache.pid();
    let second = tree.issue();
    let ran = tree.run(&["-v", "run"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: reload not taken, restarted, served: content changed since the last deployment \
         (content-changed)\n"
    );
    let serial = certdrop_core::certinfo::parse_der(&first.der)
        .expect("certificate")
        .serial;
    ran.stderr_has(&format!(
        "www: reload not taken: {} ({NAME}): serves serial {serial}",
        apache.addr()
    ));
    assert_serves(apache.addr(), None, &second.der, "apache2");
    assert_ne!(apache.pid(), pid, "a new parent, a new pid file");
    tree.run(&["run"]).expect(2).silent();
}
