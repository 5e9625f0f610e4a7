//! TLSA records (RFC 6698, operated as RFC 7671 says) from the certificate
//! store, driven by the TLSA map of the config repository (DESIGN.md, "TLSA
//! map"). The map says which certificate line backs which TLSA RRset.
//!
//! Map file format, one record set per line, fields separated by blanks:
//!
//! ```text
//! # owner                        line   [usage selector matching]
//! _443._tcp.www.example.org      www    3 1 1
//! _25._tcp.mail.example.org.     mail   DANE-TA SPKI SHA2-256
//! _853._udp.dns.example.org      dns                       # default 3 1 1
//! ```
//!
//! * `owner`: `_<port>._<tcp|udp|sctp>.<domain>` (RFC 6698 §3), port 1-65535
//!   without leading zeros; a trailing dot is allowed, case is folded.
//! * `line`: a certificate-line name: `certs/<line>/` in the store.
//! * the triple is optional (default [`DEFAULT_USAGE`] [`DEFAULT_SELECTOR`]
//!   [`DEFAULT_MATCHING`], i.e. `3 1 1`); all three or none. Numbers or
//!   the RFC 7218 acronyms, case-insensitive: usage 2 `DANE-TA` or 3
//!   `DANE-EE` (0/1, the PKIX usages, are refused: they also depend on the
//!   client's CA list, which certdrop cannot know); selector 0 `Cert` or 1 `SPKI`;
//!   matching 0 `Full`, 1 `SHA2-256` or 2 `SHA2-512`.
//! * `#` starts a comment anywhere; blank lines are ignored. The same
//!   (owner, line, triple) twice is an error. Errors read `file:line: cause`.
//!
//! Where the data comes from:
//!
//! * usage 3 (DANE-EE): the leaf, `certs/<line>/cert.pem`; selector 0 is
//!   its DER, selector 1 its SubjectPublicKeyInfo.
//! * usage 2 (DANE-TA): the issuer, the last certificate of
//!   `certs/<line>/chain.pem` (or, without it, of `fullchain.pem` minus
//!   the leaf).
//!
//! Key rollover (RFC 7671 §8.1, "current + next"): while a staged key
//! `certs/<line>/next/pubkey.pem` exists, every `3 1 x` entry also gets a
//! record for the next key, so the record is in the DNS before the new
//! certificate is served; after the switch, `certs/<line>/prev/pubkey.pem`
//! keeps the old key's record until the issuer retires it (`retire_after`),
//! so services still serving the old certificate stay valid. `3 0 x` cannot do that (the next certificate does
//! not exist yet): it gets only the current record, so it does not survive
//! a renewal cleanly — clients fail until the new record is published and
//! the old one has left their caches (up to one TTL). Prefer `3 1 x`. Usage 2 names the issuer, which a key
//! rollover does not change (a CA changing its intermediate does).
//! Identical records are published once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use certdrop_core::certinfo::{self, hex, CertInfo};
use certdrop_core::name;
use certdrop_core::store::{CERT, CHAIN, FULLCHAIN, NEXT, PREV, PUBKEY};
use certdrop_core::untrusted::{self, Rules};
use sha2::{Digest, Sha256, Sha512};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::record::{RType, Record};

/// Default certificate usage: 3, DANE-EE (RFC 7671 §5.1).
pub const DEFAULT_USAGE: u8 = USAGE_DANE_EE;
/// Default selector: 1, SPKI (RFC 7671 §5.1).
pub const DEFAULT_SELECTOR: u8 = SELECTOR_SPKI;
/// Default matching type: 1, SHA2-256 (RFC 7671 §5.1).
pub const DEFAULT_MATCHING: u8 = MATCH_SHA256;
/// Largest PEM file read from the store.
pub const MAX_PEM: u64 = 256 * 1024;
/// Most threads that load certificates at once.
const LOAD_THREADS: usize = 4;

