//! One endpoint of a line: the chain it serves (certdrop-probe: TLS 1.2 or
//! 1.3, STARTTLS where the protocol has it; nothing trusted but the bytes),
//! compared with the published leaf, and the TLSA records at its owner
//! matched against it and against the staged next key.

use certdrop_core::certinfo::hex;
use certdrop_dns::Tlsa as Record;
use certdrop_probe::{Limits, Target};
use sha2::{Digest, Sha256};

use crate::config::{Config, Dns, Endpoint as EndpointConfig};
use crate::dane;
use crate::report::{Cert, Endpoint, Found, Tlsa};

/// Probe one endpoint; `expected` is the SHA-256 of the published leaf,
/// `next` the staged next key's SPKI (DER).
pub fn look(
    config: &Config,
    e: &EndpointConfig,
    now: i64,
    expected: Option<&str>,
    next: Option<&[u8]>,
) -> Endpoint {
    let mut seen = Endpoint {
        endpoint: e.label(),
        protocol: e.protocol.name(),
        served: Found::default(),
        version: None,
        matches_published: None,
        tlsa: None,
    };
    let target = Target {
        connect: e.connect,
        server_name: &e.sni,
        protocol: e.protocol,
    };
    let limits = Limits {
        timeout: config.timeout,
        ..Limits::default()
    };
    let chain = match certdrop_probe::fetch_chain(&target, &limits) {
        Ok(s) => {
            seen.version = Some(s.version);
            s.certs
        }
        Err(err) => {
            seen.served = Found::error(err.to_string());
            return seen;
        }
    };
    let Some(leaf) = chain.first() else {
        seen.served = Found::error(format!("{}: no certificate served", e.connect));
        return seen;
    };
    seen.served = Cert::from_der(leaf, now).map_or_else(
        |why| Found::error(format!("{}: served leaf: {why}", e.connect)),
        Found::cert,
    );
    if let Some(want) = expected {
        seen.matches_published = Some(hex(&Sha256::digest(leaf)) == want);
    }
    if let Some(owner) = &e.tlsa {
        seen.tlsa = tlsa(config, owner, &chain, next);
    }
    seen
}

/// The TLSA check at `owner`: none when no DNS server is configured.
fn tlsa(config: &Config, owner: &str, chain: &[Vec<u8>], next: Option<&[u8]>) -> Option<Tlsa> {
    let mut t = Tlsa {
        owner: owner.to_string(),
        ..Tlsa::default()
    };
    let records: Vec<Record> = match config.dns {
        Dns::None => return None,
        Dns::Authoritative(server) => {
            match certdrop_dns::query_tlsa(server, owner, config.timeout) {
                Ok(r) => r,
                Err(e) => {
                    t.error = Some(e.to_string());
                    return Some(t);
                }
            }
        }
        Dns::Validating(server) => {
            match certdrop_dns::query_tlsa_validated(server, owner, config.timeout) {
                Ok((r, true)) => r,
                Ok((_, false)) => {
                    t.error = Some(format!("{server} did not validate the answer (no AD bit)"));
                    return Some(t);
                }
                Err(e) => {
                    t.error = Some(e.to_string());
                    return Some(t);
                }
            }
        }
    };
    let usable: Vec<Record> = records.into_iter().filter(dane::usable).collect();
    t.records = usable.len();
    if usable.is_empty() {
        return Some(t);
    }
    let found = dane::find_match(&usable, chain);
    t.current = Some(found.is_some());
    t.matched = found.map(|(r, _)| dane::triple(r));
    if let Some(spki) = next {
        // Only DANE-EE SPKI records name a key; a set of DANE-TA records
        // survives a key rollover unchanged and has nothing to say here.
        let by_key: Vec<&Record> = usable
            .iter()
            .filter(|r| r.usage == dane::USAGE_DANE_EE && r.selector == dane::SELECTOR_SPKI)
            .collect();
        if !by_key.is_empty() {
            t.next = Some(by_key.iter().any(|r| dane::matches_data(r, spki)));
        }
    }
    Some(t)
}
