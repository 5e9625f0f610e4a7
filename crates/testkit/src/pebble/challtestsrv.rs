//! Driving pebble-challtestsrv through its plain-HTTP management API: the
//! POST client, and the [`Pebble`] methods that set and clear the TXT, CNAME
//! and A/AAAA records its DNS serves (and read TXT back).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::https::parse_http_response;
use super::{query_txt, Pebble};

impl Pebble {
    /// POST a JSON body to challtestsrv's management API (e.g. `"/set-txt"`); Err unless 200.
    pub fn challtestsrv_post(&self, path: &str, json: &str) -> io::Result<()> {
        mgmt_post(self.cts_addr, path, json)
    }

    /// Add a TXT value for `host` (FQDN, trailing dot added if missing); challtestsrv APPENDS.
    pub fn set_txt(&self, host: &str, value: &str) {
        let body = format!(
            r#"{{"host":{},"value":{}}}"#,
            json_str(&fqdn(host)),
            json_str(value)
        );
        self.challtestsrv_post("/set-txt", &body)
            .expect("challtestsrv /set-txt");
    }

    /// Remove all TXT values of `host`.
    pub fn clear_txt(&self, host: &str) {
        let body = format!(r#"{{"host":{}}}"#, json_str(&fqdn(host)));
        self.challtestsrv_post("/clear-txt", &body)
            .expect("challtestsrv /clear-txt");
    }

    /// Make `host` a CNAME to `target` (challtestsrv follows it for TXT/A/AAAA queries, so Pebble's dns-01 does too).
    pub fn set_cname(&self, host: &str, target: &str) {
        let body = format!(
            r#"{{"host":{},"target":{}}}"#,
            json_str(&fqdn(host)),
            json_str(&fqdn(target))
        );
        self.challtestsrv_post("/set-cname", &body)
            .expect("challtestsrv /set-cname");
    }

    /// Remove the CNAME of `host`.
    pub fn clear_cname(&self, host: &str) {
        let body = format!(r#"{{"host":{}}}"#, json_str(&fqdn(host)));
        self.challtestsrv_post("/clear-cname", &body)
            .expect("challtestsrv /clear-cname");
    }

    /// Answer A (for an IPv4 `addr`) or AAAA (IPv6) queries for `host` with `addr` instead of the default.
    pub fn add_a(&self, host: &str, addr: IpAddr) {
        let path = if addr.is_ipv4() {
            "/add-a"
        } else {
            "/add-aaaa"
        };
        let body = format!(
            r#"{{"host":{},"addresses":[{}]}}"#,
            json_str(&fqdn(host)),
            json_str(&addr.to_string())
        );
        self.challtestsrv_post(path, &body)
            .expect("challtestsrv /add-a");
    }

    /// Remove the A and AAAA overrides of `host` (back to the defaults).
    pub fn clear_a(&self, host: &str) {
        let body = format!(r#"{{"host":{}}}"#, json_str(&fqdn(host)));
        self.challtestsrv_post("/clear-a", &body)
            .expect("challtestsrv /clear-a");
        self.challtestsrv_post("/clear-aaaa", &body)
            .expect("challtestsrv /clear-aaaa");
    }

    /// TXT values challtestsrv serves for `name` right now (CNAMEs followed).
    pub fn txt(&self, name: &str) -> Vec<String> {
        query_txt(self.dns_addr, &fqdn(name)).expect("DNS query to challtestsrv")
    }

    /// Poll challtestsrv until TXT `name` includes `value`; false after `timeout`.
    pub fn wait_txt(&self, name: &str, value: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if query_txt(self.dns_addr, &fqdn(name)).is_ok_and(|v| v.iter().any(|x| x == value)) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// POST `json` to challtestsrv's plain-HTTP management API; Ok only on 200.
pub(super) fn mgmt_post(addr: SocketAddr, path: &str, json: &str) -> io::Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let req = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    );
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let (status, body) = parse_http_response(&buf)?;
    if status == 200 {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "challtestsrv POST {path}: {status} {}",
            String::from_utf8_lossy(&body)
        )))
    }
}

/// `name` with a trailing dot.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// A JSON string literal for `s`.
pub(super) fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}
