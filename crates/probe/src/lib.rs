//! certdrop-probe: the certificate chain a server really serves, over
//! implicit TLS or after a STARTTLS dialogue (SMTP, IMAP, POP3, LDAP, XMPP,
//! ManageSieve), by TLS 1.2 or 1.3.
//!
//! Used by certdrop-trigger (post-flight: does the service now serve the
//! deployed certificate?) and certdrop-check (monitoring, DANE). Both
//! compare the bytes returned with what they trust; nothing else from the
//! handshake is trusted (see `tls.rs`).
//!
//! Synchronous (std::net, no runtime) and bounded: one deadline for the
//! whole probe, connect, dialogue and handshake together, and one budget
//! of bytes read ([`Limits`]). A server that stalls, talks garbage or
//! hangs up gets a one-line [`ProbeError`] naming the endpoint, the
//! protocol step and the cause.

#![warn(missing_docs)]

mod error;
mod starttls;
mod tls;
mod wire;

use std::net::SocketAddr;
use std::time::Duration;

pub use error::{ErrorKind, ProbeError};

/// How TLS is reached on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Implicit TLS: the handshake starts at once (HTTPS, SMTPS, IMAPS, any port).
    Tls,
    /// SMTP STARTTLS (RFC 3207): EHLO, STARTTLS; ports 25 and 587.
    Smtp,
    /// IMAP STARTTLS (RFC 9051 §6.2.1): CAPABILITY, STARTTLS; port 143.
    Imap,
    /// POP3 STLS (RFC 2595 §4); port 110.
    Pop3,
    /// LDAP StartTLS extended operation (RFC 4511 §4.14); port 389.
    Ldap,
    /// XMPP client-to-server STARTTLS (RFC 6120 §5); port 5222.
    XmppClient,
    /// XMPP server-to-server STARTTLS (RFC 6120 §5); port 5269.
    XmppServer,
    /// ManageSieve STARTTLS (RFC 5804 §2.2); port 4190.
    Sieve,
}

/// Every protocol, in the order of [`Protocol`].
const PROTOCOLS: [Protocol; 8] = [
    Protocol::Tls,
    Protocol::Smtp,
    Protocol::Imap,
    Protocol::Pop3,
    Protocol::Ldap,
    Protocol::XmppClient,
    Protocol::XmppServer,
    Protocol::Sieve,
];

impl Protocol {
    /// The protocol named `s` ("tls", "smtp", "imap", "pop3", "ldap",
    /// "xmpp-client", "xmpp-server", "sieve").
    pub fn from_name(s: &str) -> Result<Protocol, String> {
        PROTOCOLS
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = PROTOCOLS.iter().map(|p| p.name()).collect();
                format!("unknown protocol {s:?} (one of: {})", names.join(", "))
            })
    }

    /// Its name, as [`Protocol::from_name`] takes it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tls => "tls",
            Protocol::Smtp => "smtp",
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
            Protocol::Ldap => "ldap",
            Protocol::XmppClient => "xmpp-client",
            Protocol::XmppServer => "xmpp-server",
            Protocol::Sieve => "sieve",
        }
    }

    /// The usual protocol on a well-known port: 25 and 587 smtp, 143 imap,
    /// 110 pop3, 389 ldap, 5222 xmpp-client, 5269 xmpp-server, 4190 sieve;
    /// implicit TLS on every other port (443, 465, 993, 995, 636, ...).
    pub fn for_port(port: u16) -> Protocol {
        match port {
            25 | 587 => Protocol::Smtp,
            143 => Protocol::Imap,
            110 => Protocol::Pop3,
            389 => Protocol::Ldap,
            5222 => Protocol::XmppClient,
            5269 => Protocol::XmppServer,
            4190 => Protocol::Sieve,
            _ => Protocol::Tls,
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The TLS versions offered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Versions {
    /// TLS 1.3 and 1.2; the server chooses.
    #[default]
    Any,
    /// TLS 1.2 only.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// Where and how to probe.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The address connected to.
    pub connect: SocketAddr,
    /// The name asked for: SNI (unless an IP literal), the XMPP stream's
    /// `to`, and the error messages' subject.
    pub server_name: &'a str,
    /// How TLS is reached.
    pub protocol: Protocol,
}

/// Default [`Limits::timeout`]: the whole probe.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Limits::max_bytes`]: a long chain and a chatty greeting fit many times over.
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024;

/// The probe's bounds.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The whole probe: connect, STARTTLS dialogue and handshake together.
    pub timeout: Duration,
    /// Most bytes read from the server, dialogue and handshake together.
    pub max_bytes: usize,
    /// The TLS versions offered.
    pub versions: Versions,
}

impl Default for Limits {
    /// [`DEFAULT_TIMEOUT`], [`DEFAULT_MAX_BYTES`], [`Versions::Any`].
    fn default() -> Limits {
        Limits {
            timeout: DEFAULT_TIMEOUT,
            max_bytes: DEFAULT_MAX_BYTES,
            versions: Versions::Any,
        }
    }
}

/// What the server served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// The certificates it sent (DER), leaf first, as sent.
    pub certs: Vec<Vec<u8>>,
    /// The version agreed: "TLSv1.2" or "TLSv1.3".
    pub version: &'static str,
}

