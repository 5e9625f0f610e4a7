//! dns-persist-01 (draft-ietf-acme-dns-persist-00): a standing
//! `_validation-persist.<name>` TXT record, static zone content that
//! certdrop-zone renders from `[[zone.persist]]` and the account file
//! (`accountfile.rs`), binds a name to the CA (one of its
//! issuer-domain-names) and to our account URI. When the CA offers the
//! challenge for an authorization and the authoritative servers (those of
//! the dns-01 propagation check, `propagation.rs`) serve the record naming
//! one of the challenge's issuer-domain-names, exactly our current
//! account URI, `policy=wildcard` for a wildcard and no `persistUntil`
//! ending within the validation timeout (one server at least; every
//! other one too, or silent: a static record does not differ between
//! servers that are up, and one that is down must not block renewals),
//! the issuer answers that challenge and writes nothing to `dnsextra/`.
//! Otherwise the line's own challenge is used (dns-01 through the drop
//! directory, or http-01). A record naming an account we had before a
//! new one is never relied on: the CA would hold it against the account
//! that asks; nor, for a day, one the CA refused while it is unchanged.
//!
//! instant-acme parses the challenge as `ChallengeType::Unknown` and
//! drops its `issuer-domain-names` and `accounturi`; the HTTP client
//! keeps the raw object from the authorization it fetched
//! (`client::persist_challenge`). The issuer-domain-names last seen are
//! kept per CA (`state/persist-<ca>.json`) for `status`.

use std::net::SocketAddr;
use std::time::Duration;

use certdrop_core::error::{Error, Result};
use serde_json::Value;

use crate::config::{Challenge, Config, Line};
use crate::dns;

pub mod record;

/// The challenge type (draft §3).
pub const CHALLENGE: &str = "dns-persist-01";
/// The label of the Authorization Domain Name (draft §2).
pub const LABEL: &str = "_validation-persist";
/// Most issuer-domain-names a challenge may carry (draft §3.1).
pub const MAX_ISSUERS: usize = 10;
/// Timeout of one query for the record.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a record the CA refused is not relied on while it is served
/// unchanged: long enough not to spend a failed validation per run, short
/// enough that a CA fixed in the meantime is tried again.
pub const REFUSAL_FOR: i64 = 24 * 3600;
/// Characters of the CA's error kept with a refusal.
pub const ERROR_KEPT: usize = 200;
/// Characters of text from DNS or the CA shown in a message.
pub const SHOWN: usize = 80;

/// Text from outside (a TXT value, the CA's words) as a message may carry
/// it: control characters escaped, at most `max` characters, `…` after a
/// cut.
pub fn clip(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    for c in text.chars() {
        let esc: String = c.escape_debug().collect();
        n += esc.chars().count();
        if n > max {
            out.push('…');
            break;
        }
        out.push_str(&esc);
    }
    out
}

/// [`clip`] to [`SHOWN`] characters.
pub fn shown(text: &str) -> String {
    clip(text, SHOWN)
}

