//! A real prosody (XMPP) on loopback: client-to-server and
//! server-to-server listeners on 127.0.0.1, both requiring STARTTLS, for
//! one virtual host, configured by a prosody.cfg.lua in a directory of the
//! test's tree (`prosody --config FILE`), in the foreground as a tracked
//! child, stopped on drop. Ready when both ports accept a connection.
//!
//! Facts found running it (Debian 12, prosody 0.12.3): `--config` takes
//! the file; without the `posix` module it neither daemonizes nor
//! switches user, so it stays a child that reads files anywhere in the
//! tree; it prints a banner about lua-unbound on stdout at every start
//! (harmless: the old resolver is used); every listener it would open by
//! default (direct TLS, HTTP, components) is set to no ports; a stream to
//! a host it does not serve gets `<host-unknown/>`.

use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::wait::within;

/// How long prosody may take to listen, and to stop.
const READY: Duration = Duration::from_secs(15);

/// The virtual host [`Prosody::start`] serves.
pub const DOMAIN: &str = "xmpp.example.test";

/// The ports prosody listens on (127.0.0.1).
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    /// Client-to-server (5222's role).
    pub c2s: u16,
    /// Server-to-server (5269's role).
    pub s2s: u16,
}

/// A running prosody.
pub struct Prosody {
    /// Its directory: prosody.cfg.lua, data/, certs/, prosody.log, out.log.
    pub dir: PathBuf,
    /// Its ports.
    pub ports: Ports,
    child: Child,
}

impl Prosody {
    /// prosody in `dir` serving [`DOMAIN`] on `ports` with `cert` (the
    /// chain, leaf first) and `key`.
    pub fn start(dir: &Path, ports: Ports, cert: &Path, key: &Path) -> Prosody {
        Prosody::for_domain(dir, DOMAIN, ports, cert, key)
    }

    /// The same for the virtual host `domain`.
    pub fn for_domain(dir: &Path, domain: &str, ports: Ports, cert: &Path, key: &Path) -> Prosody {
        write_conf(dir, domain, ports, cert, key);
        let out = File::create(dir.join("out.log")).expect("out.log");
        let child = Command::new("prosody")
            .arg("--config")
            .arg(dir.join("prosody.cfg.lua"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("out.log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start prosody (is it installed?): {e}"));
        let mut prosody = Prosody {
            dir: dir.to_path_buf(),
            ports,
            child,
        };
        let mut exited = false;
        let up = within(READY, || {
            exited = prosody.child.try_wait().ok().flatten().is_some();
            exited
                || [ports.c2s, ports.s2s]
                    .iter()
                    .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
        });
        assert!(up && !exited, "prosody did not start: {}", prosody.log());
        prosody
    }

    /// Its pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// prosody's log so far, then what it printed.
    pub fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        format!("{}{}", read("prosody.log"), read("out.log"))
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.pid()), Signal::SIGTERM);
        let child = &mut self.child;
        within(READY, || child.try_wait().ok().flatten().is_some());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Write `dir/prosody.cfg.lua` and make its directories.
fn write_conf(dir: &Path, domain: &str, ports: Ports, cert: &Path, key: &Path) {
    for sub in ["data", "certs"] {
        std::fs::create_dir_all(dir.join(sub)).expect("prosody dir");
    }
    let d = dir.display();
    let conf = format!(
        "daemonize = false\n\
         data_path = \"{d}/data\"\n\
         certificates = \"{d}/certs\"\n\
         log = {{ info = \"{d}/prosody.log\" }}\n\
         interfaces = {{ \"127.0.0.1\" }}\n\
         local_interfaces = {{ \"127.0.0.1\" }}\n\
         c2s_ports = {{ {} }}\n\
         s2s_ports = {{ {} }}\n\
         c2s_direct_tls_ports = {{ }}\n\
         s2s_direct_tls_ports = {{ }}\n\
         legacy_ssl_ports = {{ }}\n\
         http_ports = {{ }}\n\
         https_ports = {{ }}\n\
         component_ports = {{ }}\n\
         modules_enabled = {{ \"tls\", \"saslauth\", \"dialback\", \"disco\" }}\n\
         modules_disabled = {{ \"posix\" }}\n\
         c2s_require_encryption = true\n\
         s2s_require_encryption = true\n\
         ssl = {{ certificate = \"{}\", key = \"{}\" }}\n\
         VirtualHost \"{domain}\"\n",
        ports.c2s,
        ports.s2s,
        cert.display(),
        key.display()
    );
    std::fs::write(dir.join("prosody.cfg.lua"), conf).expect("prosody.cfg.lua");
}
