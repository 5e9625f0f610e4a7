//! The shipped nghttpx definition against a real nghttpx (Debian 12,
//! nghttp2-proxy 1.52): its files found in its configuration file, and its
//! reload (SIGHUP to the master: new workers with the configuration read
//! again) taking a new certificate at the same file name, checked by the
//! post-flight and by openssl.

use certdrop_testkit::free_port;
use certdrop_testkit::nghttpx::Nghttpx;

use crate::harness::{Tree, PUBLISHED};
use crate::services::{
    assert_serves, discover_file, first_run, postflight, quoted, served, shipped,
};

/// The shipped definition with this nghttpx's configuration and port (its
/// own pre-flight, `nghttpx --version`, is kept).
fn site(nghttpx: &Nghttpx) -> String {
    shipped(
        "nghttpx",
        &[
            ("discover", discover_file("nghttpx", &nghttpx.config())),
            ("pidfile", quoted(&nghttpx.pidfile().display().to_string())),
            ("reload", quoted(Nghttpx::RELOAD)),
            ("postflight", postflight(nghttpx.addr())),
        ],
    )
}

#[test]
fn nghttpx_sighup_takes_a_new_certificate_at_the_same_path() {
    let tree = Tree::new();
    let first = tree.issue();
    let (cert, key) = (tree.path(PUBLISHED), tree.path("keys/www.pem"));
    let nghttpx = Nghttpx::start(&tree.path("nghttpx"), free_port(), &cert, &key);
    tree.config(&site(&nghttpx));
    first_run(
        &tree,
        (&cert, &key),
        (nghttpx.addr(), None),
        &first.der,
        "nghttpx",
    );

    let pid = nghttpx.pid();
    let second = tree.issue();
    assert_eq!(served(nghttpx.addr(), None), Some(first.der.clone()));
    let ran = tree.run(&["run"]).expect(0);
    ran.stdout_starts("www: reloaded, served: content changed");
    assert_serves(nghttpx.addr(), None, &second.der, "nghttpx");
    assert_eq!(nghttpx.pid(), pid, "the master stays, its pid file too");
    tree.run(&["run"]).expect(2).silent();
}