/// SHA-256 (hex) of a record set's values, sorted, each ended by a
/// newline: what a refusal keeps instead of the values.
pub fn digest(values: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&String> = values.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    for v in sorted {
        h.update(v.as_bytes());
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the CA's error on a dns-persist-01 challenge (its problem
/// type's last segment) says it read the record and refused it
/// (draft §11.3: `unauthorized`, `malformed`). Anything else (`caa`,
/// `rejectedIdentifier`, `dns`, `serverInternal`) is not about the
/// record: the record is relied on again.
pub fn refuses_record(kind: &str) -> bool {
    matches!(kind, "unauthorized" | "malformed")
}

/// instant-acme's name for the challenge type.
pub fn challenge_type() -> instant_acme::ChallengeType {
    instant_acme::ChallengeType::Unknown(CHALLENGE.to_owned())
}

/// What a dns-persist-01 challenge object says (draft §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// issuer-domain-names, lowercase.
    pub issuers: Vec<String>,
    /// The account URI the CA will look for, if it says.
    pub account: Option<String>,
}

/// Read a challenge object; a client MUST refuse an empty list or one of
/// more than ten names (draft §3.1).
pub fn offer(challenge: &Value) -> std::result::Result<Offer, String> {
    let names = challenge["issuer-domain-names"]
        .as_array()
        .ok_or("the challenge has no issuer-domain-names")?;
    if names.is_empty() || names.len() > MAX_ISSUERS {
        return Err(format!(
            "the challenge has {} issuer-domain-names (1 to {MAX_ISSUERS} allowed)",
            names.len()
        ));
    }
    let mut issuers = Vec::new();
    for n in names {
        match n.as_str() {
            Some(s) if !s.is_empty() && s.len() <= 253 && s.is_ascii() => {
                issuers.push(s.to_ascii_lowercase())
            }
            _ => {
                return Err(format!(
                    "issuer-domain-name {} is not a domain name",
                    shown(&n.to_string())
                ))
            }
        }
    }
    Ok(Offer {
        issuers,
        account: challenge["accounturi"].as_str().map(str::to_owned),
    })
}

/// The owner of the record for an identifier, and whether the identifier
/// is a wildcard (its record is the base name's, draft §5).
pub fn owner(ident: &str) -> (String, bool) {
    match ident.strip_prefix("*.") {
        Some(base) => (format!("{LABEL}.{}.", base.trim_end_matches('.')), true),
        None => (format!("{LABEL}.{}.", ident.trim_end_matches('.')), false),
    }
}

/// A record set relied on for one identifier.
#[derive(Debug, Clone)]
pub struct Relied {
    /// The identifier (`*.name` for a wildcard).
    pub ident: String,
    /// The record's owner.
    pub owner: String,
    /// The TXT values served, sorted.
    pub values: Vec<String>,
}

/// Until when a record must hold to be relied on at `now`: through the
/// validation the CA may take (`validation_timeout`), so that a
/// `persistUntil` ending meanwhile is not relied on (draft §4 item 5).
pub fn valid_through(config: &Config, now: i64) -> i64 {
    now.saturating_add(i64::try_from(config.validation_timeout.as_secs()).unwrap_or(i64::MAX))
}

/// Servers that did not answer (a timeout, an I/O error) in this process:
/// one run, or one `status`, asks a dead server once, not once per name.
static SILENT: std::sync::Mutex<std::collections::BTreeSet<SocketAddr>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn is_silent(server: &SocketAddr) -> bool {
    SILENT.lock().map(|s| s.contains(server)).unwrap_or(false)
}

fn note_silent(server: SocketAddr) {
    if let Ok(mut s) = SILENT.lock() {
        s.insert(server);
    }
}

/// The record set relied on, as the servers serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The TXT values of the first server that answered, sorted.
    pub values: Vec<String>,
    /// How many servers served a record that authorizes us.
    pub answered: usize,
    /// The servers that did not answer (now or earlier in this run).
    pub silent: Vec<SocketAddr>,
}

impl Served {
    /// `; no answer from a, b` for `-v`, or nothing.
    pub fn silent_words(&self) -> String {
        match self.silent.is_empty() {
            true => String::new(),
            false => {
                let s: Vec<String> = self.silent.iter().map(|a| a.to_string()).collect();
                format!("; no answer from {}", s.join(", "))
            }
        }
    }
}

/// Ask every server in `servers` for `owner`. The record is relied on
/// when at least one server serves a record that authorizes `account`
/// (`record::check`) and every other server does too or does not answer
/// at all (a timeout, an I/O error: a static record does not differ
/// between servers that are up, and a server that is down must not block
/// renewals). A server that answers anything else (another value, no
/// record, REFUSED, a referral) stops it, with what it serves in words.
/// `previous`: our older account URIs, named as such.
pub fn served_everywhere(
    servers: &[SocketAddr],
    owner: &str,
    offer: &Offer,
    account: &str,
    previous: &[String],
    wildcard: bool,
    now: i64,
) -> std::result::Result<Served, String> {
    if servers.is_empty() {
        return Err("no authoritative server to ask".into());
    }
    let mut served: Option<Vec<String>> = None;
    let mut answered = 0;
    let mut silent = Vec::new();
    for server in servers {
        if is_silent(server) {
            silent.push(*server);
            continue;
        }
        let mut values = match dns::query_txt(*server, owner, QUERY_TIMEOUT) {
            Ok(v) => v,
            Err(dns::DnsError::Timeout { .. } | dns::DnsError::Io { .. }) => {
                note_silent(*server);
                silent.push(*server);
                continue;
            }
            Err(e) => return Err(format!("TXT {owner}: {}", shown_long(&e.to_string()))),
        };
        values.sort();
        if values.is_empty() {
            return Err(format!("TXT {owner}: no record on {server}"));
        }
        let verdicts: Vec<std::result::Result<(), record::Refusal>> = values
            .iter()
            .map(|v| record::check(v, &offer.issuers, account, wildcard, now))
            .collect();
        if verdicts.iter().any(|v| v.is_ok()) {
            answered += 1;
            served.get_or_insert(values);
            continue;
        }
        // The most telling refusal: a record of this CA over another's.
        let why = verdicts
            .into_iter()
            .filter_map(|v| v.err())
            .min_by_key(|r| match r {
                record::Refusal::OtherIssuer(_) => 2,
                record::Refusal::Malformed(_) => 1,
                _ => 0,
            })
            .map(|r| match r {
                record::Refusal::OtherAccount(Some(u)) if previous.contains(&u) => {
                    format!(
                        "names our previous account {}, not relied on (ours is {account})",
                        shown(&u)
                    )
                }
                record::Refusal::OtherAccount(Some(u)) => {
                    format!("names account {}, not ours ({account})", shown(&u))
                }
                other => other.to_string(),
            })
            .unwrap_or_default();
        return Err(format!("TXT {owner} on {server}: {why}"));
    }
    match served {
        Some(values) => Ok(Served {
            values,
            answered,
            silent,
        }),
        None => {
            let s: Vec<String> = silent.iter().map(|a| a.to_string()).collect();
            Err(format!(
                "TXT {owner}: no server answered ({})",
                s.join(", ")
            ))
        }
    }
}

