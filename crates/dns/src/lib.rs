//! certdrop-dns: live DNS queries asked directly of authoritative servers,
//! shared by certdrop-issue, certdrop-zone and certdrop-check.
//!
//! Every query goes to an explicit socket address, non-recursively (RD=0).
//! certdrop-issue uses it to see dns-01 TXT values (RFC 8555 §8.4) and
//! staged-key TLSA records (RFC 7671 §8.1) on every authoritative server, to
//! read challenge-alias CNAMEs and to turn a zone's NS set into server
//! addresses; certdrop-zone asks its nsd for the serial after a reload;
//! certdrop-check reads TLSA RRsets and a host's addresses (RFC 6698 §2).
//! There is no resolver here: no /etc/resolv.conf, no CNAME chasing, no
//! caching. The one recursive query, [`query_tlsa_validated`], goes to a
//! validating resolver the caller names, to read its AD bit.
//!
//! Transport follows RFC 1035 §4.2: UDP first, advertising an EDNS0 payload of
//! [`EDNS_UDP_PAYLOAD`] bytes (RFC 6891), retrying over TCP when the answer is
//! truncated (TC). Each query carries a random 16-bit ID; datagrams whose ID or
//! question do not match are ignored until the timeout.
//!
//! The query functions block (std::net sockets) and need no runtime; the
//! issuer's polling loop (`wait_visible`, tokio) lives in certdrop-issue and
//! reports through the same [`DnsError`].
//!
//! Finding a zone's servers: [`query_ns`] at a server that knows the zone gives
//! the NS names; [`query_addrs`] at the same server gives the addresses of NS
//! names inside its zones (from its answers, or from glue when it only holds a
//! delegation). [`resolve_ns_set`] does both, using the glue of the NS answer
//! first. NS names outside that server's zones come back with no addresses:
//! this module never asks a recursive resolver for them.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Response codes and record types appear in [`DnsError`], names come out of
/// [`parse_name`]: re-exported so callers need no direct hickory-proto dependency.
pub use hickory_proto::op::ResponseCode;
pub use hickory_proto::rr::Name;
pub use hickory_proto::rr::RecordType;
use hickory_proto::rr::{RData, Record};

pub use self::wire::{absolute_lower, parse_name};
use self::wire::{
    addr_records, check_rcode, exchange, ns_records, ns_target, owned_answers, referral_zone, Ctx,
};

mod wire;

/// EDNS0 UDP payload size we advertise (RFC 6891 §6.2.5; the DNS Flag Day 2020 value).
pub const EDNS_UDP_PAYLOAD: u16 = 1232;

/// How long to wait for a UDP answer before sending the query again (RFC 1035 §4.2.1).
pub const UDP_RETRANSMIT_INTERVAL: Duration = Duration::from_secs(1);