/// Usage 2, DANE-TA (RFC 6698 §2.1.1, RFC 7218 §2.1).
pub const USAGE_DANE_TA: u8 = 2;
/// Usage 3, DANE-EE (RFC 6698 §2.1.1, RFC 7218 §2.1).
pub const USAGE_DANE_EE: u8 = 3;
/// Selector 0, full certificate (RFC 6698 §2.1.2, RFC 7218 §2.2).
pub const SELECTOR_CERT: u8 = 0;
/// Selector 1, SubjectPublicKeyInfo (RFC 6698 §2.1.2, RFC 7218 §2.2).
pub const SELECTOR_SPKI: u8 = 1;
/// Matching type 0, exact data (RFC 6698 §2.1.3, RFC 7218 §2.3).
pub const MATCH_FULL: u8 = 0;
/// Matching type 1, SHA-256 (RFC 6698 §2.1.3, RFC 7218 §2.3).
pub const MATCH_SHA256: u8 = 1;
/// Matching type 2, SHA-512 (RFC 6698 §2.1.3, RFC 7218 §2.3).
pub const MATCH_SHA512: u8 = 2;

/// Transport labels allowed in an owner (RFC 6698 §3).
const PROTOCOLS: &[&str] = &["tcp", "udp", "sctp"];

/// One map line: an RRset member to publish (RFC 6698 §2, §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    /// Owner, `_port._proto.domain`, lowercase, no trailing dot.
    pub owner: String,
    /// Certificate line in the store.
    pub line: String,
    /// Certificate usage (2 or 3).
    pub usage: u8,
    /// Selector (0 or 1).
    pub selector: u8,
    /// Matching type (0, 1 or 2).
    pub matching: u8,
    /// Line number in the map file, from 1.
    pub source_line: usize,
}

/// Parse a TLSA map (format in the module header; RFC 6698 §2.2, §3); errors read `path:line: cause`.
pub fn parse_map(path: &Path, text: &str) -> Result<Vec<MapEntry>, String> {
    let mut out: Vec<MapEntry> = Vec::new();
    // Duplicates are found by key, not by scanning: maps have 10,000 lines.
    let mut seen: std::collections::HashMap<(String, String, u8, u8, u8), usize> =
        std::collections::HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let err = |why: String| format!("{}:{n}: {why}", path.display());
        let content = raw.split('#').next().unwrap_or("");
        let fields: Vec<&str> = content.split_ascii_whitespace().collect();
        let (owner, line, triple) = match fields.as_slice() {
            [] => continue,
            [o, l] => (o, l, (DEFAULT_USAGE, DEFAULT_SELECTOR, DEFAULT_MATCHING)),
            [o, l, u, s, m] => (
                o,
                l,
                (
                    usage(u).map_err(err)?,
                    selector(s).map_err(err)?,
                    matching(m).map_err(err)?,
                ),
            ),
            _ => {
                return Err(err(format!(
                    "expected 'owner line [usage selector matching]', found {} fields",
                    fields.len()
                )))
            }
        };
        let owner = check_owner(owner).map_err(err)?;
        name::line_name(line).map_err(err)?;
        let entry = MapEntry {
            owner,
            line: line.to_string(),
            usage: triple.0,
            selector: triple.1,
            matching: triple.2,
            source_line: n,
        };
        let key = (
            entry.owner.clone(),
            entry.line.clone(),
            entry.usage,
            entry.selector,
            entry.matching,
        );
        if let Some(first) = seen.insert(key, n) {
            return Err(err(format!("same entry as line {first}")));
        }
        out.push(entry);
    }
    Ok(out)
}

