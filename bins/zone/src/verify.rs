//! `certdrop-zone verify NAME PORT --server HOST:PORT`: does the service at
//! NAME:PORT serve a certificate its published TLSA records match? The
//! counterpart of `ldns-dane verify` for the records this stage publishes.
//!
//! 1. The TLSA RRset at `_PORT._tcp.NAME` (RFC 6698 §3), asked directly and
//!    non-recursively of `--server`, an authoritative server of the zone
//!    (certdrop-dns: no resolver). DNSSEC signatures are not checked: the
//!    server is the one we publish through, so the question is whether it
//!    serves what matches, not whether a validator would accept the chain.
//! 2. The addresses to test: `--connect`, or NAME's A/AAAA at the same
//!    server (no CNAME chasing). Every address is tested.
//! 3. The chain each address serves, with SNI = NAME, read from a TLS 1.2
//!    handshake that is never finished ([`crate::tlsfetch`]: this privilege
//!    domain links no TLS library).
//! 4. A match (RFC 7671 §5): usage 3 (DANE-EE) against the leaf, with no
//!    name or expiry check (§5.1); usage 2 (DANE-TA) against any certificate
//!    the server sent above its leaf (§5.2.2 asks servers to include the
//!    trust anchor). For DANE-TA only that match is checked: the signatures
//!    from the leaf up to the matched certificate, and the leaf's name and
//!    validity, are not (no PKIX path validation here); the output says so.
//!    Usages 0 and 1 need the client's CA store and are unusable here, as
//!    are unknown selectors and matching types (RFC 7671 §4.1, RFC 7218).
//!
//! Exit: 0 match (one line on stdout), 65 mismatch, 66 no (usable) TLSA
//! record, 69 the DNS server or the service cannot be reached or does not
//! speak TLS 1.2, 64 a bad name. The process reads nothing from disk and
//! writes nothing; what it parses from the network is bounded by the
//! timeout and by size limits in certdrop-dns and tlsfetch.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use certdrop_core::certinfo::{self, hex};
use certdrop_core::error::{Error, Result, Worst};
use certdrop_core::exit::Outcome;
use certdrop_core::output::Output;
use certdrop_dns::{DnsError, Tlsa};
use certdrop_tlsfetch::{self as tlsfetch, ServedChain};
use sha2::{Digest, Sha256, Sha512};

use crate::tlsa::{
    MATCH_FULL, MATCH_SHA256, MATCH_SHA512, SELECTOR_CERT, SELECTOR_SPKI, USAGE_DANE_EE,
    USAGE_DANE_TA,
};

/// Default timeout of each DNS query, each TCP connect and each TLS read.
pub const DEFAULT_TIMEOUT: &str = "5s";

/// What to verify, from the command line.
#[derive(Debug, Clone)]
pub struct Request {
    /// The service's host name (also the SNI).
    pub name: String,
    /// Its TCP port.
    pub port: u16,
    /// An authoritative server of the zone.
    pub server: SocketAddr,
    /// Connect here instead of NAME's addresses.
    pub connect: Option<SocketAddr>,
    /// Timeout of each step.
    pub timeout: Duration,
}

/// Run `verify`: Ok on a match at every address, else the worst failure, each reported in one line.
pub fn run(req: &Request, out: &Output) -> Result<Outcome> {
    let name = certdrop_core::name::domain(&req.name, false)
        .map_err(|e| Error::usage(format!("verify: {e}")))?;
    let owner = format!("_{}._tcp.{name}", req.port);
    let records =
        certdrop_dns::query_tlsa(req.server, &owner, req.timeout).map_err(|e| dns_failure(&e))?;
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
            None => format!("no TLSA record at {}", req.server),
            Some(t) => format!("no usable TLSA record ({}: {})", show(t), unusable_why(t)),
        };
        return Err(Error::noinput(format!("{owner}: {why}")));
    }
    let addrs: Vec<SocketAddr> = match req.connect {
        Some(a) => vec![a],
        None => certdrop_dns::query_addrs(req.server, &name, req.timeout)
            .map_err(|e| dns_failure(&e))?
            .into_iter()
            .map(|ip: IpAddr| SocketAddr::new(ip, req.port))
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Error::unavailable(format!(
            "{owner}: {name} has no A or AAAA record at {}",
            req.server
        )));
    }
    let mut worst = Worst::default();
    for addr in &addrs {
        let subject = match addrs.len() {
            1 => owner.clone(),
            _ => format!("{owner} at {addr}"),
        };
        if let Err(e) = verify_at(&subject, &name, *addr, &usable, req.timeout, out) {
            worst.add(out, e);
        }
    }
    worst.or(Outcome::Reported)
}

/// Fetch the chain one address serves and match it against the usable records.
fn verify_at(
    subject: &str,
    name: &str,
    addr: SocketAddr,
    records: &[Tlsa],
    timeout: Duration,
    out: &Output,
) -> Result<()> {
    let chain = tlsfetch::fetch_chain(addr, name, timeout)
        .map_err(|e| Error::unavailable(format!("{subject}: TLS at {addr}: {e}")))?;
    describe(subject, addr, &chain, out);
    match find_match(records, &chain.certs) {
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
                chain.certs.len(),
                subject_of(&chain.certs[i]).map_or(String::new(), |s| format!(", {s}")),
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
fn find_match<'t>(records: &'t [Tlsa], certs: &[Vec<u8>]) -> Option<(&'t Tlsa, usize)> {
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
    let selected = match t.selector {
        SELECTOR_CERT => der.to_vec(),
        SELECTOR_SPKI => match certinfo::parse_der(der) {
            Ok(cert) => cert.spki,
            Err(_) => return false,
        },
        _ => return false,
    };
    match t.matching {
        MATCH_FULL => selected == t.data,
        MATCH_SHA256 => Sha256::digest(&selected).as_slice() == t.data,
        MATCH_SHA512 => Sha512::digest(&selected).as_slice() == t.data,
        _ => false,
    }
}

/// Usages 2 and 3 with a known selector and matching type (RFC 7671 §4.1: the others are unusable).
fn usable(t: &Tlsa) -> bool {
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
fn describe(subject: &str, addr: SocketAddr, chain: &ServedChain, out: &Output) {
    out.verbose(&format!(
        "{subject}: {addr} served {} certificate(s), cipher suite {:#06x}{}",
        chain.certs.len(),
        chain.cipher_suite,
        if chain.tls13_capable {
            ", also speaks TLS 1.3"
        } else {
            ""
        }
    ));
    for (i, der) in chain.certs.iter().enumerate() {
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
fn triple(t: &Tlsa) -> String {
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
