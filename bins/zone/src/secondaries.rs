//! `certdrop-zone secondaries`: do the secondaries serve what the primary
//! serves? Each zone's SOA serial (RFC 1035 §3.3.13) is asked of the
//! primary (`server`) and of every `[[xfr.secondary]]`, directly and in
//! parallel; with `--wait`, asked again until all are current or the time
//! is up. nsd moves the zones itself (NOTIFY, then AXFR/IXFR); this only
//! looks, so `build` never waits for a site that may be down.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use certdrop_core::error::{Error, Result};
use certdrop_core::exit::{Failure, Outcome};
use certdrop_core::output::Output;
use certdrop_dns::DnsError;
use serde::Serialize;

use crate::config::Config;
use crate::xfr::Secondary;

/// Between two rounds of questions while some secondary lags.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// The longest one query may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// The shortest, even when the wait is nearly over.
const MIN_QUERY_TIMEOUT: Duration = Duration::from_millis(300);

/// What one server said about one zone.
#[derive(Debug, Clone, Serialize)]
struct Seen {
    /// The secondary's name, or "primary".
    name: String,
    address: SocketAddr,
    /// The serial it serves, when it answered with one.
    serial: Option<u32>,
    /// Why there is no serial, in words.
    problem: Option<String>,
    /// Serves the primary's serial.
    current: bool,
}

/// One zone's round: the primary's answer and every secondary's.
#[derive(Debug, Clone, Serialize)]
struct ZoneSeen {
    zone: String,
    primary: Seen,
    secondaries: Vec<Seen>,
}

impl ZoneSeen {
    fn all_current(&self) -> bool {
        self.primary.serial.is_some() && self.secondaries.iter().all(|s| s.current)
    }
}

/// Ask, wait while some lag (up to `wait`), report: one line per lagging
/// server (every server with -v, everything as JSON with `json`). 0 when
/// all are current, 69 when some lag or the primary does not answer.
pub fn run(
    config: &Config,
    names: &[String],
    wait: Duration,
    json: bool,
    out: &Output,
) -> Result<Outcome> {
    let shown = config.path.display();
    let secondaries = match &config.xfr {
        Some(x) if !x.secondaries.is_empty() => &x.secondaries,
        _ => {
            return Err(Error::config(format!(
                "{shown}: secondaries: no [[xfr.secondary]] configured"
            )))
        }
    };
    for n in names {
        if !config.zones.iter().any(|z| &z.name == n) {
            return Err(Error::usage(format!("{shown}: no zone named '{n}'")));
        }
    }
    // Each zone's primary is its own server (or the top-level one).
    let mut zones: Vec<(&str, SocketAddr)> = Vec::new();
    for z in config
        .zones
        .iter()
        .filter(|z| names.is_empty() || names.contains(&z.name))
    {
        let Some(primary) = z.server else {
            return Err(Error::config(format!(
                "{shown}: secondaries: no server (the primary whose serials the secondaries must serve)"
            )));
        };
        zones.push((z.name.as_str(), primary));
    }
    let deadline = Instant::now() + wait;
    let seen = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = left.clamp(MIN_QUERY_TIMEOUT, QUERY_TIMEOUT);
        let seen = survey(secondaries, &zones, timeout);
        if seen.iter().all(ZoneSeen::all_current) || Instant::now() >= deadline {
            break seen;
        }
        out.debug("some secondaries lag; asking again");
        std::thread::sleep(POLL_INTERVAL.min(deadline - Instant::now()));
    };
    let current = seen.iter().all(ZoneSeen::all_current);
    if json {
        let doc = serde_json::json!({ "current": current, "zones": seen });
        out.print(&doc.to_string());
    }
    for z in &seen {
        report(z, json, out);
    }
    match current {
        true => Ok(Outcome::Reported),
        false => Err(Error::reported(Failure::Unavailable)),
    }
}

