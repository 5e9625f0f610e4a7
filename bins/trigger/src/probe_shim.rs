//! Stand-in for certdrop-probe's API (crates/probe, branch `probe`) until
//! that crate is merged: the same names and shapes, implicit TLS only,
//! read with certdrop-tlsfetch (TLS 1.2). Removed by the merge.

use std::net::SocketAddr;
use std::time::Duration;

/// How the TLS handshake is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Implicit TLS.
    Tls,
    /// SMTP STARTTLS.
    Smtp,
    /// IMAP STARTTLS.
    Imap,
    /// POP3 STLS.
    Pop3,
    /// LDAP StartTLS.
    Ldap,
    /// XMPP client STARTTLS.
    XmppClient,
    /// XMPP server STARTTLS.
    XmppServer,
    /// ManageSieve STARTTLS.
    Sieve,
}

const NAMES: [(Protocol, &str); 8] = [
    (Protocol::Tls, "tls"),
    (Protocol::Smtp, "smtp"),
    (Protocol::Imap, "imap"),
    (Protocol::Pop3, "pop3"),
    (Protocol::Ldap, "ldap"),
    (Protocol::XmppClient, "xmpp-client"),
    (Protocol::XmppServer, "xmpp-server"),
    (Protocol::Sieve, "sieve"),
];

impl Protocol {
    /// From its name.
    pub fn from_name(s: &str) -> Result<Protocol, String> {
        NAMES
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(p, _)| *p)
            .ok_or_else(|| {
                let all: Vec<&str> = NAMES.iter().map(|(_, n)| *n).collect();
                format!("'{s}': expected one of {}", all.join(", "))
            })
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("tls", |(_, n)| n)
    }

    /// The usual protocol of a well-known port.
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

/// Where to probe.
pub struct Target<'a> {
    /// Address.
    pub connect: SocketAddr,
    /// SNI.
    pub server_name: &'a str,
    /// Protocol.
    pub protocol: Protocol,
}

/// Bounds.
pub struct Limits {
    /// The whole probe.
    pub timeout: Duration,
}

/// What was served.
pub struct Served {
    /// DER, leaf first.
    pub certs: Vec<Vec<u8>>,
}

/// The chain served.
pub fn fetch_chain(target: &Target, limits: &Limits) -> Result<Served, String> {
    if target.protocol != Protocol::Tls {
        return Err(format!("{}: not supported yet", target.protocol.name()));
    }
    certdrop_tlsfetch::fetch_chain(target.connect, target.server_name, limits.timeout)
        .map(|c| Served { certs: c.certs })
        .map_err(|e| e.to_string())
}
