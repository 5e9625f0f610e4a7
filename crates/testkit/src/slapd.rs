//! A real OpenLDAP slapd on loopback: `ldap://127.0.0.1:PORT/` with
//! StartTLS (`TLSCertificateFile`, `TLSCertificateKeyFile`), configured by
//! a minimal slapd.conf (`-f`) in a directory of the test's tree, run in
//! the foreground (`-d 0`) as a tracked child, stopped on drop. Ready when
//! the port accepts a connection.
//!
//! Facts found running it (Debian 12, slapd 2.5 built with GnuTLS): no
//! database is needed to answer StartTLS and the root DSE; the
//! certificate file may hold the chain; as root and without `-u` it stays
//! root, so it reads files anywhere in the tree.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::wait::within;

/// How long slapd may take to listen, and to stop.
const READY: Duration = Duration::from_secs(15);

/// A running slapd.
pub struct Slapd {
    /// Its directory: slapd.conf, slapd.pid, slapd.log (its stderr).
    pub dir: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
}

impl Slapd {
    /// slapd in `dir` on 127.0.0.1:`port`, offering StartTLS with `cert`
    /// (the chain, leaf first) and `key`.
    pub fn start(dir: &Path, port: u16, cert: &Path, key: &Path) -> Slapd {
        Slapd::with(dir, port, Some((cert, key)))
    }

    /// slapd in `dir` on 127.0.0.1:`port` without TLS: it answers
    /// StartTLS with an error.
    pub fn without_tls(dir: &Path, port: u16) -> Slapd {
        Slapd::with(dir, port, None)
    }

    fn with(dir: &Path, port: u16, tls: Option<(&Path, &Path)>) -> Slapd {
        std::fs::create_dir_all(dir).expect("slapd dir");
        let d = dir.display();
        let mut conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             pidfile {d}/slapd.pid\n\
             argsfile {d}/slapd.args\n"
        );
        if let Some((cert, key)) = tls {
            conf.push_str(&format!(
                "TLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
                cert.display(),
                key.display()
            ));
        }
        std::fs::write(dir.join("slapd.conf"), conf).expect("slapd.conf");
        let log = File::create(dir.join("slapd.log")).expect("slapd.log");
        let child = Command::new("slapd")
            .args(["-d", "0", "-h"])
            .arg(format!("ldap://127.0.0.1:{port}/"))
            .arg("-f")
            .arg(dir.join("slapd.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start slapd (is it installed?): {e}"));
        let mut slapd = Slapd {
            dir: dir.to_path_buf(),
            port,
            child,
        };
        let mut exited = false;
        let up = within(READY, || {
            exited = slapd.child.try_wait().ok().flatten().is_some();
            exited || TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up && !exited, "slapd did not start: {}", slapd.log());
        slapd
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Its pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What slapd printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("slapd.log")).unwrap_or_default()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.pid()), Signal::SIGTERM);
        let child = &mut self.child;
        within(READY, || child.try_wait().ok().flatten().is_some());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
