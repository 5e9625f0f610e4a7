//! `certdrop-check dane NAME PORT`: does the service at NAME:PORT serve a
//! chain its TLSA records match? The counterpart of `ldns-dane verify`
//! (formerly `certdrop-zone verify`), and the matching rules the endpoint
//! checks of `run` use.
//!
//! 1. The TLSA RRset at `_PORT._tcp.NAME` (RFC 6698 §3): asked directly
//!    and non-recursively of `--server`, an authoritative server of the
//!    zone (DNSSEC signatures not checked: the question is whether the
//!    server we publish through serves what matches); or asked of a
//!    validating resolver (`--resolver`), whose answer must carry the AD
//!    bit (RFC 7671 §3: unauthenticated records are not used).
//! 2. The addresses to test: `--connect`, or NAME's A/AAAA at the same
//!    server (no CNAME chasing). Every address is tested.
//! 3. The chain each address serves, with SNI = NAME, after STARTTLS for
//!    the port's protocol (certdrop-probe: TLS 1.2 or 1.3; the chain is
//!    recorded, nothing in it is trusted).
//! 4. A match (RFC 7671 §5): usage 3 (DANE-EE) against the leaf, with no
//!    name or expiry check (§5.1); usage 2 (DANE-TA) against any
//!    certificate the server sent above its leaf (§5.2.2 asks servers to
//!    include the trust anchor). For DANE-TA only that match is checked:
//!    the signatures from the leaf up to the matched certificate, and the
//!    leaf's name and validity, are not (no PKIX path validation here); the
//!    output says so. Usages 0 and 1 need the client's CA store and are
//!    unusable here, as are unknown selectors and matching types (RFC 7671
//!    §4.1, RFC 7218).
//!
//! Exit: 0 match (one line on stdout), 65 mismatch or an answer the
//! resolver did not validate, 66 no (usable) TLSA record, 69 the DNS server
//! or the service cannot be reached or fails the handshake, 64 a bad name.
//! It reads nothing from disk and writes nothing; what it parses from the
//! network is bounded by the timeout and by size limits in certdrop-dns
//! and certdrop-probe.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use certdrop_core::certinfo::{self, hex};
use certdrop_core::error::{Error, Result, Worst};
use certdrop_core::exit::Outcome;
use certdrop_core::output::Output;
use certdrop_dns::{DnsError, Tlsa};
use certdrop_probe::{Limits, Protocol, Served, Target};
use sha2::{Digest, Sha256, Sha512};

/// Default timeout of each DNS query and of each probe.
pub const DEFAULT_TIMEOUT: &str = "5s";

/// Certificate usage DANE-TA (RFC 7218): a trust anchor the server sends.
pub const USAGE_DANE_TA: u8 = 2;
/// Certificate usage DANE-EE (RFC 7218): the server's own certificate or key.
pub const USAGE_DANE_EE: u8 = 3;
/// Selector Cert: the whole certificate (RFC 6698 §2.1.2).
pub const SELECTOR_CERT: u8 = 0;
/// Selector SPKI: the SubjectPublicKeyInfo (RFC 6698 §2.1.2).
pub const SELECTOR_SPKI: u8 = 1;
/// Matching type Full: the selected bytes themselves (RFC 6698 §2.1.3).
pub const MATCH_FULL: u8 = 0;
/// Matching type SHA2-256 (RFC 6698 §2.1.3).
pub const MATCH_SHA256: u8 = 1;
/// Matching type SHA2-512 (RFC 6698 §2.1.3).
pub const MATCH_SHA512: u8 = 2;

/// Where the records are asked.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// An authoritative server, directly (RD=0).
    Server(SocketAddr),
    /// A validating resolver (RD=1); the AD bit is required.
    Resolver(SocketAddr),
}

/// What to check, from the command line.
#[derive(Debug, Clone)]
pub struct Request {
    /// The service's host name (also the SNI).
    pub name: String,
    /// Its TCP port.
    pub port: u16,
    /// Where the TLSA records and the addresses come from.
    pub dns: Source,
    /// Connect here instead of NAME's addresses.
    pub connect: Option<SocketAddr>,
    /// How TLS is started (by port when not given).
    pub protocol: Option<String>,
    /// Timeout of each step.
    pub timeout: Duration,
}