/// Failure of a live DNS check (RFC 1035 messages, RFC 8555 §8.4 dns-01 propagation).
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The name given is not a valid domain name (RFC 1035 §2.3.4 limits).
    #[error("DNS name {name:?}: {reason}")]
    InvalidName {
        /// The name as the caller gave it.
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// No usable response arrived before the timeout (RFC 1035 §4.2.1).
    #[error("DNS {rtype} {name} @{server}: no response within {timeout:?}")]
    Timeout {
        /// Server asked.
        server: SocketAddr,
        /// Name asked, absolute and lowercase.
        name: String,
        /// Type asked.
        rtype: RecordType,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// A socket operation failed, e.g. ICMP port unreachable (RFC 1035 §4.2).
    #[error("DNS {rtype} {name} @{server}: {action}: {source}")]
    Io {
        /// Server asked.
        server: SocketAddr,
        /// Name asked, absolute and lowercase.
        name: String,
        /// Type asked.
        rtype: RecordType,
        /// What we were doing.
        action: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The server answered with an error RCODE such as REFUSED or SERVFAIL (RFC 1035 §4.1.1).
    #[error("DNS {rtype} {name} @{server}: server answered {}", rcode_name(*.rcode))]
    Rcode {
        /// Server asked.
        server: SocketAddr,
        /// Name asked, absolute and lowercase.
        name: String,
        /// Type asked.
        rtype: RecordType,
        /// The response code.
        rcode: ResponseCode,
    },
    /// The server is not authoritative for the name: it sent a referral (RFC 1034 §4.3.2).
    #[error("DNS {rtype} {name} @{server}: server is not authoritative for the name (referral to {zone})")]
    NotAuthoritative {
        /// Server asked.
        server: SocketAddr,
        /// Name asked, absolute and lowercase.
        name: String,
        /// Type asked.
        rtype: RecordType,
        /// Owner of the NS records in the referral.
        zone: String,
    },
    /// A response matched our query but could not be used (RFC 1035 §4.1, RFC 2181 §10.1).
    #[error("DNS {rtype} {name} @{server}: malformed response: {reason}")]
    Malformed {
        /// Server asked.
        server: SocketAddr,
        /// Name asked, absolute and lowercase.
        name: String,
        /// Type asked.
        rtype: RecordType,
        /// What was wrong.
        reason: String,
    },
    /// certdrop-issue's `wait_visible` was called without any server to ask (RFC 8555 §8.4).
    #[error("TXT {name}: no DNS servers to check")]
    NoServers {
        /// Name to check, absolute and lowercase.
        name: String,
    },
    /// Some servers still lacked expected TXT values when time ran out (RFC 8555 §8.4).
    #[error("TXT {name}: values not visible after {waited:?}: {}", describe_missing(.missing))]
    NotVisible {
        /// Name checked, absolute and lowercase.
        name: String,
        /// How long we polled.
        waited: Duration,
        /// Per lagging server, what it lacks.
        missing: Vec<MissingValues>,
    },
    /// A polling task of certdrop-issue's `wait_visible` panicked or was cancelled (RFC 8555 §8.4 check aborted).
    #[error("TXT {name}: polling task failed: {reason}")]
    Task {
        /// Name checked, absolute and lowercase.
        name: String,
        /// The join error.
        reason: String,
    },
}

impl DnsError {
    /// Whether polling again cannot help: bad name, REFUSED/NOTIMP/FORMERR, or a referral (RFC 1035 §4.1.1).
    pub fn is_permanent(&self) -> bool {
        match self {
            DnsError::InvalidName { .. }
            | DnsError::NotAuthoritative { .. }
            | DnsError::NoServers { .. } => true,
            DnsError::Rcode { rcode, .. } => matches!(
                rcode,
                ResponseCode::Refused | ResponseCode::NotImp | ResponseCode::FormErr
            ),
            _ => false,
        }
    }
}

/// One server that lacked expected TXT values when certdrop-issue's `wait_visible` gave up (RFC 8555 §8.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingValues {
    /// The lagging server.
    pub server: SocketAddr,
    /// Expected values it did not serve at the last successful poll (all of them if none succeeded).
    pub values: Vec<String>,
    /// The last query error from this server, if its last poll failed.
    pub last_error: Option<String>,
}

/// One name server of a zone and the addresses a server gave for it (RFC 1034 §4.2.1, glue §4.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameServer {
    /// NS target, absolute and lowercase.
    pub name: String,
    /// Its A and AAAA addresses; empty if the asked server does not know them.
    pub addrs: Vec<IpAddr>,
}

