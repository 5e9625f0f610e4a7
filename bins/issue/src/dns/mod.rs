//! Live DNS checks for dns-01 challenges (RFC 8555 §8.4), asked directly of
//! authoritative servers.
//!
//! Before certdrop-issue tells the CA to validate a dns-01 challenge it asks
//! every authoritative server of the zone, at an explicit socket address and
//! non-recursively (RD=0), until each one serves all expected TXT values at
//! `_acme-challenge.<domain>`. It also reads challenge-alias CNAMEs live and
//! can turn a zone's NS set into server addresses. There is no resolver here:
//! no /etc/resolv.conf, no recursion, no CNAME chasing, no caching.
//!
//! Transport follows RFC 1035 §4.2: UDP first, advertising an EDNS0 payload of
//! [`EDNS_UDP_PAYLOAD`] bytes (RFC 6891), retrying over TCP when the answer is
//! truncated (TC). Each query carries a random 16-bit ID; datagrams whose ID or
//! question do not match are ignored until the timeout.
//!
//! The query functions block (std::net sockets); [`wait_visible`] runs them
//! on tokio's blocking pool and needs a runtime with the time driver enabled.
//!
//! Finding a zone's servers: [`query_ns`] at a server that knows the zone gives
//! the NS names; [`query_addrs`] at the same server gives the addresses of NS
//! names inside its zones (from its answers, or from glue when it only holds a
//! delegation). [`resolve_ns_set`] does both, using the glue of the NS answer
//! first. NS names outside that server's zones come back with no addresses:
//! this module never asks a recursive resolver for them.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// EDNS0 UDP payload size we advertise (RFC 6891 §6.2.5; the DNS Flag Day 2020 value).
pub const EDNS_UDP_PAYLOAD: u16 = 1232;

/// Per-query timeout used by [`wait_visible`] for each poll (RFC 1035 §4.2.1 leaves it to us).
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// How long to wait for a UDP answer before sending the query again (RFC 1035 §4.2.1).
pub const UDP_RETRANSMIT_INTERVAL: Duration = Duration::from_secs(1);

/// First pause between polls in [`wait_visible`]; it doubles up to the caller's interval.
pub const INITIAL_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Shortest per-query timeout [`wait_visible`] uses, even when its deadline is closer.
const MIN_QUERY_TIMEOUT: Duration = Duration::from_millis(50);

/// Shortest pause between polls, so a zero `interval` cannot spin.
const MIN_POLL_PAUSE: Duration = Duration::from_millis(10);

/// Size of the fixed DNS message header (RFC 1035 §4.1.1).
const HEADER_LEN: usize = 12;

/// Largest DNS message: TCP length prefix and UDP datagram limit (RFC 1035 §4.2.2).
const MAX_MESSAGE_LEN: usize = 65_535;

/// QR bit in the third header byte: set in responses (RFC 1035 §4.1.1).
const FLAG_QR: u8 = 0x80;

/// TC bit in the third header byte: the message was truncated (RFC 1035 §4.1.1).
const FLAG_TC: u8 = 0x02;

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
    /// [`wait_visible`] was called without any server to ask (RFC 8555 §8.4).
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
    /// A polling task of [`wait_visible`] panicked or was cancelled (RFC 8555 §8.4 check aborted).
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

/// One server that lacked expected TXT values when [`wait_visible`] gave up (RFC 8555 §8.4).
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
    let qname = parse_name(name)?;
    let ctx = Ctx::new(server, &qname, RecordType::TXT, timeout);
    let msg = exchange(&ctx, &qname)?;
    let records = owned_answers(&ctx, &msg, &qname)?;
    Ok(records
        .iter()
        .filter_map(|r| match r.data() {
            RData::TXT(txt) => {
                let bytes: Vec<u8> = txt
                    .txt_data()
                    .iter()
                    .flat_map(|s| s.iter().copied())
                    .collect();
                Some(String::from_utf8_lossy(&bytes).into_owned())
            }
            _ => None,
        })
        .collect())
}

