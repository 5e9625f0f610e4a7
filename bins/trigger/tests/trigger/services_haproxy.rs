//! The shipped haproxy definition against a real haproxy (Debian 12,
//! HAProxy 2.6, master-worker): its `crt` found in haproxy.cfg relative to
//! `crt-base`, the key beside it in `<crt>.key`, the certificate installed
//! under the same file name by `install`, and its reload (SIGUSR2 to the
//! master: a new worker reads every `crt` afresh) checked by the
//! post-flight and by openssl.

use certdrop_testkit::free_port;
use certdrop_testkit::haproxy::Haproxy;

use crate::harness::{Tree, PUBLISHED};
use crate::services::{
    assert_serves, discover_file, first_run, postflight, quoted, served, shipped,
};

/// The shipped definition with this haproxy's files, commands and port,
/// installing the published chain as `crt`.
fn site(haproxy: &Haproxy, crt: &str) -> String {
    shipped(
        "haproxy",
        &[
            ("discover", discover_file("haproxy", &haproxy.config())),
            ("pidfile", quoted(&haproxy.pidfile().display().to_string())),
            ("preflight", quoted(&haproxy.check_command())),
            ("reload", quoted(Haproxy::RELOAD)),
            ("postflight", postflight(haproxy.addr())),
            (
                "install",
                format!("[{{ from = \"fullchain.pem\", to = {} }}]", quoted(crt)),
            ),
        ],
    )
}

#[test]
fn haproxy_reload_takes_a_new_certificate_at_the_same_path() {
    let tree = Tree::new();
    let first = tree.issue();
    // As a site deploys it: the chain as the `crt`, its key beside it.
    let crt = tree.path("srv/www.pem");
    let key = tree.path("srv/www.pem.key");
    std::fs::copy(tree.path(PUBLISHED), &crt).expect("crt");
    std::fs::copy(tree.path("keys/www.pem"), &key).expect("key");
    let haproxy = Haproxy::start(&tree.path("haproxy"), free_port(), &crt);
    tree.config(&site(&haproxy, &crt.display().to_string()));
    first_run(
        &tree,
        (&crt, &key),
        (haproxy.addr(), None),
        &first.der,
        "haproxy",
    );

    // A renewal: installed over the `crt` (same name, new file); the
    // running worker keeps what it loaded, the reload's new worker loads it.
    let pid = haproxy.pid();
    let second = tree.issue();
    assert_eq!(served(haproxy.addr(), None), Some(first.der.clone()));
    let ran = tree.run(&["run"]).expect(0);
    ran.stdout_starts("www: reloaded, served: new files to install");
    assert_serves(haproxy.addr(), None, &second.der, "haproxy");
    assert_eq!(haproxy.pid(), pid, "the master stays, its pid file too");
    tree.run(&["run"]).expect(2).silent();
}