/// Check and normalise a TLSA owner `_port._proto.domain` (RFC 6698 §3).
pub fn check_owner(text: &str) -> Result<String, String> {
    let lower = text.trim_end_matches('.').to_ascii_lowercase();
    let mut parts = lower.splitn(3, '.');
    let (port, proto, domain) = match (parts.next(), parts.next(), parts.next()) {
        (Some(p), Some(t), Some(d)) => (p, t, d),
        _ => {
            return Err(format!(
                "owner '{text}': expected _<port>._<tcp|udp|sctp>.<domain>"
            ))
        }
    };
    let port_ok = port
        .strip_prefix('_')
        .filter(|p| !p.starts_with('0') && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| (1..=65535).contains(&p));
    if !port_ok {
        return Err(format!(
            "owner '{text}': '{port}' is not _<port> with a port 1-65535"
        ));
    }
    if !proto
        .strip_prefix('_')
        .is_some_and(|p| PROTOCOLS.contains(&p))
    {
        return Err(format!(
            "owner '{text}': '{proto}' is not _tcp, _udp or _sctp"
        ));
    }
    let domain = name::domain(domain, false).map_err(|e| format!("owner '{text}': {e}"))?;
    Ok(format!("{port}.{proto}.{domain}"))
}

fn usage(text: &str) -> Result<u8, String> {
    match text.to_ascii_uppercase().as_str() {
        "2" | "DANE-TA" => Ok(USAGE_DANE_TA),
        "3" | "DANE-EE" => Ok(USAGE_DANE_EE),
        "0" | "1" | "PKIX-TA" | "PKIX-EE" => Err(format!(
            "usage {text}: PKIX usages are not supported, use 3 (DANE-EE) or 2 (DANE-TA)"
        )),
        _ => Err(format!("usage '{text}': expected 2, 3, DANE-TA or DANE-EE")),
    }
}

fn selector(text: &str) -> Result<u8, String> {
    match text.to_ascii_uppercase().as_str() {
        "0" | "CERT" => Ok(SELECTOR_CERT),
        "1" | "SPKI" => Ok(SELECTOR_SPKI),
        _ => Err(format!("selector '{text}': expected 0, 1, Cert or SPKI")),
    }
}

fn matching(text: &str) -> Result<u8, String> {
    match text.to_ascii_uppercase().as_str() {
        "0" | "FULL" => Ok(MATCH_FULL),
        "1" | "SHA2-256" => Ok(MATCH_SHA256),
        "2" | "SHA2-512" => Ok(MATCH_SHA512),
        _ => Err(format!(
            "matching type '{text}': expected 0, 1, 2, Full, SHA2-256 or SHA2-512"
        )),
    }
}

/// The certificate association data for `data` under matching type `m` (RFC 6698 §2.1.3).
pub fn association(m: u8, data: &[u8]) -> String {
    match m {
        MATCH_SHA256 => hex(&Sha256::digest(data)),
        MATCH_SHA512 => hex(&Sha512::digest(data)),
        _ => hex(data),
    }
}

/// What one certificate line offers: current leaf, issuer, staged next
/// key. A missing leaf or issuer is reported only by the entries needing it.
struct LineData {
    leaf: Result<Cert, String>,
    /// Loaded only for lines with a usage 2 entry.
    issuer: Result<Cert, String>,
    next_spki: Option<Vec<u8>>,
    /// The retiring key of a rollover just done.
    prev_spki: Option<Vec<u8>>,
}

/// What a record is made from: the certificate and its SPKI (the rest of a
/// parsed certificate is dropped at once: maps have 10,000 lines and more).
struct Cert {
    /// Empty unless an entry of the line selects the whole certificate
    /// (selector 0): most maps select the key, and a map of 100,000 lines
    /// would otherwise hold 40 MB of certificates it never hashes.
    der: Vec<u8>,
    spki: Vec<u8>,
}

impl Cert {
    fn of(c: CertInfo, keep_der: bool) -> Cert {
        Cert {
            der: if keep_der { c.der } else { Vec::new() },
            spki: c.spki,
        }
    }
}

