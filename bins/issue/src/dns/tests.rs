//! Tests of [`wait_visible`] against real servers: nsd on loopback (a
//! reload makes values appear), a port where nothing listens, and
//! pebble-challtestsrv's DNS. The queries themselves are tested in
//! certdrop-dns.
use super::*;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::thread;

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
const SHORT: Duration = Duration::from_secs(2);
const CHALLENGE: &str = "_acme-challenge.www.example.test";

/// Ports for test servers: a process-wide counter from a pid-dependent base, checked free on UDP and TCP.
fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 2_000) as u16 * 10;
    loop {
        let port = base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed) % 20_000);
        if port < 1024 {
            continue;
        }
        let udp = UdpSocket::bind((LOOPBACK, port));
        let tcp = TcpListener::bind((LOOPBACK, port));
        if udp.is_ok() && tcp.is_ok() {
            return port;
        }
    }
}

fn zone(extra: &str) -> String {
    format!(
        "$ORIGIN example.test.\n$TTL 60\n\
         @ IN SOA ns1.example.test. hostmaster.example.test. (1 3600 600 86400 60)\n\
         @ IN NS ns1.example.test.\n\
         ns1 IN A 127.0.0.1\n\
         ns1 IN AAAA ::1\n\
         _acme-challenge.www IN TXT \"v1\"\n\
         _acme-challenge.www IN TXT \"v2\"\n\
         multi IN TXT \"abc\" \"def\" \"ghi\"\n\
         _acme-challenge.alias IN CNAME _acme-challenge.target.example.test.\n\
         _acme-challenge.target IN TXT \"via-alias\"\n\
         sub IN NS ns.sub.example.test.\n\
         ns.sub IN A 127.0.0.2\n\
         {extra}"
    )
}

/// A real authoritative server (nsd) on 127.0.0.1, killed on drop.
struct Nsd {
    dir: tempfile::TempDir,
    conf: PathBuf,
    addr: SocketAddr,
    child: Child,
}

