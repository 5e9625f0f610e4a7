//! A real Apache httpd 2.4 (Debian's `apache2`) on loopback serving TLS,
//! in a directory of the test's tree: a minimal configuration of its own
//! (ServerRoot, PidFile, ErrorLog, mpm_event and mod_ssl, nothing read
//! from or written to /etc/apache2 or /var), the virtual host in a file of
//! its own that the main one `Include`s (so `-D DUMP_INCLUDES` lists two
//! files, as on a real server). Started with `apache2 -k start` (a master
//! process that writes its pid file; `-k graceful` is its reload), ready
//! when its port accepts a connection, stopped on drop by SIGTERM to the
//! pid in its pid file. Its restart stops it and starts a new one.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::run::sh;
use crate::wait::within;

/// How long apache2 may take to listen.
const READY: Duration = Duration::from_secs(10);
/// Where Debian installs the modules.
const MODULES: &str = "/usr/lib/apache2/modules";

/// A running apache2.
pub struct Apache {
    /// Its directory: httpd.conf, site.conf, httpd.pid, error.log.
    pub dir: PathBuf,
    /// The port of its one TLS virtual host.
    pub port: u16,
}

impl Apache {
    /// apache2 in `dir` serving `cert` with `key` for `name` on
    /// 127.0.0.1:`port`, started as a daemon; SIGTERM on drop.
    pub fn start(dir: &Path, port: u16, name: &str, cert: &Path, key: &Path) -> Apache {
        std::fs::create_dir_all(dir).expect("apache dir");
        let d = dir.display();
        let modules: String = [
            ("mpm_event", "mod_mpm_event"),
            ("authz_core", "mod_authz_core"),
            ("socache_shmcb", "mod_socache_shmcb"),
            ("ssl", "mod_ssl"),
        ]
        .iter()
        .map(|(m, f)| format!("LoadModule {m}_module {MODULES}/{f}.so\n"))
        .collect();
        // Children as nobody: httpd refuses to serve as root, and the files
        // are read by the root parent before it forks them.
        let main = format!(
            "ServerRoot {d}\nServerName {name}\n{modules}PidFile {d}/httpd.pid\n\
             ErrorLog {d}/error.log\nDefaultRuntimeDir {d}\nUser nobody\nGroup nogroup\n\
             Listen 127.0.0.1:{port}\nInclude {d}/site.conf\n"
        );
        let site = format!(
            "<VirtualHost 127.0.0.1:{port}>\n  ServerName {name}\n  SSLEngine on\n  \
             SSLCertificateFile {}\n  SSLCertificateKeyFile {}\n</VirtualHost>\n",
            cert.display(),
            key.display()
        );
        std::fs::write(dir.join("httpd.conf"), main).expect("httpd.conf");
        std::fs::write(dir.join("site.conf"), site).expect("site.conf");
        let apache = Apache {
            dir: dir.to_path_buf(),
            port,
        };
        sh(dir, &apache.ctl("-k start"));
        let up = within(READY, || {
            apache.pidfile().exists() && TcpStream::connect(apache.addr()).is_ok()
        });
        assert!(up, "apache2 did not start: {}", apache.log());
        apache
    }

    /// `apache2` with this configuration and `args` (a shell command).
    pub fn ctl(&self, args: &str) -> String {
        format!(
            "apache2 -d {0} -f {0}/httpd.conf {args}",
            self.dir.display()
        )
    }

    /// Its reload: `-k graceful` (SIGUSR1 to the parent).
    pub fn graceful_command(&self) -> String {
        self.ctl("-k graceful")
    }

    /// Its restart, as rc(8)'s `restart` does it: stop the parent, wait
    /// until it is gone (a zombie counts as gone), start a new one (a new
    /// pid file). Uses the trigger's `{pidfile}`.
    pub fn restart_command(&self) -> String {
        format!(
            "pid=$(cat {{pidfile}}); {}; \
             while ps -o stat= -p $pid | grep -q '^[^Z]'; do sleep 0.05; done; {}",
            self.ctl("-k stop"),
            self.ctl("-k start")
        )
    }

    /// Its configuration test (a service's pre-flight).
    pub fn test_command(&self) -> String {
        self.ctl("-t")
    }

    /// Its own list of the files of its configuration, for discovery.
    pub fn includes_command(&self) -> String {
        self.ctl("-t -D DUMP_INCLUDES")
    }

    /// The pid file.
    pub fn pidfile(&self) -> PathBuf {
        self.dir.join("httpd.pid")
    }

    /// The pid in the pid file (the parent).
    pub fn pid(&self) -> i32 {
        pid_in(&self.pidfile()).expect("apache2 pid file")
    }

    /// The virtual host's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The error log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        if let Some(pid) = pid_in(&self.pidfile()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
}

/// The pid in a pid file, if it holds one.
pub(crate) fn pid_in(file: &Path) -> Option<i32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}