/// The map entries whose owner lies inside `origin`, and one warning per
/// entry outside it (a mistyped name in the map or in zone.toml): the same
/// words as for SSHFP hosts outside the zone, never a silent drop.
/// Entries inside one of `others` (zones that read the same map) are
/// theirs, left out without a word.
pub fn inside(
    map_path: &Path,
    map: Vec<MapEntry>,
    origin: &str,
    others: &[&str],
) -> (Vec<MapEntry>, Vec<String>) {
    let (inside, outside): (Vec<MapEntry>, Vec<MapEntry>) = map
        .into_iter()
        .partition(|e| certdrop_core::name::in_zone(&e.owner, origin));
    let problems = outside
        .iter()
        .filter(|e| {
            !others
                .iter()
                .any(|o| certdrop_core::name::in_zone(&e.owner, o))
        })
        .map(|e| {
            format!(
                "{}:{}: {}: rejected: outside the zone {origin}",
                map_path.display(),
                e.source_line,
                e.owner
            )
        })
        .collect();
    (inside, problems)
}

/// TLSA records (RFC 6698 §2.1, RFC 7671 §8.1 for the next key) for every
/// map entry, sorted by owner and RDATA, without duplicates; and the
/// problems met, one line each. An entry with a problem yields no record.
pub fn records(map: &[MapEntry], certs_dir: &Path, ttl: u32) -> (Vec<Record>, Vec<String>) {
    let mut problems = Vec::new();
    let lines = load_lines(map, certs_dir, &mut problems);
    let mut out = BTreeSet::new();
    for e in map {
        let data = &lines[e.line.as_str()];
        let subject = format!("map line {} ({} {})", e.source_line, e.owner, e.line);
        let cert = match e.usage {
            USAGE_DANE_EE => &data.leaf,
            USAGE_DANE_TA => &data.issuer,
            u => {
                problems.push(format!("{subject}: unsupported usage {u}, no record"));
                continue;
            }
        };
        let cert = match cert {
            Ok(c) => c,
            Err(why) => {
                problems.push(format!("{subject}: {why}, no record"));
                continue;
            }
        };
        let triple = format!("{} {} {}", e.usage, e.selector, e.matching);
        let mut push = |bytes: &[u8]| {
            let rdata = format!("{triple} {}", association(e.matching, bytes));
            out.insert(Record::new(&e.owner, ttl, RType::Tlsa, rdata));
        };
        match e.selector {
            SELECTOR_CERT => push(&cert.der),
            SELECTOR_SPKI => push(&cert.spki),
            s => {
                problems.push(format!("{subject}: unsupported selector {s}, no record"));
                continue;
            }
        }
        // RFC 7671 §8.1: publish the next key beside the current one,
        // and the previous one until the issuer retires it.
        if e.usage == USAGE_DANE_EE && e.selector == SELECTOR_SPKI {
            for other in [&data.next_spki, &data.prev_spki].into_iter().flatten() {
                push(other);
            }
        }
    }
    (out.into_iter().collect(), problems)
}

/// Read the current leaf, its issuer and the staged next key of a line. A
/// broken next key is reported here; the current records still go out.
/// Load every line the map names, once each, on up to [`LOAD_THREADS`]
/// threads: reading and parsing thousands of certificates dominates a build.
fn load_lines<'a>(
    map: &'a [MapEntry],
    certs_dir: &Path,
    problems: &mut Vec<String>,
) -> BTreeMap<&'a str, LineData> {
    let mut names: Vec<&str> = map.iter().map(|e| e.line.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let want_issuer: std::collections::HashSet<&str> = map
        .iter()
        .filter(|e| e.usage == USAGE_DANE_TA)
        .map(|e| e.line.as_str())
        .collect();
    let want_issuer = &want_issuer;
    let want_der: std::collections::HashSet<&str> = map
        .iter()
        .filter(|e| e.selector == SELECTOR_CERT)
        .map(|e| e.line.as_str())
        .collect();
    let want_der = &want_der;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(LOAD_THREADS);
    let chunk = names.len().div_ceil(threads).max(1);
    let loaded: Vec<Vec<(&str, LineData, Vec<String>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|name| {
                            let mut p = Vec::new();
                            let issuer = want_issuer.contains(name);
                            let der = want_der.contains(name);
                            let data = load_line(&certs_dir.join(name), issuer, der, &mut p);
                            (*name, data, p)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a loader thread does not panic"))
            .collect()
    });
    let mut lines = BTreeMap::new();
    for (name, data, p) in loaded.into_iter().flatten() {
        problems.extend(p);
        lines.insert(name, data);
    }
    lines
}

