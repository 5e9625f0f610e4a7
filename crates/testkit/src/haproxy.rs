//! A real HAProxy (Debian's `haproxy`, 2.6) on loopback terminating TLS,
//! in a directory of the test's tree: a configuration of its own in
//! master-worker mode (`crt-base` and a `crt` relative to it, as sites
//! write it), started with `haproxy -f CONF -p PIDFILE -D`. Its reload is
//! SIGUSR2 to the master (the pid in the pid file, which stays): the
//! master starts a new worker that reads the configuration and every
//! `crt` afresh. Ready when its port accepts a connection; stopped on drop
//! by SIGTERM to the master, which stops its workers.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::apache::pid_in;
use crate::run::sh;
use crate::wait::within;

/// How long haproxy may take to listen.
const READY: Duration = Duration::from_secs(10);

/// A running haproxy (its master).
pub struct Haproxy {
    /// Its directory: haproxy.cfg, haproxy.pid.
    pub dir: PathBuf,
    /// The port of its TLS frontend.
    pub port: u16,
}

impl Haproxy {
    /// haproxy in `dir` terminating TLS on 127.0.0.1:`port` with `crt` (a
    /// PEM file with the chain, and the key in it or in `<crt>.key`).
    pub fn start(dir: &Path, port: u16, crt: &Path) -> Haproxy {
        std::fs::create_dir_all(dir).expect("haproxy dir");
        let base = crt.parent().expect("crt has a directory");
        let name = crt.file_name().expect("crt has a name").to_string_lossy();
        let conf = format!(
            "global\n  master-worker\n  crt-base {}\n\
             defaults\n  mode http\n  timeout connect 5s\n  timeout client 5s\n  timeout server 5s\n\
             frontend www\n  bind 127.0.0.1:{port} ssl crt {name}\n  \
             http-request return status 200 content-type text/plain string ok\n",
            base.display()
        );
        std::fs::write(dir.join("haproxy.cfg"), conf).expect("haproxy.cfg");
        let haproxy = Haproxy {
            dir: dir.to_path_buf(),
            port,
        };
        sh(
            dir,
            &format!(
                "haproxy -f {} -p {} -D >{}/haproxy.log 2>&1",
                haproxy.config().display(),
                haproxy.pidfile().display(),
                dir.display()
            ),
        );
        let up = within(READY, || {
            haproxy.pidfile().exists() && TcpStream::connect(haproxy.addr()).is_ok()
        });
        assert!(up, "haproxy did not start: {}", haproxy.log());
        haproxy
    }

    /// The configuration file (what the definition's parser reads).
    pub fn config(&self) -> PathBuf {
        self.dir.join("haproxy.cfg")
    }

    /// Its reload: SIGUSR2 to the master (`{pidfile}` is left for
    /// certdrop-trigger to fill).
    pub const RELOAD: &'static str = "kill -USR2 $(cat {pidfile})";

    /// Its configuration check, which loads every certificate (a pre-flight).
    pub fn check_command(&self) -> String {
        format!("haproxy -c -q -f {}", self.config().display())
    }

    /// The pid file.
    pub fn pidfile(&self) -> PathBuf {
        self.dir.join("haproxy.pid")
    }

    /// The master's pid.
    pub fn pid(&self) -> i32 {
        pid_in(&self.pidfile()).expect("haproxy pid file")
    }

    /// The frontend's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// What haproxy printed when it started.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("haproxy.log")).unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        if let Some(pid) = pid_in(&self.pidfile()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
}
