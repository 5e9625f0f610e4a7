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

    /// POST `{"host": host, more...}` to `path`; panics unless 200. The
    /// values of `more` are JSON already.
    fn manage(&self, path: &str, host: &str, more: &[(&str, String)]) {
        let mut body = format!(r#"{{"host":{}"#, json_str(&fqdn(host)));
        for (key, value) in more {
            body.push_str(&format!(r#","{key}":{value}"#));
        }
        body.push('}');
        self.challtestsrv_post(path, &body)
            .unwrap_or_else(|e| panic!("challtestsrv {path}: {e}"));
    }

    /// Add a TXT value for `host` (FQDN, trailing dot added if missing); challtestsrv APPENDS.
    pub fn set_txt(&self, host: &str, value: &str) {
        self.manage("/set-txt", host, &[("value", json_str(value))]);
    }

    /// Remove all TXT values of `host`.
    pub fn clear_txt(&self, host: &str) {
        self.manage("/clear-txt", host, &[]);
    }

    /// Make `host` a CNAME to `target` (challtestsrv follows it for TXT/A/AAAA queries, so Pebble's dns-01 does too).
    pub fn set_cname(&self, host: &str, target: &str) {
        self.manage("/set-cname", host, &[("target", json_str(&fqdn(target)))]);
    }

    /// Remove the CNAME of `host`.
    pub fn clear_cname(&self, host: &str) {
        self.manage("/clear-cname", host, &[]);
    }

    /// Answer A (for an IPv4 `addr`) or AAAA (IPv6) queries for `host` with `addr` instead of the default.
    pub fn add_a(&self, host: &str, addr: IpAddr) {
        let path = if addr.is_ipv4() {
            "/add-a"
        } else {
            "/add-aaaa"
        };
        let addresses = format!("[{}]", json_str(&addr.to_string()));
        self.manage(path, host, &[("addresses", addresses)]);
    }

    /// Remove the A and AAAA overrides of `host` (back to the defaults).
    pub fn clear_a(&self, host: &str) {
        self.manage("/clear-a", host, &[]);
        self.manage("/clear-aaaa", host, &[]);
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
