//! A real nginx on loopback serving TLS, in a directory of the test's tree,
//! in one of two shapes: [`Nginx::start`], one process in the foreground
//! (`master_process off`), a tracked child killed on drop; or
//! [`Nginx::daemon`], a daemon with a master process, so that SIGHUP
//! reloads it and a restart writes a new pid file (what certdrop-trigger
//! drives), stopped on drop by the pid in its pid file. Either is ready
//! when every port it listens on accepts a connection.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::run::{sh, Run};
use crate::wait::within;

/// How long nginx may take to listen.
const READY: Duration = Duration::from_secs(10);

/// One `server` block: TLS on 127.0.0.1:`port` for `name`.
#[derive(Clone, Debug)]
pub struct Server {
    /// The port it listens on.
    pub port: u16,
    /// `server_name` (the first block of a port is its default server).
    pub name: String,
    /// `ssl_certificate`: the chain served.
    pub cert: PathBuf,
    /// `ssl_certificate_key`.
    pub key: PathBuf,
    /// `ssl_protocols`, e.g. `"TLSv1.2 TLSv1.3"`.
    pub protocols: String,
}

impl Server {
    /// A server block with TLS 1.2 and 1.3.
    pub fn new(port: u16, name: &str, cert: &Path, key: &Path) -> Server {
        Server {
            port,
            name: name.to_owned(),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            protocols: "TLSv1.2 TLSv1.3".to_owned(),
        }
    }

    /// The same with other `ssl_protocols`.
    pub fn protocols(mut self, protocols: &str) -> Server {
        self.protocols = protocols.to_owned();
        self
    }
}

/// A running nginx.
pub struct Nginx {
    /// Its directory: nginx.conf, nginx.pid, error.log, temp files.
    pub dir: PathBuf,
    /// The first server's port.
    pub port: u16,
    /// The foreground process, if it is one ([`Nginx::start`]).
    child: Option<Child>,
}

impl Nginx {
    /// One nginx process in the foreground in `dir`, serving `servers`;
    /// killed and reaped on drop.
    pub fn start(dir: &Path, servers: &[Server]) -> Nginx {
        // One process (no workers switching to nobody); the files stay readable anyway.
        write_conf(dir, "master_process off;\n", servers);
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .quiet();
        let mut nginx = Nginx {
            dir: dir.to_path_buf(),
            port: servers[0].port,
            child: Some(child),
        };
        nginx.wait_up(servers);
        nginx
    }

    /// nginx as a daemon with a master process and one worker in `dir`,
    /// serving `servers`; SIGTERM to the pid in its pid file on drop.
    pub fn daemon(dir: &Path, servers: &[Server]) -> Nginx {
        // The tests run as root: workers as root too, so that they may read
        // the 0700 temp tree.
        write_conf(dir, "user root;\nworker_processes 1;\n", servers);
        let mut nginx = Nginx {
            dir: dir.to_path_buf(),
            port: servers[0].port,
            child: None,
        };
        sh(dir, &nginx.start_command());
        nginx.wait_up(servers);
        nginx
    }

    /// The shell command that starts this nginx as a daemon (it writes the pid file).
    pub fn start_command(&self) -> String {
        format!(
            "nginx -p {0} -e {0}/error.log -c {0}/nginx.conf",
            self.dir.display()
        )
    }

    /// `nginx -t` on this configuration (a service's pre-flight).
    pub fn test_command(&self) -> String {
        format!(
            "nginx -t -q -p {0} -e {0}/error.log -c {0}/nginx.conf",
            self.dir.display()
        )
    }

    /// A restart of the daemon: stop the master gracefully, wait until it
    /// is gone, start again (`{pidfile}` is left for certdrop-trigger to fill).
    pub fn restart_command(&self) -> String {
        format!(
            "pid=$(cat {{pidfile}}); kill -QUIT $pid; while kill -0 $pid 2>/dev/null; do sleep 0.05; done; {}",
            self.start_command()
        )
    }

    /// The pid file.
    pub fn pidfile(&self) -> PathBuf {
        self.dir.join("nginx.pid")
    }

    /// The pid in the pid file (the daemon's master).
    pub fn pid(&self) -> i32 {
        std::fs::read_to_string(self.pidfile())
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid")
    }

    /// The first server's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// nginx's error log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// Break the configuration (for a failing pre-flight).
    pub fn break_config(&self) {
        let conf = self.dir.join("nginx.conf");
        let mut text = std::fs::read_to_string(&conf).expect("conf");
        text.push_str("this is not nginx;\n");
        std::fs::write(conf, text).expect("write");
    }

    fn wait_up(&mut self, servers: &[Server]) {
        let mut exited = false;
        let up = within(READY, || {
            if let Some(child) = &mut self.child {
                exited = child.try_wait().ok().flatten().is_some();
            }
            exited
                || servers
                    .iter()
                    .all(|s| TcpStream::connect(("127.0.0.1", s.port)).is_ok())
        });
        assert!(up && !exited, "nginx did not start: {}", self.log());
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        // The master we started (directly or through a restart), by its pid.
        if let Ok(text) = std::fs::read_to_string(self.pidfile()) {
            if let Ok(pid) = text.trim().parse::<i32>() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
    }
}

/// Write `dir/nginx.conf`: `main` directives, then the http block.
fn write_conf(dir: &Path, main: &str, servers: &[Server]) {
    std::fs::create_dir_all(dir.join("tmp")).expect("nginx dir");
    let d = dir.display();
    let tmp: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .iter()
        .map(|t| format!("  {t}_temp_path {d}/tmp;\n"))
        .collect();
    let blocks: String = servers
        .iter()
        .map(|s| {
            format!(
                "  server {{ listen 127.0.0.1:{} ssl; server_name {}; ssl_protocols {};\n    \
                 ssl_certificate {}; ssl_certificate_key {}; return 200 \"ok\\n\"; }}\n",
                s.port,
                s.name,
                s.protocols,
                s.cert.display(),
                s.key.display()
            )
        })
        .collect();
    let conf = format!(
        "{main}pid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n{tmp}{blocks}}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf");
}
