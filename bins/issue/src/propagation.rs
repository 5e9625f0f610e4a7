//! Before the CA is told to validate a dns-01 challenge, every expected TXT
//! value must be visible on every authoritative server, asked directly and
//! non-recursively (RFC 8555 §8.4; no fixed sleep). The servers come from
//! the configuration or from the zone's NS set. A challenge alias (a CNAME
//! from `_acme-challenge.<domain>` into another zone) is checked live before
//! the order starts.

use std::net::SocketAddr;
use std::time::Duration;

use certdrop_core::output::Output;

use crate::config::{Config, Line};
use crate::dns;
use certdrop_core::error::{Error, Result};

/// Timeout of one query.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// The servers to poll for `owner`: configured, or the NS set of the zone
/// that holds it, found through `dns.discover`.
pub async fn servers_for(config: &Config, owner: &str) -> Result<Vec<SocketAddr>> {
    if !config.dns.servers.is_empty() {
        return Ok(config.dns.servers.clone());
    }
    let Some(discover) = config.dns.discover else {
        return Err(Error::config("no dns.servers and no dns.discover"));
    };
    let owner = owner.to_owned();
    tokio::task::spawn_blocking(move || discover_servers(discover, &owner))
        .await
        .map_err(|e| Error::software(format!("discovery task: {e}")))?
}

/// Walk up from `owner` to the closest name with an NS set, then take the
/// name servers' addresses from glue or from the same server (port kept).
fn discover_servers(discover: SocketAddr, owner: &str) -> Result<Vec<SocketAddr>> {
    let mut name = owner.trim_end_matches('.').to_owned();
    loop {
        let ns = match dns::resolve_ns_set(discover, &name, QUERY_TIMEOUT) {
            Ok(ns) => ns,
            Err(e) if e.is_permanent() => Vec::new(),
            Err(e) => return Err(Error::temp(format!("{owner}: NS lookup at {name}: {e}"))),
        };
        if !ns.is_empty() {
            let mut servers: Vec<SocketAddr> = ns
                .iter()
                .flat_map(|n| {
                    n.addrs
                        .iter()
                        .map(|ip| SocketAddr::new(*ip, discover.port()))
                })
                .collect();
            if servers.is_empty() {
                let names: Vec<&str> = ns.iter().map(|n| n.name.as_str()).collect();
                return Err(Error::temp(format!(
                    "{owner}: zone {name}: no address for its name servers {names:?} at {discover}"
                )));
            }
            servers.sort();
            servers.dedup();
            return Ok(servers);
        }
        match name.split_once('.') {
            Some((_, parent)) if parent.contains('.') => name = parent.to_owned(),
            _ => {
                return Err(Error::temp(format!(
                    "{owner}: no zone with an NS set found through {discover}"
                )))
            }
        }
    }
}

/// Poll `servers` until each has all `values` at `owner`.
pub async fn wait_visible(
    config: &Config,
    servers: &[SocketAddr],
    owner: &str,
    values: &[String],
) -> Result<Duration> {
    dns::wait_visible(
        servers,
        owner,
        values,
        config.dns.timeout,
        config.dns.interval,
    )
    .await
    .map_err(|e| Error::temp(format!("propagation: {e}")))
}

/// Check that every `_acme-challenge.<domain>` of an aliased line is a
/// CNAME to the alias target, on the servers of the domain's zone.
pub async fn check_aliases(config: &Config, line: &Line, out: &Output) -> Result<()> {
    for domain in &line.domains {
        let owner = certdrop_core::name::challenge_owner(domain);
        let target = line.challenge_target(domain);
        let servers = servers_for(config, &owner).await?;
        for server in servers {
            let o = owner.clone();
            let found =
                tokio::task::spawn_blocking(move || dns::query_cname(server, &o, QUERY_TIMEOUT))
                    .await
                    .map_err(|e| Error::software(format!("alias task: {e}")))?
                    .map_err(|e| {
                        Error::temp(format!("{}: {owner}: CNAME lookup: {e}", line.name))
                    })?;
            match found {
                Some(t) if t.eq_ignore_ascii_case(&target) => {
                    out.verbose(&format!("{}: {owner} CNAME {t} (alias confirmed on {server})", line.name));
                }
                Some(t) => {
                    return Err(Error::config(format!(
                        "{}: challenge alias: {owner} is a CNAME to {t}, not to {target} (server {server})",
                        line.name
                    )))
                }
                None => {
                    return Err(Error::config(format!(
                        "{}: challenge alias: {owner} has no CNAME to {target} (server {server}); add it to the zone of {domain}",
                        line.name
                    )))
                }
            }
        }
    }
    Ok(())
}
