//! dns-persist-01 (draft-ietf-acme-dns-persist-00): a standing
//! `_validation-persist.<name>` TXT record, static zone content that
//! certdrop-zone renders from `[[zone.persist]]` and the account file
//! (`accountfile.rs`), binds a name to the CA (one of its
//! issuer-domain-names) and to our account URI. When the CA offers the
//! challenge for an authorization and the record is served on every
//! authoritative server (the servers of the dns-01 propagation check,
//! `propagation.rs`) naming one of the challenge's issuer-domain-names,
//! exactly our current account URI, `policy=wildcard` for a wildcard and
//! no past `persistUntil`, the issuer answers that challenge and writes
//! nothing to `dnsextra/`. Otherwise the line's own challenge is used
//! (dns-01 through the drop directory, or http-01). A record naming an
//! account we had before a new one is never relied on: the CA would hold
//! it against the account that asks.
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
            _ => return Err(format!("issuer-domain-name {n} is not a domain name")),
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

/// Ask every server in `servers` for `owner`: the values served (sorted)
/// if each serves a record that authorizes `account` (`record::check`), else
/// what the first server that does not serves, in words. `previous`: our
/// older account URIs, named as such.
pub fn served_everywhere(
    servers: &[SocketAddr],
    owner: &str,
    offer: &Offer,
    account: &str,
    previous: &[String],
    wildcard: bool,
    now: i64,
) -> std::result::Result<Vec<String>, String> {
    if servers.is_empty() {
        return Err("no authoritative server to ask".into());
    }
    let mut served = Vec::new();
    for server in servers {
        let mut values = dns::query_txt(*server, owner, QUERY_TIMEOUT)
            .map_err(|e| format!("TXT {owner}: {e}"))?;
        values.sort();
        if served.is_empty() {
            served = values.clone();
        }
        if values.is_empty() {
            return Err(format!("TXT {owner}: no record on {server}"));
        }
        let verdicts: Vec<std::result::Result<(), record::Refusal>> = values
            .iter()
            .map(|v| record::check(v, &offer.issuers, account, wildcard, now))
            .collect();
        if verdicts.iter().any(|v| v.is_ok()) {
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
                    format!("names our previous account {u}, not relied on (ours is {account})")
                }
                record::Refusal::OtherAccount(Some(u)) => {
                    format!("names account {u}, not ours ({account})")
                }
                other => other.to_string(),
            })
            .unwrap_or_default();
        return Err(format!("TXT {owner} on {server}: {why}"));
    }
    Ok(served)
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
            "the CA names account {theirs}, not ours ({account})"
        ));
    }
    if certdrop_core::name::ip(ident).is_some() {
        return Err("an IP address has no DNS name to hold the record".into());
    }
    let (owner, wildcard) = owner(ident);
    let servers = crate::propagation::servers_for(config, &owner)
        .await
        .map_err(|e| e.msg)?;
    let previous = crate::accountfile::read(config)
        .map(|i| i.previous)
        .unwrap_or_default();
    let (account, o, off) = (account.to_owned(), owner.clone(), offer.clone());
    let now = certdrop_core::clock::now();
    let count = servers.len();
    let values = tokio::task::spawn_blocking(move || {
        served_everywhere(&servers, &o, &off, &account, &previous, wildcard, now)
    })
    .await
    .map_err(|e| format!("record check: {e}"))??;
    let refused = crate::state::load(&config.state, &line.name)
        .ok()
        .and_then(|st| st.persist_refused.get(&owner).cloned());
    if let Some(r) = refused.filter(|r| r.values == values) {
        return Err(format!(
            "the CA refused TXT {owner} as served now on {}: {}; not relied on until it changes",
            certdrop_core::clock::rfc3339(r.at),
            r.error
        ));
    }
    Ok((
        format!(
            "TXT {owner} served on {count} server(s) naming the CA ({}) and our account",
            offer.issuers.join(", ")
        ),
        Relied {
            ident: ident.to_owned(),
            owner,
            values,
        },
    ))
}

/// Note that the CA refused the records relied on for an identifier, so
/// that the next order uses the line's own challenge while they are
/// served unchanged.
pub fn refused(config: &Config, line: &Line, relied: &Relied, error: &str) -> Result<()> {
    let mut st = crate::state::load(&config.state, &line.name)?;
    st.persist_refused.insert(
        relied.owner.clone(),
        crate::state::Refused {
            values: relied.values.clone(),
            at: certdrop_core::clock::now(),
            error: error.to_owned(),
        },
    );
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
    for d in &line.domains {
        if certdrop_core::name::ip(d).is_some() {
            return fallback(format!("{d}: an IP address has no record"));
        }
        let (o, wildcard) = owner(d);
        let servers = match crate::propagation::servers_blocking(config, &o) {
            Ok(s) => s,
            Err(e) => return fallback(e.msg),
        };
        if let Err(why) = served_everywhere(
            &servers,
            &o,
            &offer,
            &info.account,
            &info.previous,
            wildcard,
            now,
        ) {
            return fallback(why);
        }
        owners.push(o);
    }
    Renewal {
        challenge: CHALLENGE.to_owned(),
        dns_changes: false,
        why: format!("served for our account: {}", owners.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_objects() {
        // Draft §3.1's example.
        let c = serde_json::json!({
            "type": "dns-persist-01",
            "url": "https://ca.example/acme/authz/1234/0",
            "status": "pending",
            "issuer-domain-names": ["authority.example", "ca.example.net"]
        });
        assert_eq!(
            offer(&c),
            Ok(Offer {
                issuers: vec!["authority.example".into(), "ca.example.net".into()],
                account: None
            })
        );
        let mut many = c.clone();
        many["issuer-domain-names"] = (0..11).map(|i| format!("ca{i}.example")).collect();
        assert!(offer(&many)
            .expect_err("11")
            .contains("11 issuer-domain-names"));
        let mut none = c.clone();
        none["issuer-domain-names"] = serde_json::json!([]);
        assert!(offer(&none).is_err());
        assert!(offer(&serde_json::json!({"type": "dns-persist-01"})).is_err());
        assert_eq!(
            owner("*.example.org"),
            ("_validation-persist.example.org.".into(), true)
        );
        assert_eq!(
            owner("www.example.org"),
            ("_validation-persist.www.example.org.".into(), false)
        );
    }
}