/// `; no address for ns2.example.org` for `-v`, or nothing.
fn gap_words(gaps: &[String]) -> String {
    match gaps.is_empty() {
        true => String::new(),
        false => format!("; no address for {}", shown(&gaps.join(", "))),
    }
}

/// [`clip`] to a whole line's worth, for our own words around outside
/// text (a DNS error naming the name asked).
fn shown_long(text: &str) -> String {
    clip(text, 4 * SHOWN)
}

/// Whether `line` may answer the dns-persist-01 challenge at
/// `challenge_url` for `ident` with `account`: `Ok` with the reason
/// (for `-v`) and the records relied on, or `Err` with why not. Records
/// the CA refused before, still served unchanged, are not relied on.
pub async fn usable(
    config: &Config,
    line: &Line,
    account: &str,
    ident: &str,
    challenge_url: &str,
) -> std::result::Result<(String, Relied), String> {
    if !line.persist {
        return Err("persist = false for this line".into());
    }
    let raw = crate::client::persist_challenge(challenge_url)
        .ok_or("the challenge object was not seen")?;
    let offer = offer(&raw)?;
    // Kept for `status`; a failure to keep it must not stop the order.
    let _ = remember(config, &offer.issuers);
    if let Some(theirs) = offer.account.as_deref().filter(|a| *a != account) {
        return Err(format!(
            "the CA names account {}, not ours ({account})",
            shown(theirs)
        ));
    }
    if certdrop_core::name::ip(ident).is_some() {
        return Err("an IP address has no DNS name to hold the record".into());
    }
    let (owner, wildcard) = owner(ident);
    // A name server with no address found counts as one that does not
    // answer.
    let (servers, gaps) = crate::propagation::servers_and_gaps(config, &owner)
        .await
        .map_err(|e| e.msg)?;
    let previous = crate::accountfile::read(config)
        .map(|i| i.previous)
        .unwrap_or_default();
    let (account, o, off) = (account.to_owned(), owner.clone(), offer.clone());
    let now = certdrop_core::clock::now();
    let through = valid_through(config, now);
    let served = tokio::task::spawn_blocking(move || {
        served_everywhere(&servers, &o, &off, &account, &previous, wildcard, through)
    })
    .await
    .map_err(|e| format!("record check: {e}"))??;
    let values = served.values.clone();
    if let Some(r) = refusal(config, line, &owner, &values, now, true) {
        return Err(format!(
            "the CA refused TXT {owner} as served now on {}: {}; not relied on before {} unless it changes",
            certdrop_core::clock::rfc3339(r.at),
            r.error,
            certdrop_core::clock::rfc3339(r.until)
        ));
    }
    Ok((
        format!(
            "TXT {owner} served on {} server(s) naming the CA ({}) and our account{}{}",
            served.answered,
            offer.issuers.join(", "),
            served.silent_words(),
            gap_words(&gaps)
        ),
        Relied {
            ident: ident.to_owned(),
            owner,
            values,
        },
    ))
}

/// The refusal of the records at `owner` that still holds for `values`
/// at `now`; with `forget`, one that no longer holds (the record changed,
/// the day passed) is dropped from the state file.
fn refusal(
    config: &Config,
    line: &Line,
    owner: &str,
    values: &[String],
    now: i64,
    forget: bool,
) -> Option<crate::state::Refused> {
    let mut st = crate::state::load(&config.state, &line.name).ok()?;
    let r = st.persist_refused.get(owner)?.clone();
    if r.digest == digest(values) && r.until > now {
        return Some(r);
    }
    if forget {
        st.persist_refused.remove(owner);
        // Only an optimisation: the entry no longer matches anyway.
        let _ = crate::state::save(&config.state, &line.name, &st);
    }
    None
}

/// Note that the CA refused the records relied on for an identifier
/// (`error`: its words), so that orders for a day use the line's own
/// challenge while they are served unchanged.
pub fn refused(config: &Config, line: &Line, relied: &Relied, error: &str) -> Result<()> {
    let mut st = crate::state::load(&config.state, &line.name)?;
    let at = certdrop_core::clock::now();
    st.persist_refused.insert(
        relied.owner.clone(),
        crate::state::Refused {
            digest: digest(&relied.values),
            at,
            until: at + REFUSAL_FOR,
            error: clip(error, ERROR_KEPT),
        },
    );
    crate::state::save(&config.state, &line.name, &st)
}

