//! `certdrop-check probe ADDR:PORT`: what one endpoint serves, one line per
//! certificate, for the sysadmin who would otherwise reach for `openssl
//! s_client -showcerts` and a pipe into `openssl x509`. The chain comes
//! from certdrop-probe (TLS 1.2 or 1.3, STARTTLS for the protocol of the
//! port or --protocol); nothing in it is trusted or validated, it is only
//! described. Exit 0 when a chain was read, 69 (with the probe's one-line
//! reason) when not, 64 on a bad address, name or protocol.
//!
//! Everything printed from a certificate (subject, issuer) is the
//! server's text: it is quoted and escaped, so that it cannot add a line
//! or a terminal sequence to ours.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use certdrop_core::certinfo::{self, hex};
use certdrop_core::clock;
use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Outcome;
use certdrop_core::output::Output;
use certdrop_probe::{ErrorKind, Limits, Protocol, Served, Target, Versions};
use sha2::{Digest, Sha256};

/// What to probe, from the command line.
#[derive(Debug, Clone)]
pub struct Request {
    /// ADDRESS:PORT or HOST:PORT.
    pub endpoint: String,
    /// SNI (default: HOST, or none for an address).
    pub sni: Option<String>,
    /// How TLS is reached (default: by port).
    pub protocol: Option<String>,
    /// The TLS versions offered.
    pub versions: Versions,
    /// The whole probe's time limit.
    pub timeout: Duration,
    /// Print JSON instead of lines.
    pub json: bool,
}

/// Probe and print; Ok when a chain was read.
pub fn run(req: &Request, out: &Output) -> Result<Outcome> {
    let (connect, host) = resolve(&req.endpoint)?;
    let protocol = match &req.protocol {
        None => Protocol::for_port(connect.port()),
        Some(p) => Protocol::from_name(p).map_err(|e| Error::usage(format!("--protocol: {e}")))?,
    };
    // An IP literal as the name sends no SNI (certdrop-probe's rule).
    let sni = req
        .sni
        .clone()
        .or(host)
        .unwrap_or_else(|| connect.ip().to_string());
    let target = Target {
        connect,
        server_name: &sni,
        protocol,
    };
    let limits = Limits {
        timeout: req.timeout,
        versions: req.versions,
        ..Limits::default()
    };
    let served = certdrop_probe::fetch_chain(&target, &limits).map_err(|e| match e.kind {
        ErrorKind::Input => Error::usage(e.to_string()),
        _ => Error::unavailable(e.to_string()),
    })?;
    let text = match req.json {
        true => json(&target, &served),
        false => lines(&target, &served),
    };
    out.print(&text);
    Ok(Outcome::Reported)
}

/// `ADDRESS:PORT` as is; `HOST:PORT` through the system's resolver (the
/// first address), HOST then being the default SNI.
fn resolve(endpoint: &str) -> Result<(SocketAddr, Option<String>)> {
    if let Ok(addr) = endpoint.parse::<SocketAddr>() {
        return Ok((addr, None));
    }
    let usage = || {
        Error::usage(format!(
            "probe: {endpoint:?}: expected ADDRESS:PORT or HOST:PORT ([v6]:PORT for IPv6)"
        ))
    };
    let (host, port) = endpoint.rsplit_once(':').ok_or_else(usage)?;
    let port: u16 = port.parse().map_err(|_| usage())?;
    if host.is_empty() || host.contains(':') || port == 0 {
        return Err(usage());
    }
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::unavailable(format!("probe: {host}: cannot resolve: {e}")))?
        .next()
        .ok_or_else(|| Error::unavailable(format!("probe: {host}: no address")))?;
    Ok((addr, Some(host.to_string())))
}

/// The first line (version, endpoint, protocol, count), then one per certificate.
fn lines(target: &Target, served: &Served) -> String {
    let mut text = format!(
        "{} {} {}{}: {} certificate(s)",
        served.version,
        target.connect,
        target.protocol.name(),
        match target.server_name {
            n if n.is_empty() || *n == target.connect.ip().to_string() => String::new(),
            n => format!(" sni={n}"),
        },
        served.certs.len()
    );
    for (i, der) in served.certs.iter().enumerate() {
        let sha256 = hex(&Sha256::digest(der));
        let line = match certinfo::parse_der(der) {
            Ok(c) => format!(
                "{i} subject={} issuer={} serial={} notAfter={} sha256={sha256}",
                quote(&c.subject),
                quote(&c.issuer),
                serial(&c.serial),
                clock::rfc3339(c.not_after)
            ),
            Err(why) => format!("{i} unparsed={} sha256={sha256}", quote(&why)),
        };
        text.push('\n');
        text.push_str(&line);
    }
    text
}

/// The same as JSON.
fn json(target: &Target, served: &Served) -> String {
    let certs: Vec<serde_json::Value> = served
        .certs
        .iter()
        .map(|der| {
            let sha256 = hex(&Sha256::digest(der));
            match certinfo::parse_der(der) {
                Ok(c) => serde_json::json!({
                    "subject": c.subject,
                    "issuer": c.issuer,
                    "serial": serial(&c.serial),
                    "not_after": c.not_after,
                    "expires": clock::rfc3339(c.not_after),
                    "sha256": sha256,
                }),
                Err(why) => serde_json::json!({ "error": why, "sha256": sha256 }),
            }
        })
        .collect();
    let value = serde_json::json!({
        "endpoint": target.connect.to_string(),
        "server_name": target.server_name,
        "protocol": target.protocol.name(),
        "version": served.version,
        "certificates": certs,
    });
    // A Value of strings and numbers always serializes.
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

/// The serial number as `openssl x509 -serial` and CAs show it: without the
/// 00 byte DER puts before a number whose top bit is set (RFC 5280 §4.1.2.2
/// serials are positive), lower case, bytes separated by colons.
fn serial(der_hex: &str) -> &str {
    match der_hex.strip_prefix("00:") {
        Some(rest) if !rest.is_empty() => rest,
        _ => der_hex,
    }
}

/// `"text"`, with `"`, `\` and every control character escaped.
fn quote(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            c if c.is_control() => s.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_what_could_add_a_line() {
        assert_eq!(quote("CN=a\"b\\c"), "\"CN=a\\\"b\\\\c\"");
        assert_eq!(quote("x\ny\u{1b}[2J"), "\"x\\u{a}y\\u{1b}[2J\"");
    }

    #[test]
    fn serials_lose_the_sign_byte_only() {
        assert_eq!(serial("00:8a:01"), "8a:01");
        assert_eq!(serial("7f:01"), "7f:01");
        assert_eq!(serial("00"), "00");
    }

    #[test]
    fn endpoints_parse() {
        let (a, h) = resolve("127.0.0.1:443").expect("v4");
        assert_eq!((a.port(), h), (443, None));
        let (a, h) = resolve("[::1]:25").expect("v6");
        assert_eq!((a.port(), h), (25, None));
        let (a, h) = resolve("localhost:8443").expect("host");
        assert_eq!((a.port(), h.as_deref()), (8443, Some("localhost")));
        for bad in ["127.0.0.1", "::1:25", "host:0", ":443", "host:x"] {
            let e = resolve(bad).expect_err(bad);
            assert_eq!(e.class, certdrop_core::exit::Failure::Usage, "{bad}");
        }
    }
}