fn load_line(dir: &Path, issuer: bool, der: bool, problems: &mut Vec<String>) -> LineData {
    let mut key = |sub: &str, what: &str| {
        let path = dir.join(sub).join(PUBKEY);
        read_optional(&path)
            .and_then(|text| {
                text.map(|t| parse_pubkey(&t).map_err(|e| format!("{}: {e}", path.display())))
                    .transpose()
            })
            .map_err(|e| problems.push(format!("{e}, {what} key not published")))
            .unwrap_or_default()
    };
    let next_spki = key(NEXT, "next");
    let prev_spki = key(PREV, "previous");
    LineData {
        leaf: load_leaf(dir).map(|c| Cert::of(c, der)),
        issuer: match issuer {
            true => load_issuer(dir).map(|c| Cert::of(c, der)),
            false => Err("issuer not loaded".into()),
        },
        next_spki,
        prev_spki,
    }
}

/// The leaf: the one certificate of cert.pem.
fn load_leaf(dir: &Path) -> Result<CertInfo, String> {
    let path = dir.join(CERT);
    let text = read_optional(&path)?.ok_or_else(|| format!("{}: not found", path.display()))?;
    let mut certs = certinfo::parse_chain(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    match certs.pop() {
        Some(leaf) if certs.is_empty() => Ok(leaf),
        _ => Err(format!(
            "{}: {} certificates, expected the leaf alone",
            path.display(),
            certs.len() + 1
        )),
    }
}

/// The issuer: the last certificate of chain.pem, else of fullchain.pem
/// after the leaf.
fn load_issuer(dir: &Path) -> Result<CertInfo, String> {
    for (file, skip) in [(CHAIN, 0), (FULLCHAIN, 1)] {
        let path = dir.join(file);
        let Some(text) = read_optional(&path)? else {
            continue;
        };
        if certinfo::pem_blocks(&text, "CERTIFICATE")
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len()
            <= skip
        {
            continue;
        }
        let mut certs =
            certinfo::parse_chain(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(issuer) = certs.pop() {
            return Ok(issuer);
        }
    }
    Err(format!(
        "{}: no issuer certificate in {CHAIN} or {FULLCHAIN}",
        dir.display()
    ))
}

/// The DER of the one `PUBLIC KEY` block of a PEM file, checked to be a
/// SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) with nothing after it.
fn parse_pubkey(text: &[u8]) -> Result<Vec<u8>, String> {
    let blocks = certinfo::pem_blocks(text, "PUBLIC KEY")?;
    let [der] = blocks.as_slice() else {
        return Err(format!("{} PUBLIC KEY blocks, expected one", blocks.len()));
    };
    let (rest, _) =
        SubjectPublicKeyInfo::from_der(der).map_err(|e| format!("bad public key: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after the public key".into());
    }
    Ok(der.clone())
}

/// A file's contents, `None` if it does not exist, through the one reader
/// of untrusted files: at most [`MAX_PEM`] bytes, a regular file (a FIFO
/// planted in certs/ is refused, never opened for a blocking read). The
/// store's line directory is a symlink by design: directories above the
/// file may be links, the file itself may not.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, String> {
    untrusted::read_optional(path, &Rules::new(MAX_PEM)).map_err(|why| why.error(path).to_string())
}

#[cfg(test)]
mod tests;