impl Nsd {
    fn start(extra: &str) -> Nsd {
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            let d = dir.path().display();
            let conf = dir.path().join("nsd.conf");
            std::fs::write(dir.path().join("example.test.zone"), zone(extra)).expect("write zone");
            std::fs::write(
                &conf,
                format!(
                    "server:\n  port: {port}\n  ip-address: 127.0.0.1\n  username: \"\"\n  database: \"\"\n  \
                     zonesdir: {d}\n  pidfile: {d}/nsd.pid\n  xfrdfile: {d}/xfrd.state\n  \
                     zonelistfile: {d}/zone.list\n  logfile: {d}/nsd.log\n  rrl-ratelimit: 0\n\
                     remote-control:\n  control-enable: yes\n  control-interface: {d}/nsd.sock\n\
                     zone:\n  name: example.test\n  zonefile: example.test.zone\n"
                ),
            )
            .expect("write config");
            let child = Command::new("nsd")
                .arg("-d")
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nsd must be installed (apt-get install nsd)");
            let mut nsd = Nsd {
                dir,
                conf,
                addr: SocketAddr::from((LOOPBACK, port)),
                child,
            };
            if nsd.wait_ready() {
                return nsd;
            }
        }
        panic!("nsd did not start in 5 attempts");
    }

    /// Poll until nsd answers for its zone; false if it exited (port race) or never answered.
    fn wait_ready(&mut self) -> bool {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(ns) = query_ns(self.addr, "example.test", Duration::from_millis(200)) {
                if !ns.is_empty() {
                    return true;
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Rewrite the zone (serial 2) and make nsd reload it.
    fn reload(&self, extra: &str) {
        let text = zone(extra).replace("(1 3600", "(2 3600");
        std::fs::write(self.path().join("example.test.zone"), text).expect("rewrite zone");
        let status = Command::new("nsd-control")
            .arg("-c")
            .arg(&self.conf)
            .arg("reload")
            .arg("example.test")
            .stdout(Stdio::null())
            .status()
            .expect("nsd-control must be installed");
        assert!(status.success(), "nsd-control reload failed");
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn wait_visible_sees_values_added_by_reload() {
    let first = Nsd::start("_acme-challenge.www IN TXT \"v3\"\n");
    let second = Nsd::start("");
    let servers = [first.addr, second.addr];
    let values = vec!["v1".to_string(), "v3".to_string()];
    let delay = Duration::from_millis(700);
    let reloader = thread::spawn(move || {
        thread::sleep(delay);
        second.reload("_acme-challenge.www IN TXT \"v3\"\n");
        second
    });
    let took = wait_visible(
        &servers,
        CHALLENGE,
        &values,
        Duration::from_secs(10),
        Duration::from_millis(300),
    )
    .await
    .expect("visible after reload");
    let second = reloader.join().expect("reloader");
    assert!(took >= delay, "returned before the reload: {took:?}");
    assert!(took < delay + Duration::from_secs(2), "slow: {took:?}");
    assert_eq!(
        sorted(query_txt(second.addr, CHALLENGE, SHORT).expect("after")),
        ["v1", "v2", "v3"]
    );
    // Already visible: returns on the first poll.
    let quick = wait_visible(&servers, CHALLENGE, &values, SHORT, Duration::from_secs(1))
        .await
        .expect("quick");
    assert!(quick < Duration::from_millis(500), "{quick:?}");
}

#[tokio::test]
async fn wait_visible_times_out_naming_what_is_missing() {
    let nsd = Nsd::start("");
    let values = vec!["v1".to_string(), "never".to_string()];
    let timeout = Duration::from_millis(900);
    let started = Instant::now();
    let err = wait_visible(
        &[nsd.addr],
        CHALLENGE,
        &values,
        timeout,
        Duration::from_millis(200),
    )
    .await
    .expect_err("never visible");
    let took = started.elapsed();
    assert!(
        took >= timeout && took < timeout + Duration::from_millis(500),
        "took {took:?}"
    );
    match &err {
        DnsError::NotVisible { missing, .. } => {
            assert_eq!(
                missing,
                &[MissingValues {
                    server: nsd.addr,
                    values: vec!["never".to_string()],
                    last_error: None
                }]
            );
        }
        other => panic!("unexpected {other}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with("TXT _acme-challenge.www.example.test.: values not visible after "),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("{} lacks \"never\"", nsd.addr)),
        "{text}"
    );
    assert!(!text.contains('\n'));
}

#[tokio::test]
async fn wait_visible_reports_unreachable_servers_and_stops_on_refused() {
    let nsd = Nsd::start("");
    let dead = SocketAddr::from((LOOPBACK, free_port()));
    let values = vec!["v1".to_string()];
    let err = wait_visible(
        &[nsd.addr, dead],
        CHALLENGE,
        &values,
        Duration::from_millis(600),
        Duration::from_millis(100),
    )
    .await
    .expect_err("dead server");
    let text = err.to_string();
    assert!(
        text.contains(&format!("{dead} lacks \"v1\" (last poll failed: DNS TXT")),
        "{text}"
    );
    assert!(!text.contains(&format!("{} lacks", nsd.addr)), "{text}");

    let started = Instant::now();
    let err = wait_visible(
        &[nsd.addr],
        "_acme-challenge.other.test",
        &values,
        Duration::from_secs(5),
        Duration::from_secs(1),
    )
    .await
    .expect_err("refused");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "REFUSED must end the wait at once"
    );
    assert!(
        matches!(
            err,
            DnsError::Rcode {
                rcode: ResponseCode::Refused,
                ..
            }
        ),
        "{err}"
    );

    let err = wait_visible(&[], CHALLENGE, &values, SHORT, SHORT)
        .await
        .expect_err("no servers");
    assert!(matches!(err, DnsError::NoServers { .. }), "{err}");
    let none = wait_visible(&[nsd.addr], CHALLENGE, &[], SHORT, SHORT)
        .await
        .expect("nothing to wait for");
    assert!(none < Duration::from_millis(50), "{none:?}");
}

/// POST JSON to pebble-challtestsrv's management API (plain HTTP/1.0 over std).
fn pebble_post(mgmt: SocketAddr, path: &str, body: &str) {
    let mut stream = TcpStream::connect(mgmt).expect("management API");
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: {mgmt}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("reply");
    assert!(
        reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"),
        "{path}: {reply}"
    );
}

#[tokio::test]
async fn pebble_challtestsrv_txt_and_cname() {
    let (dns, mgmt) = (free_port(), free_port());
    let mut child = Command::new("pebble-challtestsrv")
        .args([
            "-dns01",
            &format!("127.0.0.1:{dns}"),
            "-management",
            &format!("127.0.0.1:{mgmt}"),
        ])
        .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pebble-challtestsrv must be installed");
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(&mut child);
    let (dns, mgmt) = (
        SocketAddr::from((LOOPBACK, dns)),
        SocketAddr::from((LOOPBACK, mgmt)),
    );
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(mgmt).is_err()
        || query_txt(dns, "x.test", Duration::from_millis(200)).is_err()
    {
        assert!(Instant::now() < until, "pebble-challtestsrv did not start");
        thread::sleep(Duration::from_millis(50));
    }
    let host = "_acme-challenge.x.test.";
    let values = vec!["token-1".to_string()];
    let servers = [dns];
    let waiting = wait_visible(
        &servers,
        "_ACME-Challenge.X.test",
        &values,
        Duration::from_secs(5),
        Duration::from_millis(200),
    );
    let setter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        pebble_post(
            mgmt,
            "/set-txt",
            &format!(r#"{{"host":"{host}","value":"token-1"}}"#),
        );
    });
    let took = waiting.await.expect("visible on challtestsrv");
    setter.join().expect("setter");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    pebble_post(
        mgmt,
        "/set-cname",
        r#"{"host":"_acme-challenge.y.test.","target":"_acme-challenge.X.test."}"#,
    );
    assert_eq!(
        query_cname(dns, "_acme-challenge.y.test", SHORT).expect("cname"),
        Some("_acme-challenge.x.test.".to_string())
    );
    pebble_post(mgmt, "/clear-txt", &format!(r#"{{"host":"{host}"}}"#));
    assert!(query_txt(dns, host, SHORT).expect("cleared").is_empty());
}
