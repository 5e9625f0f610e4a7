//! An nsd on a loopback high port in a temp dir, controlled over a local
//! socket, killed on Drop; and `drill` to ask it.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A free loopback port (TCP and UDP), from a per-process counter.
pub fn free_port() -> u16 {
    let _ = NEXT_PORT.compare_exchange(
        0,
        30_000 + (std::process::id() % 500) as u16 * 20,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let p = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
        if TcpListener::bind(("127.0.0.1", p)).is_ok() && UdpSocket::bind(("127.0.0.1", p)).is_ok()
        {
            return p;
        }
    }
}

/// A running nsd serving `zones` from `zonesdir/<zone>.zone`.
pub struct Nsd {
    pub addr: SocketAddr,
    pub conf: PathBuf,
    child: Child,
}

impl Nsd {
    /// Start nsd for `zones`, reading zone files from `zonesdir`.
    pub fn start(dir: &Path, zonesdir: &Path, zones: &[&str]) -> Nsd {
        let port = free_port();
        std::fs::create_dir_all(dir).expect("nsd dir");
        std::fs::create_dir_all(zonesdir).expect("zones dir");
        let d = dir.display();
        let mut conf = format!(
            "server:\n  port: {port}\n  ip-address: 127.0.0.1\n  username: \"\"\n  database: \"\"\n  zonesdir: \"{}\"\n  \
             pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  zonelistfile: \"{d}/zone.list\"\n  \
             logfile: \"{d}/nsd.log\"\n  verbosity: 1\nremote-control:\n  control-enable: yes\n  control-interface: \"{d}/nsd.sock\"\n",
            zonesdir.display()
        );
        for z in zones {
            conf.push_str(&format!("zone:\n  name: {z}\n  zonefile: \"{z}.zone\"\n"));
        }
        let conf_path = dir.join("nsd.conf");
        std::fs::write(&conf_path, conf).expect("nsd.conf");
        let child = Command::new("nsd")
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nsd (apt-get install nsd)");
        let nsd = Nsd {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            conf: conf_path,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if Command::new("nsd-control")
                .arg("-c")
                .arg(&nsd.conf)
                .arg("status")
                .output()
                .is_ok_and(|o| o.status.success())
            {
                return nsd;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "nsd did not start: {}",
            std::fs::read_to_string(dir.join("nsd.log")).unwrap_or_default()
        );
    }

    /// The reload command for zone.toml.
    pub fn reload_command(&self) -> String {
        format!(
            "[\"nsd-control\", \"-c\", \"{}\", \"reload\", \"{{zone}}\"]",
            self.conf.display()
        )
    }

    /// Answer records (owner, type, rdata) for `name`/`rtype`, with DNSSEC
    /// records when `dnssec`.
    pub fn ask(&self, rtype: &str, name: &str, dnssec: bool) -> Vec<(String, String, String)> {
        let mut cmd = Command::new("drill");
        if dnssec {
            cmd.arg("-D");
        }
        let out = cmd
            .args([
                "-p",
                &self.addr.port().to_string(),
                &format!("@{}", self.addr.ip()),
                rtype,
                name,
            ])
            .output()
            .expect("drill (ldnsutils)");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut rows = Vec::new();
        let mut in_answer = false;
        for line in text.lines() {
            if line.starts_with(";; ANSWER SECTION") {
                in_answer = true;
                continue;
            }
            if line.starts_with(";;") && in_answer && !line.starts_with(";; ANSWER") {
                in_answer = false;
            }
            if in_answer && !line.trim().is_empty() && !line.starts_with(';') {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() >= 5 {
                    rows.push((f[0].to_ascii_lowercase(), f[3].to_owned(), f[4..].join(" ")));
                }
            }
        }
        rows
    }

    /// The serial nsd serves for `zone`.
    pub fn serial(&self, zone: &str) -> Option<u32> {
        self.ask("SOA", zone, false)
            .into_iter()
            .find(|(_, t, _)| t == "SOA")
            .and_then(|(_, _, rdata)| rdata.split_whitespace().nth(2)?.parse().ok())
    }

    /// Wait until nsd serves `zone` with a serial other than `old`.
    pub fn wait_serial_change(&self, zone: &str, old: Option<u32>) -> Option<u32> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let s = self.serial(zone);
            if s.is_some() && s != old {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