/// The CNAME target at `name`, absolute with trailing dot and lowercase, or `None` (RFC 1034 §3.6.2, RFC 2181 §10.1).
///
/// Several distinct CNAMEs at one owner are rejected as malformed (RFC 2181 §10.1).
pub fn query_cname(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<Option<String>, DnsError> {
    let qname = parse_name(name)?;
    let ctx = Ctx::new(server, &qname, RecordType::CNAME, timeout);
    let msg = exchange(&ctx, &qname)?;
    let mut targets: Vec<String> = owned_answers(&ctx, &msg, &qname)?
        .iter()
        .filter_map(|r| match r.data() {
            RData::CNAME(c) => Some(absolute_lower(&c.0)),
            _ => None,
        })
        .collect();
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

/// The NS targets of `zone`, absolute and lowercase (RFC 1035 §3.3.11, RFC 1034 §4.2.1).
///
/// From the answer section when the server is authoritative for the zone; if
/// it only holds the delegation (a referral from the parent), from the
/// authority-section NS records owned by `zone`.
#[cfg_attr(not(test), allow(dead_code))] // used by tests; discovery uses resolve_ns_set
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
    let qname = parse_name(name)?;
    let deadline = Instant::now() + timeout;
    let mut addrs = Vec::new();
    for rtype in [RecordType::A, RecordType::AAAA] {
        let left = deadline.saturating_duration_since(Instant::now());
        let ctx = Ctx::new(server, &qname, rtype, left);
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

/// Poll every server until its TXT set at `name` holds all `values`; returns the time taken (RFC 8555 §8.4).
///
/// Servers are asked in parallel on tokio's blocking pool, each with a query
/// timeout of at most [`DEFAULT_QUERY_TIMEOUT`]. A server counts as done once
/// one poll showed every value. Pauses start at [`INITIAL_POLL_INTERVAL`] and
/// double up to `interval`. Transient failures (timeouts, SERVFAIL, socket
/// errors) are retried; permanent ones ([`DnsError::is_permanent`]) end the
/// wait at once. When `timeout` runs out the error names the lagging servers
/// and what each still lacks. Empty `values` succeed at once; empty `servers`
/// are an error.
pub async fn wait_visible(
    servers: &[SocketAddr],
    name: &str,
    values: &[String],
    timeout: Duration,
    interval: Duration,
) -> Result<Duration, DnsError> {
    let start = Instant::now();
    let qname = parse_name(name)?;
    let shown = absolute_lower(&qname);
    if servers.is_empty() {
        return Err(DnsError::NoServers { name: shown });
    }
    let deadline = start + timeout;
    let mut pending: Vec<MissingValues> = Vec::new();
    for server in servers {
        if !pending.iter().any(|p| p.server == *server) {
            pending.push(MissingValues {
                server: *server,
                values: values.to_vec(),
                last_error: None,
            });
        }
    }
    pending.retain(|p| !p.values.is_empty());
    let ceiling = interval.max(MIN_POLL_PAUSE);
    let mut pause = INITIAL_POLL_INTERVAL.min(ceiling);
    while !pending.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let per_query = left.min(DEFAULT_QUERY_TIMEOUT).max(MIN_QUERY_TIMEOUT);
        let polls: Vec<_> = pending
            .iter()
            .map(|p| {
                let (server, name) = (p.server, shown.clone());
                tokio::task::spawn_blocking(move || query_txt(server, &name, per_query))
            })
            .collect();
        for (lagging, poll) in pending.iter_mut().zip(polls) {
            match poll.await {
                Ok(Ok(found)) => {
                    lagging.values = values
                        .iter()
                        .filter(|v| !found.contains(v))
                        .cloned()
                        .collect();
                    lagging.last_error = None;
                }
                Ok(Err(e)) if e.is_permanent() => return Err(e),
                Ok(Err(e)) => lagging.last_error = Some(e.to_string()),
                Err(join) => {
                    return Err(DnsError::Task {
                        name: shown,
                        reason: join.to_string(),
                    })
                }
            }
        }
        pending.retain(|p| !p.values.is_empty());
        if pending.is_empty() {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(DnsError::NotVisible {
                name: shown,
                waited: now - start,
                missing: pending,
            });
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(ceiling);
    }
    Ok(start.elapsed())
}

/// What a query is about, for error messages (RFC 1035 §4.1.2 question).
struct Ctx {
    server: SocketAddr,
    name: String,
    rtype: RecordType,
    timeout: Duration,
    deadline: Instant,
}

impl Ctx {
    fn new(server: SocketAddr, qname: &Name, rtype: RecordType, timeout: Duration) -> Self {
        Ctx {
            server,
            name: absolute_lower(qname),
            rtype,
            timeout,
            deadline: Instant::now() + timeout,
        }
    }

    fn timeout(&self) -> DnsError {
        DnsError::Timeout {
            server: self.server,
            name: self.name.clone(),
            rtype: self.rtype,
            timeout: self.timeout,
        }
    }

    fn io(&self, action: &'static str, source: io::Error) -> DnsError {
        if matches!(
            source.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return self.timeout();
        }
        DnsError::Io {
            server: self.server,
            name: self.name.clone(),
            rtype: self.rtype,
            action,
            source,
        }
    }

    fn malformed(&self, reason: String) -> DnsError {
        DnsError::Malformed {
            server: self.server,
            name: self.name.clone(),
            rtype: self.rtype,
            reason,
        }
    }

    fn remaining(&self) -> Option<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }
}

/// Outcome of the UDP leg (RFC 1035 §4.2.1).
enum UdpOutcome {
    Answer(Message),
    Truncated,
}

/// How one received message relates to our query (RFC 1035 §7.3).
enum Verdict {
    Accept(Message),
    Truncated,
    /// Not ours; the string says why if it claimed our ID.
    Ignore(Option<String>),
}

/// Parse a user-supplied name, with or without trailing dot, into an absolute lowercase name (RFC 1035 §2.3.1).
fn parse_name(name: &str) -> Result<Name, DnsError> {
    let invalid = |reason: String| DnsError::InvalidName {
        name: name.to_string(),
        reason,
    };
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(invalid("empty name".to_string()));
    }
    if !trimmed.is_ascii() {
        return Err(invalid(
            "not ASCII; use the A-label (xn--) form".to_string(),
        ));
    }
    if trimmed != "." && trimmed.trim_end_matches('.').split('.').any(str::is_empty) {
        return Err(invalid("empty label".to_string()));
    }
    let absolute = if trimmed.ends_with('.') {
        trimmed.to_string()
    } else {
        format!("{trimmed}.")
    };
    let parsed = Name::from_ascii(&absolute).map_err(|e| invalid(e.to_string()))?;
    Ok(parsed.to_lowercase())
}

/// Name as absolute lowercase text with trailing dot (RFC 1034 §3.1).
fn absolute_lower(name: &Name) -> String {
    let mut lower = name.to_lowercase();
    lower.set_fqdn(true);
    lower.to_ascii()
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

/// A random query ID (RFC 5452 §4.3) without a rand crate: SipHash with std's random keys.
fn random_id() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(since) = SystemTime::now().duration_since(UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    (hasher.finish() & 0xffff) as u16
}

/// Encode a non-recursive (RD=0) query, optionally with an EDNS0 OPT record (RFC 1035 §4.1, RFC 6891 §6).
fn encode_query(ctx: &Ctx, id: u16, qname: &Name, edns: bool) -> Result<Vec<u8>, DnsError> {
    let mut msg = Message::new();
    msg.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(false);
    let mut query = Query::query(qname.clone(), ctx.rtype);
    query.set_query_class(DNSClass::IN);
    msg.add_query(query);
    if edns {
        let mut opt = Edns::new();
        opt.set_max_payload(EDNS_UDP_PAYLOAD).set_version(0);
        msg.set_edns(opt);
    }
    msg.to_vec()
        .map_err(|e| ctx.malformed(format!("cannot encode query: {e}")))
}

/// Judge a received message against our ID and question (RFC 1035 §7.3, RFC 5452 §4).
fn judge(bytes: &[u8], id: u16, qname: &Name, rtype: RecordType) -> Verdict {
    if bytes.len() < HEADER_LEN
        || u16::from_be_bytes([bytes[0], bytes[1]]) != id
        || bytes[2] & FLAG_QR == 0
    {
        return Verdict::Ignore(None);
    }
    if bytes[2] & FLAG_TC != 0 {
        return Verdict::Truncated;
    }
    let msg = match Message::from_vec(bytes) {
        Ok(msg) => msg,
        Err(e) => return Verdict::Ignore(Some(format!("cannot decode: {e}"))),
    };
    if msg.message_type() != MessageType::Response || msg.op_code() != OpCode::Query {
        return Verdict::Ignore(Some("not a response to a standard query".to_string()));
    }
    let question_ok = match msg.queries() {
        [q] => q.name() == qname && q.query_type() == rtype && q.query_class() == DNSClass::IN,
        // Some servers drop the question from error responses (e.g. FORMERR).
        [] => !matches!(
            msg.response_code(),
            ResponseCode::NoError | ResponseCode::NXDomain
        ),
        _ => false,
    };
    if !question_ok {
        return Verdict::Ignore(Some(
            "question section does not match the query".to_string(),
        ));
    }
    Verdict::Accept(msg)
}

/// Send the query and read the response: UDP first, TCP on TC, plain DNS if EDNS gets FORMERR (RFC 1035 §4.2, RFC 6891 §7).
fn exchange(ctx: &Ctx, qname: &Name) -> Result<Message, DnsError> {
    let mut edns = true;
    loop {
        let msg = match exchange_udp(ctx, qname, edns)? {
            UdpOutcome::Answer(msg) => msg,
            UdpOutcome::Truncated => exchange_tcp(ctx, qname, edns)?,
        };
        if edns && msg.response_code() == ResponseCode::FormErr && msg.extensions().is_none() {
            edns = false;
            continue;
        }
        return Ok(msg);
    }
}

/// The UDP leg: connected socket, retransmit every [`UDP_RETRANSMIT_INTERVAL`], ignore foreign datagrams (RFC 1035 §4.2.1).
fn exchange_udp(ctx: &Ctx, qname: &Name, edns: bool) -> Result<UdpOutcome, DnsError> {
    let id = random_id();
    let query = encode_query(ctx, id, qname, edns)?;
    let local: SocketAddr = match ctx.server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).map_err(|e| ctx.io("bind UDP socket", e))?;
    socket
        .connect(ctx.server)
        .map_err(|e| ctx.io("connect UDP socket", e))?;
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let mut bad_response: Option<String> = None;
    let mut next_send = Instant::now();
    loop {
        let now = Instant::now();
        if now >= ctx.deadline {
            return Err(match bad_response {
                Some(reason) => ctx.malformed(reason),
                None => ctx.timeout(),
            });
        }
        if now >= next_send {
            socket
                .send(&query)
                .map_err(|e| ctx.io("send UDP query", e))?;
            next_send = now + UDP_RETRANSMIT_INTERVAL;
        }
        let wait = ctx
            .deadline
            .min(next_send)
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        socket
            .set_read_timeout(Some(wait))
            .map_err(|e| ctx.io("set UDP timeout", e))?;
        match socket.recv(&mut buf) {
            Ok(len) => match judge(&buf[..len], id, qname, ctx.rtype) {
                Verdict::Accept(msg) => return Ok(UdpOutcome::Answer(msg)),
                Verdict::Truncated => return Ok(UdpOutcome::Truncated),
                Verdict::Ignore(Some(reason)) => bad_response = Some(reason),
                Verdict::Ignore(None) => {}
            },
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(ctx.io("receive UDP response", e)),
        }
    }
}

/// The TCP leg: two-byte length prefix, one query, one response (RFC 1035 §4.2.2, RFC 7766 §8).
fn exchange_tcp(ctx: &Ctx, qname: &Name, edns: bool) -> Result<Message, DnsError> {
    let id = random_id();
    let query = encode_query(ctx, id, qname, edns)?;
    let left = ctx.remaining().ok_or_else(|| ctx.timeout())?;
    let mut stream =
        TcpStream::connect_timeout(&ctx.server, left).map_err(|e| ctx.io("connect TCP", e))?;
    // Nagle would delay the small query; failing to disable it only costs latency.
    let _ = stream.set_nodelay(true);
    let len = u16::try_from(query.len())
        .map_err(|_| ctx.malformed("query too long for TCP".to_string()))?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(&query);
    let left = ctx.remaining().ok_or_else(|| ctx.timeout())?;
    stream
        .set_write_timeout(Some(left))
        .map_err(|e| ctx.io("set TCP timeout", e))?;
    stream
        .write_all(&framed)
        .map_err(|e| ctx.io("send TCP query", e))?;
    let mut prefix = [0u8; 2];
    read_before_deadline(ctx, &mut stream, &mut prefix)?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    read_before_deadline(ctx, &mut stream, &mut body)?;
    match judge(&body, id, qname, ctx.rtype) {
        Verdict::Accept(msg) => Ok(msg),
        Verdict::Truncated => Err(ctx.malformed("TC set on a TCP response".to_string())),
        Verdict::Ignore(reason) => Err(ctx.malformed(
            reason.unwrap_or_else(|| "TCP response ID does not match the query".to_string()),
        )),
    }
}

/// Fill `buf` from the stream, never waiting past the query deadline (RFC 7766 §6.2.1).
fn read_before_deadline(ctx: &Ctx, stream: &mut TcpStream, buf: &mut [u8]) -> Result<(), DnsError> {
    let mut filled = 0;
    while filled < buf.len() {
        let left = ctx.remaining().ok_or_else(|| ctx.timeout())?;
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| ctx.io("set TCP timeout", e))?;
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(ctx.malformed("TCP connection closed mid-response".to_string())),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ctx.io("receive TCP response", e)),
        }
    }
    Ok(())
}

