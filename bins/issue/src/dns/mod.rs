//! Live DNS checks of certdrop-issue: the synchronous queries come from the
//! shared crate certdrop-dns (re-exported here, so callers keep writing
//! `crate::dns::query_tlsa` and friends); what stays here is
//! [`wait_visible`], the dns-01 propagation poll (RFC 8555 §8.4), because
//! it runs the queries on tokio's blocking pool and needs a runtime with the
//! time driver enabled, which the shared crate must not link.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use certdrop_dns::*;

/// Per-query timeout used by [`wait_visible`] for each poll (RFC 1035 §4.2.1 leaves it to us).
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// First pause between polls in [`wait_visible`]: dense, because a local
/// zone compiler that builds on the issuer's completion marker serves the
/// value some 20 ms after the fragment; the pauses then grow by
/// [`POLL_GROWTH`] up to the caller's interval (queries at about 0, 10,
/// 25, 48, 82, 132, 208, 322, 493 ms, 0.75, 1.1, 1.7 s, ...): some 15
/// queries per server in the first 3 s.
pub const INITIAL_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Factor by which each pause between polls grows.
const POLL_GROWTH: f64 = 1.5;

/// Shortest per-query timeout [`wait_visible`] uses, even when its deadline is closer.
const MIN_QUERY_TIMEOUT: Duration = Duration::from_millis(50);

/// Shortest pause between polls, so a zero `interval` cannot spin.
const MIN_POLL_PAUSE: Duration = Duration::from_millis(10);

/// Poll every server until its TXT set at `name` holds all `values`; returns the time taken (RFC 8555 §8.4).
///
/// Servers are asked in parallel on tokio's blocking pool, each with a query
/// timeout of at most [`DEFAULT_QUERY_TIMEOUT`]. A server counts as done once
/// one poll showed every value. Pauses start at [`INITIAL_POLL_INTERVAL`] and
/// grow by half up to `interval`. Transient failures (timeouts, SERVFAIL, socket
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
        pause = pause.mul_f64(POLL_GROWTH).min(ceiling);
    }
    Ok(start.elapsed())
}

#[cfg(test)]
mod tests;
