//! A real nghttpx (Debian's `nghttp2-proxy`, 1.52) on loopback terminating
//! TLS, in a directory of the test's tree: a configuration file of its own
//! (`frontend`, a `backend` nobody listens on: the TLS handshake does not
//! need it, `private-key-file`, `certificate-file`, `pid-file`, logs in
//! the directory, OCSP fetching off), started with `daemon=yes`. Its
//! reload is SIGHUP to the master (the pid in the pid file, which stays):
//! the master reads its configuration again and starts new workers with
//! it, the old ones finishing their connections (SIGUSR2 would also
//! replace the executable). Ready when its port accepts a connection;
//! stopped on drop by SIGTERM to the master.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::apache::pid_in;
use crate::ports::free_port;
use crate::run::sh;
use crate::wait::within;

/// How long nghttpx may take to listen.
const READY: Duration = Duration::from_secs(10);

/// A running nghttpx (its master).
pub struct Nghttpx {
    /// Its directory: nghttpx.conf, nghttpx.pid, error.log.
    pub dir: PathBuf,
    /// The frontend's port.
    pub port: u16,
}

impl Nghttpx {
    /// nghttpx in `dir` terminating TLS on 127.0.0.1:`port` with `cert`
    /// and `key`; SIGTERM to the master on drop.
    pub fn start(dir: &Path, port: u16, cert: &Path, key: &Path) -> Nghttpx {
        std::fs::create_dir_all(dir).expect("nghttpx dir");
        let d = dir.display();
        let conf = format!(
            "frontend=127.0.0.1,{port}\nbackend=127.0.0.1,{}\nprivate-key-file={}\n\
             certificate-file={}\npid-file={d}/nghttpx.pid\nerrorlog-file={d}/error.log\n\
             accesslog-file={d}/access.log\nworkers=1\nno-ocsp=yes\ndaemon=yes\n",
            free_port(),
            key.display(),
            cert.display()
        );
        std::fs::write(dir.join("nghttpx.conf"), conf).expect("nghttpx.conf");
        let nghttpx = Nghttpx {
            dir: dir.to_path_buf(),
            port,
        };
        // Its output to a file: the daemon keeps what it inherits open.
        sh(
            dir,
            &format!(
                "nghttpx --conf={} >{}/nghttpx.log 2>&1",
                nghttpx.config().display(),
                dir.display()
            ),
        );
        let up = within(READY, || {
            nghttpx.pidfile().exists() && TcpStream::connect(nghttpx.addr()).is_ok()
        });
        assert!(up, "nghttpx did not start: {}", nghttpx.log());
        nghttpx
    }

    /// The configuration file (what the definition's parser reads).
    pub fn config(&self) -> PathBuf {
        self.dir.join("nghttpx.conf")
    }

    /// Its reload: SIGHUP to the master (`{pidfile}` is left for
    /// certdrop-trigger to fill).
    pub const RELOAD: &'static str = "kill -HUP $(cat {pidfile})";

    /// The pid file.
    pub fn pidfile(&self) -> PathBuf {
        self.dir.join("nghttpx.pid")
    }

    /// The master's pid.
    pub fn pid(&self) -> i32 {
        pid_in(&self.pidfile()).expect("nghttpx pid file")
    }

    /// The frontend's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Its error log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nghttpx {
    fn drop(&mut self) {
        if let Some(pid) = pid_in(&self.pidfile()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
}
