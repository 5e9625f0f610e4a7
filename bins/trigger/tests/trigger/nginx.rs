//! A real nginx on loopback, as a daemon with a master process (so that
//! SIGHUP reloads it and a restart writes a new pid file), in its own
//! directory of the test tree; stopped on drop by the pid in its pid file.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::{sh, Tree, NAME};

/// A running nginx.
pub struct Nginx {
    pub dir: PathBuf,
    pub port: u16,
}

impl Nginx {
    /// Write nginx.conf (serving `cert` and `key` on `port`) and start it.
    pub fn start(tree: &Tree, port: u16, cert: &Path, key: &Path) -> Nginx {
        let dir = tree.path(&format!("nginx-{port}"));
        std::fs::create_dir_all(dir.join("tmp")).expect("nginx dir");
        let d = dir.display();
        let tmp: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
            .iter()
            .map(|t| format!("  {t}_temp_path {d}/tmp;\n"))
            .collect();
        // The tests run as root: workers as root too, so that they may read
        // the 0700 temp tree.
        let conf = format!(
            "user root;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n{tmp}\
               server {{ listen 127.0.0.1:{port} ssl; server_name {NAME}; ssl_protocols TLSv1.2 TLSv1.3;\n\
                 ssl_certificate {}; ssl_certificate_key {}; return 200 \"ok\\n\"; }}\n}}\n",
            cert.display(),
            key.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf");
        let nginx = Nginx { dir, port };
        sh(tree.path("").as_path(), &nginx.start_command());
        nginx.wait_up();
        nginx
    }

    /// The shell command that starts this nginx (daemonizes, writes the pid file).
    pub fn start_command(&self) -> String {
        format!(
            "nginx -p {0} -e {0}/error.log -c {0}/nginx.conf",
            self.dir.display()
        )
    }

    /// The pre-flight: `nginx -t` on this configuration.
    pub fn test_command(&self) -> String {
        format!(
            "nginx -t -q -p {0} -e {0}/error.log -c {0}/nginx.conf",
            self.dir.display()
        )
    }

    /// A restart: stop the master gracefully, wait until it is gone, start.
    pub fn restart_command(&self) -> String {
        format!(
            "pid=$(cat {{pidfile}}); kill -QUIT $pid; while kill -0 $pid 2>/dev/null; do sleep 0.05; done; {}",
            self.start_command()
        )
    }

    pub fn pidfile(&self) -> PathBuf {
        self.dir.join("nginx.pid")
    }

    pub fn pid(&self) -> i32 {
        std::fs::read_to_string(self.pidfile())
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid")
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(self.addr()).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The leaf nginx serves for NAME, DER.
    pub fn served(&self) -> Vec<u8> {
        let chain = certdrop_tlsfetch::fetch_chain(self.addr(), NAME, Duration::from_secs(5))
            .expect("TLS fetch");
        chain.certs[0].clone()
    }

    /// The leaf served, once it is `want` (a reload takes a moment).
    #[track_caller]
    pub fn assert_serves(&self, want: &[u8]) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.served();
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nginx serves another certificate"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Break the configuration (for the pre-flight test).
    pub fn break_config(&self) {
        let conf = self.dir.join("nginx.conf");
        let mut text = std::fs::read_to_string(&conf).expect("conf");
        text.push_str("this is not nginx;\n");
        std::fs::write(conf, text).expect("write");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master we started (through the trigger or directly), by its pid.
        if let Ok(text) = std::fs::read_to_string(self.pidfile()) {
            if let Ok(pid) = text.trim().parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        }
    }
}
