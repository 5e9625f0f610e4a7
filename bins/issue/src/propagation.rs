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
/// Timeout of the question asked of each lagging server after the
/// propagation timeout, for the error line: short, the wait is over.
const LAST_LOOK: Duration = Duration::from_secs(1);

/// The servers to poll for `owner`: configured, or the NS set of the zone
/// that holds it, found through `dns.discover`.
pub async fn servers_for(config: &Config, owner: &str) -> Result<Vec<SocketAddr>> {
    Ok(servers_and_gaps(config, owner).await?.0)
}

/// [`servers_for`], and the name servers of the NS set it found no
/// address for (not asked: `-v` names them).
pub async fn servers_and_gaps(
    config: &Config,
    owner: &str,
) -> Result<(Vec<SocketAddr>, Vec<String>)> {
    if !config.dns.servers.is_empty() {
        return Ok((config.dns.servers.clone(), Vec::new()));
    }
    let Some(discover) = config.dns.discover else {
        return Err(Error::config("no dns.servers and no dns.discover"));
    };
    let owner = owner.to_owned();
    tokio::task::spawn_blocking(move || discover_servers(discover, &owner))
        .await
        .map_err(|e| Error::software(format!("discovery task: {e}")))?
}

/// [`servers_and_gaps`] without a runtime (`status`).
pub fn servers_blocking(config: &Config, owner: &str) -> Result<(Vec<SocketAddr>, Vec<String>)> {
    if !config.dns.servers.is_empty() {
        return Ok((config.dns.servers.clone(), Vec::new()));
    }
    let Some(discover) = config.dns.discover else {
        return Err(Error::config("no dns.servers and no dns.discover"));
    };
    discover_servers(discover, owner)
}

/// Walk up from `owner` to the closest name with an NS set, then take the
/// name servers' addresses from glue or from the same server (port kept);
/// with the names of those it found no address for.
fn discover_servers(discover: SocketAddr, owner: &str) -> Result<(Vec<SocketAddr>, Vec<String>)> {
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
            let gaps = ns
                .iter()
                .filter(|n| n.addrs.is_empty())
                .map(|n| n.name.clone())
                .collect();
            return Ok((servers, gaps));
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

/// Poll `servers` until each has all `values` at `owner`. After the
/// timeout, one line names every server that lags and what it serves
/// (asked once more: a secondary that missed a NOTIFY or a transfer shows
/// its old values, a site that is down shows that it does not answer).
pub async fn wait_visible(
    config: &Config,
    servers: &[SocketAddr],
    owner: &str,
    values: &[String],
) -> Result<Duration> {
    match dns::wait_visible(
        servers,
        owner,
        values,
        config.dns.timeout,
        config.dns.interval,
    )
    .await
    {
        Ok(took) => Ok(took),
        Err(dns::DnsError::NotVisible {
            name,
            waited,
            missing,
        }) => Err(Error::temp(format!(
            "propagation: TXT {name}: not visible on {} of {} server(s) after {:.1}s: {}",
            missing.len(),
            servers.len(),
            waited.as_secs_f64(),
            lagging(&name, values, &missing).await
        ))),
        Err(e) => Err(Error::temp(format!("propagation: {e}"))),
    }
}

/// What each lagging server serves now, in words, `; `-separated.
async fn lagging(name: &str, values: &[String], missing: &[dns::MissingValues]) -> String {
    let asks: Vec<_> = missing
        .iter()
        .map(|m| {
            let (server, name) = (m.server, name.to_owned());
            tokio::task::spawn_blocking(move || dns::query_txt(server, &name, LAST_LOOK))
        })
        .collect();
    let mut words = Vec::new();
    for (m, ask) in missing.iter().zip(asks) {
        let lacks = quoted(&m.values);
        let said = match ask.await {
            Ok(Ok(found)) if found.is_empty() => {
                format!("{} serves no TXT value, not {lacks}", m.server)
            }
            Ok(Ok(found)) => {
                let still: Vec<String> = values
                    .iter()
                    .filter(|v| !found.contains(v))
                    .cloned()
                    .collect();
                match still.is_empty() {
                    true => format!("{} served {lacks} only after the timeout", m.server),
                    false => format!(
                        "{} serves {}, not {}",
                        m.server,
                        quoted(&found),
                        quoted(&still)
                    ),
                }
            }
            Ok(Err(dns::DnsError::Timeout { .. })) => {
                format!("{} does not answer (lacks {lacks})", m.server)
            }
            Ok(Err(e)) => format!("{} lacks {lacks} ({e})", m.server),
            Err(e) => format!("{} lacks {lacks} (not asked again: {e})", m.server),
        };
        words.push(said);
    }
    words.join("; ")
}

/// `"a", "b"`.
fn quoted(values: &[String]) -> String {
    let q: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    q.join(", ")
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

#[cfg(test)]
mod tests {
    use super::*;
    use certdrop_testkit::nsd::Nsd;

    #[test]
    fn a_name_server_with_no_address_is_named_not_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zones = dir.path().join("zones");
        std::fs::create_dir_all(&zones).expect("zones");
        std::fs::write(
            zones.join("example.org.zone"),
            "$ORIGIN example.org.\n$TTL 60\n\
             @ IN SOA ns1 hostmaster 1 3600 600 86400 60\n\
             @ IN NS ns1\n@ IN NS ns2.elsewhere.test.\nns1 IN A 127.0.0.1\n",
        )
        .expect("zone");
        let nsd = Nsd::start(&dir.path().join("nsd"), &zones, &["example.org"]);
        let (servers, gaps) =
            discover_servers(nsd.addr, "_validation-persist.www.example.org.").expect("found");
        assert_eq!(
            servers,
            [SocketAddr::new([127, 0, 0, 1].into(), nsd.addr.port())]
        );
        assert_eq!(gaps, ["ns2.elsewhere.test."]);
    }
}
