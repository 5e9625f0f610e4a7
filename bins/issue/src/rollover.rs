//! The DANE-safe key rollover's live check (RFC 7671 §8.1): a staged next
//! key signs a certificate only after every authoritative server has served
//! a TLSA record for it, at every owner the line lists, for 2 × TTL. Asked
//! directly of the servers, like the dns-01 propagation check; the time it
//! was first seen everywhere is kept in the line's state.

use std::net::SocketAddr;
use std::time::Duration;

use certdrop_core::certinfo;
use certdrop_core::clock;
use certdrop_core::output::Output;
use sha2::{Digest, Sha256, Sha512};

use crate::config::{Config, Line};
use crate::dns;
use crate::state::LineState;
use certdrop_core::error::{Error, Result};

/// Timeout of one query.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether a TLSA record names the key with this SPKI (usage 3 or 2
/// makes no difference for the key: selector 1, any matching type).
fn matches_key(t: &dns::Tlsa, spki: &[u8]) -> bool {
    t.selector == 1
        && match t.matching {
            0 => t.data == spki,
            1 => t.data == Sha256::digest(spki).as_slice(),
            2 => t.data == Sha512::digest(spki).as_slice(),
            _ => false,
        }
}

/// Ask every server for every owner; returns the largest TTL if all serve
/// a record for `spki`, or a line saying what is missing.
fn served_everywhere(
    servers: &[SocketAddr],
    owners: &[String],
    spki: &[u8],
) -> std::result::Result<u32, String> {
    let mut ttl = 0;
    for owner in owners {
        for server in servers {
            let records =
                dns::query_tlsa(*server, owner, QUERY_TIMEOUT).map_err(|e| e.to_string())?;
            match records.iter().find(|t| matches_key(t, spki)) {
                Some(t) => ttl = ttl.max(t.ttl),
                None => {
                    return Err(format!(
                        "{owner}: no TLSA record for the next key on {server}"
                    ))
                }
            }
        }
    }
    Ok(ttl)
}

/// Update `state` from what the servers serve at `now`; true if it changed.
pub async fn check(
    config: &Config,
    line: &Line,
    state: &mut LineState,
    now: i64,
    out: &Output,
) -> Result<bool> {
    let pem = config
        .store
        .read_next_pub(&line.name)
        .map_err(|e| Error::io(&config.store.next_pub_path(&line.name), "read next key", &e))?
        .ok_or_else(|| Error::noinput(format!("{}: no next key published", line.name)))?;
    let spki = certinfo::pem_blocks(&pem, "PUBLIC KEY")
        .ok()
        .and_then(|mut v| (v.len() == 1).then(|| v.remove(0)))
        .ok_or_else(|| {
            Error::data(format!(
                "{}: next/pubkey.pem is not one public key",
                line.name
            ))
        })?;
    let mut servers = Vec::new();
    for owner in &line.tlsa {
        for s in crate::propagation::servers_for(config, owner).await? {
            if !servers.contains(&s) {
                servers.push(s);
            }
        }
    }
    let owners = line.tlsa.clone();
    let result = tokio::task::spawn_blocking(move || served_everywhere(&servers, &owners, &spki))
        .await
        .map_err(|e| Error::software(format!("TLSA check: {e}")))?;
    let before = (state.next_served_since, state.next_served_ttl);
    match result {
        Ok(ttl) => {
            if state.next_served_since.is_none() {
                state.next_served_since = Some(now);
            }
            state.next_served_ttl = Some(ttl.max(state.next_served_ttl.unwrap_or(0)));
            out.verbose(&format!(
                "{}: next key's TLSA served everywhere since {} (TTL {ttl})",
                line.name,
                clock::rfc3339(state.next_served_since.unwrap_or(0))
            ));
        }
        Err(why) => {
            // The record must hold continuously: start the clock again.
            state.next_served_since = None;
            out.verbose(&format!(
                "{}: waiting for the next key's TLSA: {why}",
                line.name
            ));
        }
    }
    Ok(before != (state.next_served_since, state.next_served_ttl))
}
