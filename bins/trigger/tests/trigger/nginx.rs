//! The nginx the trigger deploys to: certdrop-testkit's daemonized nginx
//! (a master process, so SIGHUP reloads it and a restart writes a new pid
//! file) serving pub/www/fullchain.pem with keys/www.pem, what it serves
//! read with certdrop-probe, and the service definitions around it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub use certdrop_testkit::nginx::Nginx;
use certdrop_testkit::nginx::Server;
use certdrop_testkit::{free_port, wait_for};

use crate::harness::{Tree, NAME, PUBLISHED};

/// nginx serving pub/www/fullchain.pem with keys/www.pem on a free port,
/// in nginx-PORT/ of the tree.
pub fn serving_www(tree: &Tree) -> Nginx {
    serving(tree, &tree.path("pub/www/fullchain.pem"))
}

/// nginx serving `cert` with keys/www.pem on a free port, in nginx-PORT/.
pub fn serving(tree: &Tree, cert: &Path) -> Nginx {
    let port = free_port();
    Nginx::daemon(
        &tree.path(&format!("nginx-{port}")),
        &[Server::new(port, NAME, cert, &tree.path("keys/www.pem"))],
    )
}

/// How nginx reloads: SIGHUP to the pid in its pid file.
pub const HUP: &str = "kill -HUP $(cat {pidfile})";

/// The service body for `nginx` deploying `cert` with keys/www.pem: its
/// pid file, the `nginx -t` pre-flight, `verb` (reload or restart) by
/// `command` when `rule` says so, and a post-flight on its port.
pub fn service(nginx: &Nginx, cert: &str, verb: &str, command: &str, rule: &str) -> String {
    format!(
        "files = [{{ cert = \"{cert}\", key = \"keys/www.pem\" }}]\n\
         pidfile = \"{}\"\npreflight = \"{}\"\n{verb} = \"{command}\"\n\
         rule = \"{rule}\"\npostflight = [{{ connect = \"{}\", sni = \"{NAME}\" }}]\n",
        nginx.pidfile().display(),
        nginx.test_command(),
        nginx.addr()
    )
}

/// The service body for `nginx` deploying the published files as they
/// are: reloaded by SIGHUP when their content changed.
pub fn reload_files(nginx: &Nginx) -> String {
    service(nginx, PUBLISHED, "reload", HUP, "content-changed")
}

/// The leaf served at `addr` for `name` (implicit TLS, 1.2 or 1.3), DER.
pub fn leaf(addr: SocketAddr, name: &str) -> Vec<u8> {
    let target = certdrop_probe::Target {
        connect: addr,
        server_name: name,
        protocol: certdrop_probe::Protocol::Tls,
    };
    let limits = certdrop_probe::Limits {
        timeout: Duration::from_secs(5),
        ..certdrop_probe::Limits::default()
    };
    let served = certdrop_probe::fetch_chain(&target, &limits).expect("TLS probe");
    served.certs[0].clone()
}

/// What nginx serves.
pub trait Serves {
    /// The leaf nginx serves for NAME, DER.
    fn served(&self) -> Vec<u8>;
    /// Wait until the leaf served is `want` (a reload takes a moment).
    fn assert_serves(&self, want: &[u8]);
}

impl Serves for Nginx {
    fn served(&self) -> Vec<u8> {
        leaf(self.addr(), NAME)
    }

    #[track_caller]
    fn assert_serves(&self, want: &[u8]) {
        assert!(
            wait_for(Duration::from_secs(5), || (self.served() == want)
                .then_some(()))
            .is_some(),
            "nginx serves another certificate"
        );
    }
}