/// NOERROR and NXDOMAIN are answers; every other RCODE is an error (RFC 1035 §4.1.1, RFC 2308 §2).
fn check_rcode(ctx: &Ctx, msg: &Message) -> Result<(), DnsError> {
    match msg.response_code() {
        ResponseCode::NoError | ResponseCode::NXDomain => Ok(()),
        rcode => Err(DnsError::Rcode {
            server: ctx.server,
            name: ctx.name.clone(),
            rtype: ctx.rtype,
            rcode,
        }),
    }
}

/// Owner of the NS records of a referral: no AA, no answers, NS in authority (RFC 1034 §4.3.2 step 3b).
fn referral_zone(msg: &Message) -> Option<String> {
    if msg.authoritative() || !msg.answers().is_empty() {
        return None;
    }
    msg.name_servers()
        .iter()
        .find(|r| r.record_type() == RecordType::NS)
        .map(|r| absolute_lower(r.name()))
}

/// Answer records of the asked type owned by exactly the asked name; referral is an error (RFC 1034 §4.3.2).
fn owned_answers<'m>(
    ctx: &Ctx,
    msg: &'m Message,
    qname: &Name,
) -> Result<Vec<&'m Record>, DnsError> {
    check_rcode(ctx, msg)?;
    if let Some(zone) = referral_zone(msg) {
        return Err(DnsError::NotAuthoritative {
            server: ctx.server,
            name: ctx.name.clone(),
            rtype: ctx.rtype,
            zone,
        });
    }
    Ok(msg
        .answers()
        .iter()
        .filter(|r| r.record_type() == ctx.rtype && r.name() == qname)
        .collect())
}

