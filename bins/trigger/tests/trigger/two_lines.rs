//! One nginx serving two lines (issue 12, item 13): `nginx -T` lists both
//! lines' files. A service deploys only its own line's; a file of a line
//! no service has is refused with how to split the service.

use std::path::Path;

use certdrop_testkit::free_port;
use certdrop_testkit::nginx::{Nginx, Server};

use crate::harness::{Tree, NAME};
use crate::nginx::{Serves, HUP};

/// The second line's name.
const WEB: &str = "web.example.test";

/// trigger.toml with `services` after the harness's header.
fn config(tree: &Tree, services: &str) {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy-triggers");
    tree.write(
        "trigger.toml",
        &format!(
            "pub = \"pub\"\nstate = \"state\"\ndefinitions = [\"{}\"]\n\
             allowed_signers = \"allowed_signers\"\npostflight_wait = \"5s\"\n\n{services}",
            shipped.display()
        ),
    );
}

/// A [[service]] for `line` on `nginx`, files found by `nginx -T`.
fn service(nginx: &Nginx, line: &str, name: &str, port: u16) -> String {
    format!(
        "[[service]]\nname = \"{line}\"\nline = \"{line}\"\nnames = [\"{name}\"]\n\
         definition = \"nginx\"\ndiscover = {{ parser = \"nginx\", command = \"{}\" }}\n\
         pidfile = \"{}\"\npreflight = \"{}\"\nreload = \"{HUP}\"\n\
         postflight = [{{ connect = \"127.0.0.1:{port}\", sni = \"{name}\" }}]\n\n",
        nginx.test_command().replace("-t -q", "-T"),
        nginx.pidfile().display(),
        nginx.test_command(),
    )
}

/// The leaf served on `port` for `name`.
fn served(port: u16, name: &str) -> Vec<u8> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    crate::nginx::leaf(addr, name)
}

#[test]
fn each_line_goes_to_its_own_service_or_is_refused_with_the_way_out() {
    let tree = Tree::new();
    let www = tree.issue();
    let web = tree.valid("web", WEB);
    tree.publish("web", &web);
    let (p1, p2) = (free_port(), free_port());
    let nginx = Nginx::daemon(
        &tree.path("nginx"),
        &[
            Server::new(
                p1,
                NAME,
                &tree.path("pub/www/fullchain.pem"),
                &tree.path("keys/www.pem"),
            ),
            Server::new(
                p2,
                WEB,
                &tree.path("pub/web/fullchain.pem"),
                &tree.path("keys/web.pem"),
            ),
        ],
    );
    let pid = nginx.pid();
    // One service for both lines: refused, saying how to split it.
    config(&tree, &service(&nginx, "www", NAME, p1));
    for command in ["run", "check"] {
        tree.run(&[command]).expect(78).one_error(&format!(
            "www: discover: {}: is line 'web', not 'www': the service serves more than one line; \
             give each its own [[service]] (line = \"web\"",
            tree.path("pub/web/fullchain.pem").display()
        ));
    }
    assert!(!tree.path("state/www.json").exists(), "nothing deployed");
    assert_eq!(nginx.pid(), pid);
    // Split: each service deploys its own line.
    config(
        &tree,
        &format!(
            "{}{}",
            service(&nginx, "www", NAME, p1),
            service(&nginx, "web", WEB, p2)
        ),
    );
    let ran = tree.run(&["run"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: reloaded, served: no deployment recorded yet (content-changed)\n\
         web: reloaded, served: no deployment recorded yet (content-changed)\n"
    );
    assert!(ran.stderr.is_empty(), "{}", ran.stderr);
    assert_eq!(served(p1, NAME), www.der);
    assert_eq!(served(p2, WEB), web.der);
    tree.run(&["run"]).expect(2).silent();
    // A renewal of one line reloads for that line only.
    let renewed = tree.valid("web", WEB);
    tree.publish("web", &renewed);
    let ran = tree.run(&["run"]).expect(0);
    assert_eq!(
        ran.stdout,
        "web: reloaded, served: content changed since the last deployment (content-changed)\n"
    );
    assert!(
        certdrop_testkit::wait_for(std::time::Duration::from_secs(5), || (served(p2, WEB)
            == renewed.der)
            .then_some(()))
        .is_some(),
        "nginx serves the renewed certificate"
    );
    nginx.assert_serves(&www.der);
}