/// Run `dane`: Ok on a match at every address, else the worst failure, each reported in one line.
pub fn run(req: &Request, out: &Output) -> Result<Outcome> {
    let name = certdrop_core::name::domain(&req.name, false)
        .map_err(|e| Error::usage(format!("dane: {e}")))?;
    let protocol = match &req.protocol {
        None => Protocol::for_port(req.port),
        Some(p) => Protocol::from_name(p).map_err(|e| Error::usage(format!("--protocol: {e}")))?,
    };
    let owner = format!("_{}._tcp.{name}", req.port);
    let (server, records) = match req.dns {
        Source::Server(s) => (
            s,
            certdrop_dns::query_tlsa(s, &owner, req.timeout).map_err(|e| dns_failure(&e))?,
        ),
        Source::Resolver(s) => {
            let (records, ad) = certdrop_dns::query_tlsa_validated(s, &owner, req.timeout)
                .map_err(|e| dns_failure(&e))?;
            if !ad {
                return Err(Error::data(format!(
                    "{owner}: {s} did not validate the answer (no AD bit): \
                     TLSA records are used only when authenticated (RFC 7671 §3)"
                )));
            }
            (s, records)
        }
    };
    let (usable, unusable): (Vec<Tlsa>, Vec<Tlsa>) = records.into_iter().partition(usable);
    for t in &unusable {
        out.verbose(&format!(
            "{owner}: ignoring TLSA {}: {}",
            show(t),
            unusable_why(t)
        ));
    }
    if usable.is_empty() {
        let why = match unusable.first() {
            None => format!("no TLSA record at {server}"),
            Some(t) => format!("no usable TLSA record ({}: {})", show(t), unusable_why(t)),
        };
        return Err(Error::noinput(format!("{owner}: {why}")));
    }
    let addrs: Vec<SocketAddr> = match req.connect {
        Some(a) => vec![a],
        None => match req.dns {
            Source::Server(_) => certdrop_dns::query_addrs(server, &name, req.timeout),
            Source::Resolver(_) => certdrop_dns::query_addrs_recursive(server, &name, req.timeout),
        }
        .map_err(|e| dns_failure(&e))?
        .into_iter()
        .map(|ip: IpAddr| SocketAddr::new(ip, req.port))
        .collect(),
    };
    if addrs.is_empty() {
        return Err(Error::unavailable(format!(
            "{owner}: {name} has no A or AAAA record at {server}"
        )));
    }
    let mut worst = Worst::default();
    for addr in &addrs {
        let subject = match addrs.len() {
            1 => owner.clone(),
            _ => format!("{owner} at {addr}"),
        };
        let target = Target {
            connect: *addr,
            server_name: &name,
            protocol,
        };
        if let Err(e) = check_at(&subject, &target, &usable, req.timeout, out) {
            worst.add(out, e);
        }
    }
    worst.or(Outcome::Reported)
}

/// Fetch the chain one address serves and match it against the usable records.
fn check_at(
    subject: &str,
    target: &Target,
    records: &[Tlsa],
    timeout: Duration,
    out: &Output,
) -> Result<()> {
    let limits = Limits {
        timeout,
        ..Limits::default()
    };
    let served = certdrop_probe::fetch_chain(target, &limits)
        .map_err(|e| Error::unavailable(format!("{subject}: {e}")))?;
    describe(subject, target, &served, out);
    let certs = &served.certs;
    match find_match(records, certs) {
        Some((t, 0)) => {
            out.print(&format!(
                "{subject}: dane-validated ({} matches the served leaf)",
                triple(t)
            ));
            Ok(())
        }
        Some((t, i)) => {
            out.print(&format!(
                "{subject}: dane-validated ({} matches served certificate {} of {}{}; \
                 the path from the leaf to it is not validated)",
                triple(t),
                i + 1,
                certs.len(),
                subject_of(&certs[i]).map_or(String::new(), |s| format!(", {s}")),
            ));
            Ok(())
        }
        None => {
            for t in records {
                out.verbose(&format!("{subject}: TLSA {}: no match", show(t)));
            }
            Err(Error::data(format!(
                "{subject}: mismatch: no TLSA record matches the served chain"
            )))
        }
    }
}

/// The first record that matches, and the index of the certificate it matched (RFC 7671 §5.1, §5.2).
pub fn find_match<'t>(records: &'t [Tlsa], certs: &[Vec<u8>]) -> Option<(&'t Tlsa, usize)> {
    records.iter().find_map(|t| {
        let candidates = match t.usage {
            USAGE_DANE_EE => 0..certs.len().min(1),
            _ => 1..certs.len(),
        };
        candidates
            .into_iter()
            .find(|&i| matches(t, &certs[i]))
            .map(|i| (t, i))
    })
}

/// Whether one certificate matches one record's selector, matching type and data (RFC 6698 §2.1.2, §2.1.3).
pub fn matches(t: &Tlsa, der: &[u8]) -> bool {
    match t.selector {
        SELECTOR_CERT => matches_data(t, der),
        SELECTOR_SPKI => match certinfo::parse_der(der) {
            Ok(cert) => matches_data(t, &cert.spki),
            Err(_) => false,
        },
        _ => false,
    }
}

/// Whether the bytes a selector picked match the record's matching type and data (RFC 6698 §2.1.3).
pub fn matches_data(t: &Tlsa, selected: &[u8]) -> bool {
    match t.matching {
        MATCH_FULL => selected == t.data,
        MATCH_SHA256 => Sha256::digest(selected).as_slice() == t.data,
        MATCH_SHA512 => Sha512::digest(selected).as_slice() == t.data,
        _ => false,
    }
}