/// The CA validated the records relied on: any refusal of them goes.
pub fn accepted(config: &Config, line: &Line, relied: &[Relied]) -> Result<()> {
    let mut st = crate::state::load(&config.state, &line.name)?;
    let before = st.persist_refused.len();
    for r in relied {
        st.persist_refused.remove(&r.owner);
    }
    if st.persist_refused.len() == before {
        return Ok(());
    }
    crate::state::save(&config.state, &line.name, &st)
}

/// `state/persist-<ca>.json`: the issuer-domain-names the CA last offered.
fn memory(config: &Config) -> std::path::PathBuf {
    config.state.join(format!(
        "persist-{}.json",
        crate::accountfile::ca_name(config)
    ))
}

/// Keep the CA's issuer-domain-names (written when they change).
fn remember(config: &Config, issuers: &[String]) -> Result<()> {
    if known_issuers(config) == issuers {
        return Ok(());
    }
    let path = memory(config);
    let json = serde_json::json!({ "issuer-domain-names": issuers });
    // Readable like the line state files, for a monitor's `status`.
    certdrop_core::atomic::write(&path, json.to_string().as_bytes(), crate::state::FILE_MODE)
        .map_err(|e| Error::io(&path, "write", &e))
}

/// The CA offered no dns-persist-01 for any authorization of an order:
/// `status` no longer reckons with it (until it offers it again).
pub fn forget_issuers(config: &Config) -> Result<()> {
    let path = memory(config);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&path, "remove", &e)),
    }
}

/// The issuer-domain-names the CA last offered (empty: never).
pub fn known_issuers(config: &Config) -> Vec<String> {
    std::fs::read(memory(config))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| {
            v["issuer-domain-names"].as_array().map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// How a line's next renewal proves control, for `status` (draft §4:
/// a served record means no DNS change at all).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Renewal {
    /// `dns-persist-01`, `dns-01` or `http-01`.
    pub challenge: String,
    /// Whether the renewal writes to the zone (a dns-01 fragment).
    pub dns_changes: bool,
    /// Why, in words.
    pub why: String,
}

/// The renewal of `line` as the servers answer now (blocking queries).
pub fn renewal(config: &Config, line: &Line, now: i64) -> Renewal {
    let own = match line.challenge {
        Challenge::Dns01 => "dns-01",
        Challenge::Http01 => "http-01",
    };
    let fallback = |why: String| Renewal {
        challenge: own.to_owned(),
        dns_changes: line.challenge == Challenge::Dns01,
        why,
    };
    if !line.persist {
        return fallback("persist = false".into());
    }
    let issuers = known_issuers(config);
    if issuers.is_empty() {
        return fallback("the CA has not offered dns-persist-01".into());
    }
    let Some(info) = crate::accountfile::read(config) else {
        return fallback(format!(
            "no account information in {}",
            crate::accountfile::path(config).display()
        ));
    };
    let offer = Offer {
        issuers,
        account: None,
    };
    let mut owners = Vec::new();
    let mut silent: Vec<SocketAddr> = Vec::new();
    let mut gaps: Vec<String> = Vec::new();
    for d in &line.domains {
        if certdrop_core::name::ip(d).is_some() {
            return fallback(format!("{d}: an IP address has no record"));
        }
        let (o, wildcard) = owner(d);
        let servers = match crate::propagation::servers_blocking(config, &o) {
            Ok((s, g)) => {
                gaps.extend(g);
                s
            }
            Err(e) => return fallback(e.msg),
        };
        let values = match served_everywhere(
            &servers,
            &o,
            &offer,
            &info.account,
            &info.previous,
            wildcard,
            valid_through(config, now),
        ) {
            Ok(served) => {
                silent.extend(served.silent);
                served.values
            }
            Err(why) => return fallback(why),
        };
        if let Some(r) = refusal(config, line, &o, &values, now, false) {
            return fallback(format!(
                "the CA refused TXT {o} at {}: {}; {own} until {} unless it changes",
                certdrop_core::clock::rfc3339(r.at),
                r.error,
                certdrop_core::clock::rfc3339(r.until)
            ));
        }
        owners.push(o);
    }
    silent.sort();
    silent.dedup();
    gaps.sort();
    gaps.dedup();
    let quiet = Served {
        values: Vec::new(),
        answered: 0,
        silent,
    };
    Renewal {
        challenge: CHALLENGE.to_owned(),
        dns_changes: false,
        why: format!(
            "served for our account: {}{}{}",
            owners.join(", "),
            quiet.silent_words(),
            gap_words(&gaps)
        ),
    }
}

#[cfg(test)]
mod tests;
