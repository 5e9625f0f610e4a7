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
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::AtomicU16;
    use std::thread;

    const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
    const SHORT: Duration = Duration::from_secs(2);
    const CHALLENGE: &str = "_acme-challenge.www.example.test";

    /// Ports for test servers: a process-wide counter from a pid-dependent base, checked free on UDP and TCP.
    fn free_port() -> u16 {
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let base = 20_000 + (std::process::id() % 2_000) as u16 * 10;
        loop {
            let port = base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed) % 20_000);
            if port < 1024 {
                continue;
            }
            let udp = UdpSocket::bind((LOOPBACK, port));
            let tcp = TcpListener::bind((LOOPBACK, port));
            if udp.is_ok() && tcp.is_ok() {
                return port;
            }
        }
    }

    fn zone(extra: &str) -> String {
        format!(
            "$ORIGIN example.test.\n$TTL 60\n\
             @ IN SOA ns1.example.test. hostmaster.example.test. (1 3600 600 86400 60)\n\
             @ IN NS ns1.example.test.\n\
             ns1 IN A 127.0.0.1\n\
             ns1 IN AAAA ::1\n\
             _acme-challenge.www IN TXT \"v1\"\n\
             _acme-challenge.www IN TXT \"v2\"\n\
             multi IN TXT \"abc\" \"def\" \"ghi\"\n\
             _acme-challenge.alias IN CNAME _acme-challenge.target.example.test.\n\
             _acme-challenge.target IN TXT \"via-alias\"\n\
             sub IN NS ns.sub.example.test.\n\
             ns.sub IN A 127.0.0.2\n\
             {extra}"
        )
    }

    /// A real authoritative server (nsd) on 127.0.0.1, killed on drop.
    struct Nsd {
        dir: tempfile::TempDir,
        conf: PathBuf,
        addr: SocketAddr,
        child: Child,
    }

    impl Nsd {
        fn start(extra: &str) -> Nsd {
            for _attempt in 0..5 {
                let dir = tempfile::tempdir().expect("temp dir");
                let port = free_port();
                let d = dir.path().display();
                let conf = dir.path().join("nsd.conf");
                std::fs::write(dir.path().join("example.test.zone"), zone(extra))
                    .expect("write zone");
                std::fs::write(
                    &conf,
                    format!(
                        "server:\n  port: {port}\n  ip-address: 127.0.0.1\n  username: \"\"\n  database: \"\"\n  \
                         zonesdir: {d}\n  pidfile: {d}/nsd.pid\n  xfrdfile: {d}/xfrd.state\n  \
                         zonelistfile: {d}/zone.list\n  logfile: {d}/nsd.log\n  rrl-ratelimit: 0\n\
                         remote-control:\n  control-enable: yes\n  control-interface: {d}/nsd.sock\n\
                         zone:\n  name: example.test\n  zonefile: example.test.zone\n"
                    ),
                )
                .expect("write config");
                let child = Command::new("nsd")
                    .arg("-d")
                    .arg("-c")
                    .arg(&conf)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("nsd must be installed (apt-get install nsd)");
                let mut nsd = Nsd {
                    dir,
                    conf,
                    addr: SocketAddr::from((LOOPBACK, port)),
                    child,
                };
                if nsd.wait_ready() {
                    return nsd;
                }
            }
            panic!("nsd did not start in 5 attempts");
        }

        /// Poll until nsd answers for its zone; false if it exited (port race) or never answered.
        fn wait_ready(&mut self) -> bool {
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return false;
                }
                if let Ok(ns) = query_ns(self.addr, "example.test", Duration::from_millis(200)) {
                    if !ns.is_empty() {
                        return true;
                    }
                }
                thread::sleep(Duration::from_millis(20));
            }
            false
        }

        fn path(&self) -> &Path {
            self.dir.path()
        }

        /// Rewrite the zone (serial 2) and make nsd reload it.
        fn reload(&self, extra: &str) {
            let text = zone(extra).replace("(1 3600", "(2 3600");
            std::fs::write(self.path().join("example.test.zone"), text).expect("rewrite zone");
            let status = Command::new("nsd-control")
                .arg("-c")
                .arg(&self.conf)
                .arg("reload")
                .arg("example.test")
                .stdout(Stdio::null())
                .status()
                .expect("nsd-control must be installed");
            assert!(status.success(), "nsd-control reload failed");
        }
    }

    impl Drop for Nsd {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    #[test]
    fn names_parse() {
        assert_eq!(
            absolute_lower(&parse_name("WWW.Example.test").expect("valid")),
            "www.example.test."
        );
        assert_eq!(
            absolute_lower(&parse_name("www.example.test.").expect("valid")),
            "www.example.test."
        );
        assert_eq!(absolute_lower(&parse_name(".").expect("root")), ".");
        for bad in ["", " ", "a..b", ".a", "bücher.test", &"x".repeat(64)] {
            let err = parse_name(bad).expect_err(bad);
            assert!(matches!(err, DnsError::InvalidName { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn random_ids_vary() {
        let ids: std::collections::HashSet<u16> = (0..200).map(|_| random_id()).collect();
        assert!(
            ids.len() > 150,
            "only {} distinct IDs out of 200",
            ids.len()
        );
    }

    #[test]
    fn txt_values_from_nsd() {
        let nsd = Nsd::start("");
        for name in [
            CHALLENGE,
            "_acme-challenge.www.example.test.",
            "_ACME-Challenge.WWW.Example.TEST",
        ] {
            assert_eq!(
                sorted(query_txt(nsd.addr, name, SHORT).expect(name)),
                ["v1", "v2"],
                "{name}"
            );
        }
        // Several character-strings in one RR are concatenated (RFC 1035 §3.3.14).
        assert_eq!(
            query_txt(nsd.addr, "multi.example.test", SHORT).expect("multi"),
            ["abcdefghi"]
        );
        // NXDOMAIN and NODATA are empty.
        assert!(query_txt(nsd.addr, "nothing.example.test", SHORT)
            .expect("nxdomain")
            .is_empty());
        assert!(query_txt(nsd.addr, "ns1.example.test", SHORT)
            .expect("nodata")
            .is_empty());
        // A CNAME is not followed, even though nsd adds the target's TXT to the answer.
        assert!(
            query_txt(nsd.addr, "_acme-challenge.alias.example.test", SHORT)
                .expect("alias")
                .is_empty()
        );
    }

    #[test]
    fn cname_from_nsd() {
        let nsd = Nsd::start("");
        assert_eq!(
            query_cname(nsd.addr, "_ACME-challenge.Alias.example.test.", SHORT).expect("cname"),
            Some("_acme-challenge.target.example.test.".to_string())
        );
        assert_eq!(
            query_cname(nsd.addr, CHALLENGE, SHORT).expect("no cname"),
            None
        );
        assert_eq!(
            query_cname(nsd.addr, "nothing.example.test", SHORT).expect("nxdomain"),
            None
        );
    }

    #[test]
    fn ns_and_addresses_from_nsd() {
        let nsd = Nsd::start("");
        assert_eq!(
            query_ns(nsd.addr, "Example.Test", SHORT).expect("ns"),
            ["ns1.example.test."]
        );
        let v6: IpAddr = Ipv6Addr::LOCALHOST.into();
        let v4: IpAddr = LOOPBACK.into();
        assert_eq!(
            query_addrs(nsd.addr, "ns1.example.test.", SHORT).expect("addrs"),
            [v4, v6]
        );
        assert!(query_addrs(nsd.addr, "nothing.example.test", SHORT)
            .expect("nx")
            .is_empty());
        assert_eq!(
            resolve_ns_set(nsd.addr, "example.test", SHORT).expect("ns set"),
            [NameServer {
                name: "ns1.example.test.".to_string(),
                addrs: vec![v4, v6]
            }]
        );
        // A delegated child zone: the parent refers; NS and glue come from the referral.
        assert_eq!(
            query_ns(nsd.addr, "sub.example.test", SHORT).expect("ns"),
            ["ns.sub.example.test."]
        );
        let glue: IpAddr = Ipv4Addr::new(127, 0, 0, 2).into();
        assert_eq!(
            query_addrs(nsd.addr, "ns.sub.example.test", SHORT).expect("glue"),
            [glue]
        );
        // TXT under the delegation is not this server's to answer.
        let err =
            query_txt(nsd.addr, "_acme-challenge.sub.example.test", SHORT).expect_err("referral");
        assert!(matches!(err, DnsError::NotAuthoritative { .. }), "{err}");
        assert!(
            err.to_string().contains("referral to sub.example.test."),
            "{err}"
        );
    }

    #[test]
    fn refused_outside_zone() {
        let nsd = Nsd::start("");
        let err = query_txt(nsd.addr, "_acme-challenge.other.test", SHORT).expect_err("refused");
        assert!(
            matches!(
                err,
                DnsError::Rcode {
                    rcode: ResponseCode::Refused,
                    ..
                }
            ),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&nsd.addr.to_string()) && text.contains("REFUSED"),
            "{text}"
        );
        assert!(text.contains("_acme-challenge.other.test."), "{text}");
        assert!(err.is_permanent());
    }

    #[test]
    fn tcp_fallback_on_truncation() {
        // 40 RRs of 100 bytes each do not fit into 1232 bytes of UDP.
        let big: String = (0..40)
            .map(|i| format!("big IN TXT \"{i:03}{}\"\n", "x".repeat(97)))
            .collect();
        let nsd = Nsd::start(&big);
        let qname = parse_name("big.example.test").expect("valid");
        let ctx = Ctx::new(nsd.addr, &qname, RecordType::TXT, SHORT);
        assert!(
            matches!(
                exchange_udp(&ctx, &qname, true).expect("udp"),
                UdpOutcome::Truncated
            ),
            "expected TC over UDP"
        );
        let values = query_txt(nsd.addr, "big.example.test", SHORT).expect("tcp");
        assert_eq!(values.len(), 40);
        assert!(values.iter().all(|v| v.len() == 100), "{values:?}");
    }

    #[test]
    fn nothing_listening_fails_fast() {
        let port = free_port();
        let addr = SocketAddr::from((LOOPBACK, port));
        let timeout = Duration::from_millis(800);
        let started = Instant::now();
        let err = query_txt(addr, CHALLENGE, timeout).expect_err("nobody there");
        assert!(
            started.elapsed() < timeout + Duration::from_millis(300),
            "took {:?}",
            started.elapsed()
        );
        // Linux reports ICMP port unreachable on a connected UDP socket; elsewhere it is a timeout.
        assert!(
            matches!(err, DnsError::Io { .. } | DnsError::Timeout { .. }),
            "{err}"
        );
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
        assert!(!err.is_permanent());
    }

    #[test]
    fn silent_server_times_out() {
        // A bound socket that never answers: a pure timeout, no ICMP.
        let silent = UdpSocket::bind((LOOPBACK, 0)).expect("bind");
        let addr = silent.local_addr().expect("addr");
        let timeout = Duration::from_millis(400);
        let started = Instant::now();
        let err = query_txt(addr, CHALLENGE, timeout).expect_err("silence");
        let took = started.elapsed();
        assert!(
            took >= timeout && took < timeout + Duration::from_millis(300),
            "took {took:?}"
        );
        assert!(matches!(err, DnsError::Timeout { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!("DNS TXT _acme-challenge.www.example.test. @{addr}: no response within 400ms")
        );
    }

    /// A fake server that answers with junk first: wrong ID, wrong question, then the right answer.
    #[test]
    fn ignores_mismatched_datagrams() {
        let sock = UdpSocket::bind((LOOPBACK, 0)).expect("bind");
        let addr = sock.local_addr().expect("addr");
        let server = thread::spawn(move || {
            let mut buf = [0u8; 2048];
            sock.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let (len, peer) = sock.recv_from(&mut buf).expect("query");
            let query = Message::from_vec(&buf[..len]).expect("decode query");
            let reply = |id: u16, qname: &str, value: &str| {
                let name = Name::from_ascii(qname).expect("name");
                let mut msg = Message::new();
                msg.set_id(id)
                    .set_message_type(MessageType::Response)
                    .set_authoritative(true);
                msg.add_query(Query::query(name.clone(), RecordType::TXT));
                msg.add_answer(Record::from_rdata(
                    name,
                    60,
                    RData::TXT(hickory_proto::rr::rdata::TXT::new(vec![value.to_string()])),
                ));
                msg.to_vec().expect("encode")
            };
            let id = query.id();
            sock.send_to(
                &reply(
                    id.wrapping_add(1),
                    "_acme-challenge.www.example.test.",
                    "wrong-id",
                ),
                peer,
            )
            .expect("send");
            sock.send_to(&reply(id, "other.example.test.", "wrong-question"), peer)
                .expect("send");
            sock.send_to(&[0xde, 0xad], peer).expect("send");
            sock.send_to(
                &reply(id, "_ACME-CHALLENGE.www.example.test.", "right"),
                peer,
            )
            .expect("send");
            query
        });
        let values = query_txt(addr, CHALLENGE, SHORT).expect("answer");
        assert_eq!(values, ["right"]);
        let query = server.join().expect("fake server");
        assert!(!query.recursion_desired(), "RD must be 0");
        assert_eq!(query.max_payload(), EDNS_UDP_PAYLOAD);
        assert_eq!(query.queries().len(), 1);
        assert_eq!(
            query.queries()[0].name().to_ascii(),
            "_acme-challenge.www.example.test."
        );
    }

    #[tokio::test]
    async fn wait_visible_sees_values_added_by_reload() {
        let first = Nsd::start("_acme-challenge.www IN TXT \"v3\"\n");
        let second = Nsd::start("");
        let servers = [first.addr, second.addr];
        let values = vec!["v1".to_string(), "v3".to_string()];
        let delay = Duration::from_millis(700);
        let reloader = thread::spawn(move || {
            thread::sleep(delay);
            second.reload("_acme-challenge.www IN TXT \"v3\"\n");
            second
        });
        let took = wait_visible(
            &servers,
            CHALLENGE,
            &values,
            Duration::from_secs(10),
            Duration::from_millis(300),
        )
        .await
        .expect("visible after reload");
        let second = reloader.join().expect("reloader");
        assert!(took >= delay, "returned before the reload: {took:?}");
        assert!(took < delay + Duration::from_secs(2), "slow: {took:?}");
        assert_eq!(
            sorted(query_txt(second.addr, CHALLENGE, SHORT).expect("after")),
            ["v1", "v2", "v3"]
        );
        // Already visible: returns on the first poll.
        let quick = wait_visible(&servers, CHALLENGE, &values, SHORT, Duration::from_secs(1))
            .await
            .expect("quick");
        assert!(quick < Duration::from_millis(500), "{quick:?}");
    }

    #[tokio::test]
    async fn wait_visible_times_out_naming_what_is_missing() {
        let nsd = Nsd::start("");
        let values = vec!["v1".to_string(), "never".to_string()];
        let timeout = Duration::from_millis(900);
        let started = Instant::now();
        let err = wait_visible(
            &[nsd.addr],
            CHALLENGE,
            &values,
            timeout,
            Duration::from_millis(200),
        )
        .await
        .expect_err("never visible");
        let took = started.elapsed();
        assert!(
            took >= timeout && took < timeout + Duration::from_millis(500),
            "took {took:?}"
        );
        match &err {
            DnsError::NotVisible { missing, .. } => {
                assert_eq!(
                    missing,
                    &[MissingValues {
                        server: nsd.addr,
                        values: vec!["never".to_string()],
                        last_error: None
                    }]
                );
            }
            other => panic!("unexpected {other}"),
        }
        let text = err.to_string();
        assert!(
            text.starts_with("TXT _acme-challenge.www.example.test.: values not visible after "),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("{} lacks \"never\"", nsd.addr)),
            "{text}"
        );
        assert!(!text.contains('\n'));
    }

    #[tokio::test]
    async fn wait_visible_reports_unreachable_servers_and_stops_on_refused() {
        let nsd = Nsd::start("");
        let dead = SocketAddr::from((LOOPBACK, free_port()));
        let values = vec!["v1".to_string()];
        let err = wait_visible(
            &[nsd.addr, dead],
            CHALLENGE,
            &values,
            Duration::from_millis(600),
            Duration::from_millis(100),
        )
        .await
        .expect_err("dead server");
        let text = err.to_string();
        assert!(
            text.contains(&format!("{dead} lacks \"v1\" (last poll failed: DNS TXT")),
            "{text}"
        );
        assert!(!text.contains(&format!("{} lacks", nsd.addr)), "{text}");

        let started = Instant::now();
        let err = wait_visible(
            &[nsd.addr],
            "_acme-challenge.other.test",
            &values,
            Duration::from_secs(5),
            Duration::from_secs(1),
        )
        .await
        .expect_err("refused");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "REFUSED must end the wait at once"
        );
        assert!(
            matches!(
                err,
                DnsError::Rcode {
                    rcode: ResponseCode::Refused,
                    ..
                }
            ),
            "{err}"
        );

        let err = wait_visible(&[], CHALLENGE, &values, SHORT, SHORT)
            .await
            .expect_err("no servers");
        assert!(matches!(err, DnsError::NoServers { .. }), "{err}");
        let none = wait_visible(&[nsd.addr], CHALLENGE, &[], SHORT, SHORT)
            .await
            .expect("nothing to wait for");
        assert!(none < Duration::from_millis(50), "{none:?}");
    }

    /// POST JSON to pebble-challtestsrv's management API (plain HTTP/1.0 over std).
    fn pebble_post(mgmt: SocketAddr, path: &str, body: &str) {
        let mut stream = TcpStream::connect(mgmt).expect("management API");
        let request = format!(
            "POST {path} HTTP/1.0\r\nHost: {mgmt}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("reply");
        assert!(
            reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"),
            "{path}: {reply}"
        );
    }

    #[tokio::test]
    async fn pebble_challtestsrv_txt_and_cname() {
        let (dns, mgmt) = (free_port(), free_port());
        let mut child = Command::new("pebble-challtestsrv")
            .args([
                "-dns01",
                &format!("127.0.0.1:{dns}"),
                "-management",
                &format!("127.0.0.1:{mgmt}"),
            ])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv must be installed");
        struct Kill<'a>(&'a mut Child);
        impl Drop for Kill<'_> {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let _guard = Kill(&mut child);
        let (dns, mgmt) = (
            SocketAddr::from((LOOPBACK, dns)),
            SocketAddr::from((LOOPBACK, mgmt)),
        );
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(mgmt).is_err()
            || query_txt(dns, "x.test", Duration::from_millis(200)).is_err()
        {
            assert!(Instant::now() < until, "pebble-challtestsrv did not start");
            thread::sleep(Duration::from_millis(50));
        }
        let host = "_acme-challenge.x.test.";
        let values = vec!["token-1".to_string()];
        let servers = [dns];
        let waiting = wait_visible(
            &servers,
            "_ACME-Challenge.X.test",
            &values,
            Duration::from_secs(5),
            Duration::from_millis(200),
        );
        let setter = thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            pebble_post(
                mgmt,
                "/set-txt",
                &format!(r#"{{"host":"{host}","value":"token-1"}}"#),
            );
        });
        let took = waiting.await.expect("visible on challtestsrv");
        setter.join().expect("setter");
        assert!(took >= Duration::from_millis(300), "{took:?}");
        pebble_post(
            mgmt,
            "/set-cname",
            r#"{"host":"_acme-challenge.y.test.","target":"_acme-challenge.X.test."}"#,
        );
        assert_eq!(
            query_cname(dns, "_acme-challenge.y.test", SHORT).expect("cname"),
            Some("_acme-challenge.x.test.".to_string())
        );
        pebble_post(mgmt, "/clear-txt", &format!(r#"{{"host":"{host}"}}"#));
        assert!(query_txt(dns, host, SHORT).expect("cleared").is_empty());
    }
}