/// TXT values at exactly `name`, each RR's character-strings concatenated (RFC 1035 §3.3.14, RFC 8555 §8.4).
///
/// Only answer-section TXT records owned by `name` count; a CNAME at `name` is
/// not followed (RFC 1034 §3.6.2), so it yields an empty list, as do NXDOMAIN
/// and NODATA. Error RCODEs and referrals are errors.
pub fn query_txt(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<Vec<String>, DnsError> {
    let (_, values) = owned(server, name, RecordType::TXT, timeout, |r| match r.data() {
        RData::TXT(txt) => {
            let bytes: Vec<u8> = txt
                .txt_data()
                .iter()
                .flat_map(|s| s.iter().copied())
                .collect();
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        _ => None,
    })?;
    Ok(values)
}

/// One TLSA record (RFC 6698 §2.1): usage, selector, matching type, data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    /// Certificate usage.
    pub usage: u8,
    /// Selector.
    pub selector: u8,
    /// Matching type.
    pub matching: u8,
    /// Certificate association data.
    pub data: Vec<u8>,
    /// TTL of the record as served.
    pub ttl: u32,
}

/// The TLSA records at exactly `name` (RFC 6698 §2), not following CNAMEs.
pub fn query_tlsa(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<Vec<Tlsa>, DnsError> {
    let (_, records) = owned(server, name, RecordType::TLSA, timeout, tlsa_of)?;
    Ok(records)
}

/// The TLSA records at exactly `name` asked of a validating resolver
/// (RD=1), and whether its answer was authenticated: the AD bit of the
/// response (RFC 4035 §3.2.3, RFC 6840 §5.7; RFC 7671 §3 requires it before
/// TLSA records are used). Only as trustworthy as the path to the
/// resolver: a resolver on loopback or behind a secured channel.
pub fn query_tlsa_validated(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<(Vec<Tlsa>, bool), DnsError> {
    let qname = parse_name(name)?;
    let mut ctx = Ctx::new(server, &qname, RecordType::TLSA, timeout);
    ctx.recursive = true;
    let msg = exchange(&ctx, &qname)?;
    let records = owned_answers(&ctx, &msg, &qname)?
        .into_iter()
        .filter_map(tlsa_of)
        .collect();
    Ok((records, msg.authentic_data()))
}

/// A TLSA answer record as [`Tlsa`].
fn tlsa_of(r: &Record) -> Option<Tlsa> {
    match r.data() {
        RData::TLSA(t) => Some(Tlsa {
            usage: t.cert_usage().into(),
            selector: t.selector().into(),
            matching: t.matching().into(),
            data: t.cert_data().to_vec(),
            ttl: r.ttl(),
        }),
        _ => None,
    }
}

/// The serial of the SOA record at exactly `zone` (RFC 1035 §3.3.13), or
/// `None` when the server answers without one; what a zone builder asks
/// after a reload to see that the new zone is served.
pub fn query_soa_serial(
    server: SocketAddr,
    zone: &str,
    timeout: Duration,
) -> Result<Option<u32>, DnsError> {
    let (_, serials) = owned(server, zone, RecordType::SOA, timeout, |r| match r.data() {
        RData::SOA(soa) => Some(soa.serial()),
        _ => None,
    })?;
    Ok(serials.first().copied())
}

/// The CNAME target at `name`, absolute with trailing dot and lowercase, or `None` (RFC 1034 §3.6.2, RFC 2181 §10.1).
///
/// Several distinct CNAMEs at one owner are rejected as malformed (RFC 2181 §10.1).
pub fn query_cname(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<Option<String>, DnsError> {
    let (ctx, mut targets) = owned(server, name, RecordType::CNAME, timeout, |r| {
        match r.data() {
            RData::CNAME(c) => Some(absolute_lower(&c.0)),
            _ => None,
        }
    })?;
    targets.dedup();
    match targets.len() {
        0 => Ok(None),
        1 => Ok(targets.pop()),
        _ => Err(ctx.malformed(format!(
            "several CNAME records at one name ({}), RFC 2181 §10.1 allows one",
            targets.join(", ")
        ))),
    }
}

/// Ask `server` for `rtype` at `name` and map the answer records of that
/// type owned by exactly `name` with `data` (None: skipped): the one query
/// of the TXT, TLSA and CNAME lookups. The context comes back for messages.
fn owned<T>(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    timeout: Duration,
    data: impl Fn(&Record) -> Option<T>,
) -> Result<(Ctx, Vec<T>), DnsError> {
    let qname = parse_name(name)?;
    let ctx = Ctx::new(server, &qname, rtype, timeout);
    let msg = exchange(&ctx, &qname)?;
    let found = owned_answers(&ctx, &msg, &qname)?
        .into_iter()
        .filter_map(data)
        .collect();
    Ok((ctx, found))
}

/// The NS targets of `zone`, absolute and lowercase (RFC 1035 §3.3.11, RFC 1034 §4.2.1).
///
/// From the answer section when the server is authoritative for the zone; if
/// it only holds the delegation (a referral from the parent), from the
/// authority-section NS records owned by `zone`.
pub fn query_ns(
    server: SocketAddr,
    zone: &str,
    timeout: Duration,
) -> Result<Vec<String>, DnsError> {
    let qname = parse_name(zone)?;
    let ctx = Ctx::new(server, &qname, RecordType::NS, timeout);
    let msg = exchange(&ctx, &qname)?;
    Ok(ns_records(&ctx, &msg, &qname)?
        .iter()
        .filter_map(|r| ns_target(r))
        .collect())
}

/// A and AAAA addresses at exactly `name`, A first (RFC 1035 §3.4.1, RFC 3596 §2).
///
/// Answer-section records owned by `name`; when the server only holds a
/// delegation covering `name`, its glue (additional section) is used instead
/// (RFC 1034 §4.2.1). CNAMEs are not followed (RFC 2181 §10.3: NS targets must
/// not be aliases). NXDOMAIN or NODATA yield no addresses.
pub fn query_addrs(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<Vec<IpAddr>, DnsError> {
    addrs(server, name, timeout, false)
}

/// A and AAAA addresses at `name` asked of a resolver (RD=1), A first:
/// what [`query_addrs`] asks an authoritative server, for the caller that
/// took its TLSA records from a validating resolver (RFC 1034 §4.3.1).
pub fn query_addrs_recursive(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<Vec<IpAddr>, DnsError> {
    addrs(server, name, timeout, true)
}

/// [`query_addrs`], recursion desired or not.
fn addrs(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
    recursive: bool,
) -> Result<Vec<IpAddr>, DnsError> {
    let qname = parse_name(name)?;
    let deadline = Instant::now() + timeout;
    let mut addrs = Vec::new();
    for rtype in [RecordType::A, RecordType::AAAA] {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut ctx = Ctx::new(server, &qname, rtype, left);
        ctx.recursive = recursive;
        let msg = exchange(&ctx, &qname)?;
        check_rcode(&ctx, &msg)?;
        let mut found = addr_records(msg.answers(), &qname, rtype);
        if found.is_empty() && referral_zone(&msg).is_some() {
            found = addr_records(msg.additionals(), &qname, rtype);
        }
        for ip in found {
            if !addrs.contains(&ip) {
                addrs.push(ip);
            }
        }
    }
    Ok(addrs)
}

/// The zone's NS set with each name server's addresses, all from one server (RFC 1034 §4.2.1).
///
/// Addresses come from the glue in the NS response's additional section,
/// else from [`query_addrs`] at the same server. A name server outside that
/// server's zones (it answers REFUSED or nothing) gets an empty `addrs`: the
/// caller must then supply its address some other way or give up.
pub fn resolve_ns_set(
    server: SocketAddr,
    zone: &str,
    timeout: Duration,
) -> Result<Vec<NameServer>, DnsError> {
    let qname = parse_name(zone)?;
    let deadline = Instant::now() + timeout;
    let ctx = Ctx::new(server, &qname, RecordType::NS, timeout);
    let msg = exchange(&ctx, &qname)?;
    let names: Vec<Name> = ns_records(&ctx, &msg, &qname)?
        .iter()
        .filter_map(|r| match r.data() {
            RData::NS(ns) => Some(ns.0.to_lowercase()),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for ns in names {
        let mut addrs = addr_records(msg.additionals(), &ns, RecordType::A);
        addrs.extend(addr_records(msg.additionals(), &ns, RecordType::AAAA));
        let name = absolute_lower(&ns);
        if addrs.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            addrs = match query_addrs(server, &name, left) {
                Ok(found) => found,
                Err(DnsError::Rcode {
                    rcode: ResponseCode::Refused,
                    ..
                })
                | Err(DnsError::NotAuthoritative { .. }) => Vec::new(),
                Err(e) => return Err(e),
            };
        }
        out.push(NameServer { name, addrs });
    }
    Ok(out)
}

/// Mnemonic of an RCODE as written in RFC 1035 §4.1.1 and later RFCs.
fn rcode_name(rcode: ResponseCode) -> String {
    match rcode {
        ResponseCode::NoError => "NOERROR".to_string(),
        ResponseCode::FormErr => "FORMERR".to_string(),
        ResponseCode::ServFail => "SERVFAIL".to_string(),
        ResponseCode::NXDomain => "NXDOMAIN".to_string(),
        ResponseCode::NotImp => "NOTIMP".to_string(),
        ResponseCode::Refused => "REFUSED".to_string(),
        ResponseCode::NotAuth => "NOTAUTH".to_string(),
        ResponseCode::BADVERS => "BADVERS".to_string(),
        other => format!("RCODE {}", u16::from(other)),
    }
}

/// One-line list of lagging servers and their missing values (RFC 8555 §8.4 diagnostics).
fn describe_missing(missing: &[MissingValues]) -> String {
    missing
        .iter()
        .map(|m| {
            let values: Vec<String> = m.values.iter().map(|v| format!("{v:?}")).collect();
            let mut line = format!("{} lacks {}", m.server, values.join(", "));
            if let Some(err) = &m.last_error {
                line.push_str(&format!(" (last poll failed: {err})"));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