/// Usages 2 and 3 with a known selector and matching type (RFC 7671 §4.1: the others are unusable).
pub fn usable(t: &Tlsa) -> bool {
    unusable_why(t).is_empty()
}

/// Why a record cannot be used here; empty if it can (RFC 7218 acronyms).
fn unusable_why(t: &Tlsa) -> &'static str {
    match (t.usage, t.selector, t.matching) {
        (0 | 1, _, _) => "usages 0 (PKIX-TA) and 1 (PKIX-EE) need a CA store; not supported",
        (USAGE_DANE_TA | USAGE_DANE_EE, 0 | 1, 0..=2) => "",
        (USAGE_DANE_TA | USAGE_DANE_EE, 0 | 1, _) => "unknown matching type",
        (USAGE_DANE_TA | USAGE_DANE_EE, _, _) => "unknown selector",
        _ => "unknown usage",
    }
}

/// `-v`: what was served, and what a `3 1 1` record for it would be.
fn describe(subject: &str, target: &Target, served: &Served, out: &Output) {
    out.verbose(&format!(
        "{subject}: {} ({}) served {} certificate(s) over {}",
        target.connect,
        target.protocol.name(),
        served.certs.len(),
        served.version,
    ));
    for (i, der) in served.certs.iter().enumerate() {
        let spki = certinfo::parse_der(der)
            .map(|c| format!("SPKI SHA-256 {}", hex(&certinfo::spki_sha256(&c.spki))))
            .unwrap_or_else(|e| e);
        let who = subject_of(der).unwrap_or_default();
        out.verbose(&format!("{subject}: certificate {}: {who}: {spki}", i + 1));
    }
}

/// A certificate's subject for messages, if it parses.
fn subject_of(der: &[u8]) -> Option<String> {
    certinfo::parse_der(der).ok().map(|c| c.subject)
}

/// `3 1 1`.
pub fn triple(t: &Tlsa) -> String {
    format!("{} {} {}", t.usage, t.selector, t.matching)
}

/// `3 1 1 ab12…` for messages: the triple and the start of the data.
fn show(t: &Tlsa) -> String {
    let data = hex(&t.data);
    let cut = data.get(..16).map_or(data.clone(), |d| format!("{d}…"));
    format!("{} {cut}", triple(t))
}

/// A DNS failure: a bad name is a usage error, anything else means the DNS cannot be used now.
fn dns_failure(e: &DnsError) -> Error {
    match e {
        DnsError::InvalidName { .. } => Error::usage(e.to_string()),
        _ => Error::unavailable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlsa(usage: u8, selector: u8, matching: u8, data: &[u8]) -> Tlsa {
        Tlsa {
            usage,
            selector,
            matching,
            data: data.to_vec(),
            ttl: 60,
        }
    }

    #[test]
    fn full_certificate_and_digests_match() {
        let der = b"not parsed for selector 0".to_vec();
        assert!(matches(&tlsa(3, 0, 0, &der), &der));
        assert!(matches(&tlsa(3, 0, 1, &Sha256::digest(&der)), &der));
        assert!(matches(&tlsa(3, 0, 2, &Sha512::digest(&der)), &der));
        assert!(!matches(&tlsa(3, 0, 1, &Sha512::digest(&der)), &der));
        // Selector 1 needs a certificate that parses.
        assert!(!matches(&tlsa(3, 1, 0, &der), &der));
        // The selected bytes alone (a staged key's SPKI).
        assert!(matches_data(
            &tlsa(3, 1, 1, &Sha256::digest(b"spki")),
            b"spki"
        ));
    }

    #[test]
    fn usages_pick_their_certificates() {
        let certs = vec![b"leaf".to_vec(), b"issuer".to_vec()];
        let ee = tlsa(3, 0, 0, b"issuer");
        let ta = tlsa(2, 0, 0, b"issuer");
        assert!(find_match(std::slice::from_ref(&ee), &certs).is_none());
        assert_eq!(
            find_match(std::slice::from_ref(&ta), &certs).map(|m| m.1),
            Some(1)
        );
        // DANE-TA never matches the leaf itself.
        assert!(find_match(&[tlsa(2, 0, 0, b"leaf")], &certs).is_none());
        assert_eq!(
            find_match(&[ta, tlsa(3, 0, 0, b"leaf")], &certs).map(|m| m.1),
            Some(1)
        );
        assert!(!usable(&tlsa(1, 0, 1, b"x")));
        assert!(!usable(&tlsa(3, 2, 1, b"x")));
        assert!(!usable(&tlsa(3, 1, 3, b"x")));
        assert!(usable(&tlsa(2, 1, 2, b"x")));
    }
}