/// NS records of `zone`: answers, or the delegation in a referral's authority section (RFC 1034 §4.2.1).
fn ns_records<'m>(ctx: &Ctx, msg: &'m Message, zone: &Name) -> Result<Vec<&'m Record>, DnsError> {
    check_rcode(ctx, msg)?;
    let is_ns = |r: &&Record| r.record_type() == RecordType::NS && r.name() == zone;
    let answers: Vec<&Record> = msg.answers().iter().filter(is_ns).collect();
    if !answers.is_empty() || referral_zone(msg).is_none() {
        return Ok(answers);
    }
    Ok(msg.name_servers().iter().filter(is_ns).collect())
}

/// Target of an NS record as absolute lowercase text (RFC 1035 §3.3.11).
#[cfg_attr(not(test), allow(dead_code))]
fn ns_target(record: &Record) -> Option<String> {
    match record.data() {
        RData::NS(ns) => Some(absolute_lower(&ns.0)),
        _ => None,
    }
}

/// Addresses of type `rtype` owned by `owner` in a section (RFC 1035 §3.4.1, RFC 3596 §2.2).
fn addr_records(section: &[Record], owner: &Name, rtype: RecordType) -> Vec<IpAddr> {
    section
        .iter()
        .filter(|r| r.record_type() == rtype && r.name() == owner)
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