/// Lines for one zone: the problems always (on stderr, unless the JSON
/// already says it all), the current servers with -v.
fn report(z: &ZoneSeen, json: bool, out: &Output) {
    let zone = &z.zone;
    let Some(want) = z.primary.serial else {
        let why = z.primary.problem.as_deref().unwrap_or("serves no serial");
        if !json {
            out.error(&format!(
                "zone {zone}: the primary ({}) {why}",
                z.primary.address
            ));
        }
        return;
    };
    out.verbose(&format!(
        "zone {zone}: primary ({}) serves serial {want}",
        z.primary.address
    ));
    for s in &z.secondaries {
        let who = format!("zone {zone}: {} ({})", s.name, s.address);
        match (s.current, s.serial, &s.problem) {
            (true, _, _) => out.verbose(&format!("{who} serves serial {want}: current")),
            _ if json => {}
            (false, Some(serial), _) => {
                out.error(&format!("{who} serves serial {serial}, primary {want}"))
            }
            (false, None, problem) => out.error(&format!(
                "{who} {}",
                problem.as_deref().unwrap_or("serves no serial")
            )),
        }
    }
}

/// One round: every (server, zone) asked at once, each on its own thread
/// (a site that does not answer costs one timeout, not one per site).
fn survey(
    secondaries: &[Secondary],
    zones: &[(&str, SocketAddr)],
    timeout: Duration,
) -> Vec<ZoneSeen> {
    std::thread::scope(|scope| {
        let asks: Vec<_> = zones
            .iter()
            .map(|&(zone, primary)| {
                let p = scope.spawn(move || ask("primary", primary, zone, timeout));
                let s: Vec<_> = secondaries
                    .iter()
                    .map(|s| scope.spawn(move || ask(&s.name, s.addr, zone, timeout)))
                    .collect();
                (zone, primary, p, s)
            })
            .collect();
        asks.into_iter()
            .map(|(zone, primary, p, s)| {
                let primary = joined(p, "primary", primary);
                let secondaries = s
                    .into_iter()
                    .zip(secondaries)
                    .map(|(h, sec)| {
                        let mut seen = joined(h, &sec.name, sec.addr);
                        seen.current = seen.serial.is_some() && seen.serial == primary.serial;
                        seen
                    })
                    .collect();
                ZoneSeen {
                    zone: zone.to_string(),
                    primary,
                    secondaries,
                }
            })
            .collect()
    })
}

/// A query thread's result; a panicked one is a server we know nothing of.
fn joined(h: std::thread::ScopedJoinHandle<'_, Seen>, name: &str, address: SocketAddr) -> Seen {
    h.join().unwrap_or_else(|_| Seen {
        name: name.to_owned(),
        address,
        serial: None,
        problem: Some("could not be asked (query thread failed)".into()),
        current: false,
    })
}

/// The SOA serial `server` serves for `zone`, or why there is none.
fn ask(name: &str, server: SocketAddr, zone: &str, timeout: Duration) -> Seen {
    let (serial, problem) = match certdrop_dns::query_soa_serial(server, zone, timeout) {
        Ok(Some(s)) => (Some(s), None),
        Ok(None) => (None, Some("serves no SOA record for the zone".to_owned())),
        Err(DnsError::Timeout { .. }) => (None, Some("does not answer".to_owned())),
        // "DNS SOA zone. @server: server answered SERVFAIL" -> "answers SERVFAIL".
        Err(e @ (DnsError::Rcode { .. } | DnsError::NotAuthoritative { .. })) => (
            None,
            Some(after_server(&e, server).replace("server answered", "answers")),
        ),
        Err(e) => (
            None,
            Some(format!("does not answer: {}", after_server(&e, server))),
        ),
    };
    Seen {
        name: name.to_owned(),
        address: server,
        serial,
        problem,
        current: false,
    }
}

/// A DnsError's text after its `@server: ` prefix.
fn after_server(e: &DnsError, server: SocketAddr) -> String {
    let text = e.to_string();
    let mark = format!("@{server}: ");
    match text.find(&mark) {
        Some(i) => text[i + mark.len()..].to_owned(),
        None => text,
    }
}