/// Connect to `target`, reach TLS by its protocol, complete a handshake
/// within `limits` and return the chain the server sent.
pub fn fetch_chain(target: &Target, limits: &Limits) -> Result<Served, ProbeError> {
    probe(target, limits).map_err(|f| ProbeError {
        endpoint: endpoint(target),
        protocol: target.protocol.name(),
        step: f.step,
        kind: f.kind,
        detail: f.detail,
    })
}

fn probe(target: &Target, limits: &Limits) -> Result<Served, error::Fail> {
    let mut wire = wire::Wire::connect(target.connect, limits.timeout, limits.max_bytes)?;
    starttls::negotiate(&mut wire, target)?;
    tls::handshake(&mut wire, target.server_name, limits.versions)
}

/// "ADDRESS (NAME)", or the address alone when the name is it or empty.
fn endpoint(target: &Target) -> String {
    let addr = target.connect.to_string();
    let name = target.server_name;
    if name.is_empty() || name == target.connect.ip().to_string() {
        addr
    } else {
        format!("{addr} ({name})")
    }
}

/// The crypto provider: ring (Cargo.toml says why: size).
fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in PROTOCOLS {
            assert_eq!(Protocol::from_name(p.name()), Ok(p));
        }
        let e = Protocol::from_name("smtps").expect_err("unknown");
        assert!(e.contains("\"smtps\"") && e.contains("xmpp-server"), "{e}");
    }

    #[test]
    fn well_known_ports() {
        assert_eq!(Protocol::for_port(25), Protocol::Smtp);
        assert_eq!(Protocol::for_port(587), Protocol::Smtp);
        assert_eq!(Protocol::for_port(465), Protocol::Tls);
        assert_eq!(Protocol::for_port(143), Protocol::Imap);
        assert_eq!(Protocol::for_port(110), Protocol::Pop3);
        assert_eq!(Protocol::for_port(389), Protocol::Ldap);
        assert_eq!(Protocol::for_port(5222), Protocol::XmppClient);
        assert_eq!(Protocol::for_port(5269), Protocol::XmppServer);
        assert_eq!(Protocol::for_port(4190), Protocol::Sieve);
        assert_eq!(Protocol::for_port(443), Protocol::Tls);
    }

    #[test]
    fn defaults() {
        let l = Limits::default();
        assert_eq!(
            (l.timeout, l.max_bytes, l.versions),
            (Duration::from_secs(10), 256 * 1024, Versions::Any)
        );
    }

    #[test]
    fn endpoint_names_address_and_name() {
        let t = Target {
            connect: "127.0.0.1:2525".parse().expect("addr"),
            server_name: "mail.example.org",
            protocol: Protocol::Smtp,
        };
        assert_eq!(endpoint(&t), "127.0.0.1:2525 (mail.example.org)");
        let t = Target {
            server_name: "127.0.0.1",
            ..t
        };
        assert_eq!(endpoint(&t), "127.0.0.1:2525");
    }
}
