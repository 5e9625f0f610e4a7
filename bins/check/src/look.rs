//! One look at the lines: what the store (certs/), the publication tree
//! (pub/) and the issuer's state (state/<line>.json) say about each, then
//! each endpoint (served.rs), then the rules that turn that into problems.
//! Everything read is untrusted: bounded, parsed, never followed further
//! than the one file.

use std::path::Path;

use serde::Deserialize;

use certdrop_core::certinfo;
use certdrop_core::clock;
use certdrop_core::error::{Error, Result};
use certdrop_core::name;
use certdrop_core::store::{CERT, NEXT, PUBKEY};
use certdrop_core::untrusted::{self, Refused, Rules};

use crate::config::{Config, Line as LineConfig};
use crate::report::{Cert, Found, Issuer, Line, Report, Status};
use crate::served;

/// Largest issuer state file read: a few hundred bytes in practice.
const MAX_STATE: u64 = 64 * 1024;

/// The fields of the issuer's `state/<line>.json` (certdrop-issue's
/// state.rs) that say how it fares; the others are its business, and
/// unknown ones are ignored so that a newer issuer is still read.
#[derive(Debug, Default, Deserialize)]
struct IssuerState {
    #[serde(default)]
    failures: u32,
    last_failure: Option<i64>,
    last_error: Option<String>,
    retry_not_before: Option<i64>,
}

/// Look at the lines `only` names (all when empty) and judge them.
pub fn run(config: &Config, only: &[String]) -> Result<Report> {
    let now = clock::now();
    let lines = lines(config)?;
    for o in only {
        if !lines.iter().any(|l| &l.name == o) {
            return Err(Error::usage(format!(
                "{}: no line named '{o}'",
                config.path.display()
            )));
        }
    }
    let mut report = Report {
        time: now,
        status: Status::Ok,
        warning_days: config.warning_days,
        critical_days: config.critical_days,
        lines: Vec::new(),
    };
    for l in lines
        .iter()
        .filter(|l| only.is_empty() || only.contains(&l.name))
    {
        let line = look(config, l, now);
        report.status = report.status.max(line.status);
        report.lines.push(line);
    }
    if report.lines.is_empty() {
        report.status = Status::Unknown;
    }
    Ok(report)
}

/// The configured lines, or every line in certs/ (name order), without endpoints.
fn lines(config: &Config) -> Result<Vec<LineConfig>> {
    if !config.lines.is_empty() {
        return Ok(config.lines.clone());
    }
    let dir = &config.certs;
    let entries = std::fs::read_dir(dir).map_err(|e| Error::unreadable(dir, "cannot list", &e))?;
    let mut names = Vec::new();
    for e in entries {
        let e = e.map_err(|e| Error::unreadable(dir, "cannot list", &e))?;
        let n = e.file_name().to_string_lossy().into_owned();
        // Dot entries are the store's own (.v/, temporaries); a name that
        // is no line name is not a line (and never a path to follow).
        if !n.starts_with('.') && name::line_name(&n).is_ok() {
            names.push(n);
        }
    }
    names.sort();
    Ok(names
        .into_iter()
        .map(|name| LineConfig {
            name,
            endpoints: Vec::new(),
        })
        .collect())
}

/// Everything about one line, judged.
fn look(config: &Config, l: &LineConfig, now: i64) -> Line {
    let certs = leaf(&config.certs.join(&l.name).join(CERT), now);
    let published = config
        .pub_dir
        .as_ref()
        .map(|p| leaf(&p.join(&l.name).join(CERT), now));
    let next_path = config.certs.join(&l.name).join(NEXT).join(PUBKEY);
    let next_spki = next_key(&next_path);
    let issuer = config
        .issuer_state
        .as_ref()
        .map(|d| issuer(&d.join(format!("{}.json", l.name))));
    let mut line = Line {
        line: l.name.clone(),
        status: Status::Ok,
        problems: Vec::new(),
        certs,
        published,
        next_key: !matches!(next_spki, Ok(None)),
        issuer,
        endpoints: Vec::new(),
    };
    // What the endpoints must serve: the published leaf, or the store's
    // when pub/ is not looked at.
    let expected = match &line.published {
        Some(p) => p.cert.as_ref(),
        None => line.certs.cert.as_ref(),
    }
    .map(|c| c.sha256.clone());
    let next = match &next_spki {
        Ok(k) => k.as_deref(),
        Err(_) => None,
    };
    for e in &l.endpoints {
        let seen = served::look(config, e, now, expected.as_deref(), next);
        line.endpoints.push(seen);
    }
    if let Err(why) = next_spki {
        line.problem(
            Status::Unknown,
            format!("{}: next key: {why}", next_path.display()),
        );
    }
    judge(config, &mut line, now);
    line
}

/// The leaf of a cert.pem (first certificate of the file).
fn leaf(path: &Path, now: i64) -> Found {
    let what = |why: String| Found::error(format!("{}: {why}", path.display()));
    match untrusted::read(path, &Rules::default()) {
        Err(Refused::Missing) => what("missing".into()),
        Err(e) => what(e.to_string()),
        Ok(bytes) => match certinfo::pem_blocks(&bytes, "CERTIFICATE") {
            Err(e) => what(e),
            Ok(ders) => match ders.first() {
                None => what("no certificate".into()),
                Some(der) => Cert::from_der(der, now).map_or_else(what, Found::cert),
            },
        },
    }
}

/// The staged next key's SubjectPublicKeyInfo (DER), if one is staged.
fn next_key(path: &Path) -> std::result::Result<Option<Vec<u8>>, String> {
    let bytes = match untrusted::read_optional(path, &Rules::new(64 * 1024)) {
        Ok(None) => return Ok(None),
        Ok(Some(b)) => b,
        Err(e) => return Err(e.to_string()),
    };
    let mut blocks = certinfo::pem_blocks(&bytes, "PUBLIC KEY")?;
    match blocks.len() {
        1 => Ok(blocks.pop()),
        n => Err(format!("{n} PUBLIC KEY blocks, expected one")),
    }
}

/// The issuer's failures for one line; a missing file is a line that never failed.
fn issuer(path: &Path) -> Issuer {
    let bytes = match untrusted::read_optional(path, &Rules::new(MAX_STATE)) {
        Ok(None) => return Issuer::default(),
        Ok(Some(b)) => b,
        Err(e) => {
            return Issuer {
                error: Some(format!("{}: {e}", path.display())),
                ..Issuer::default()
            }
        }
    };
    match serde_json::from_slice::<IssuerState>(&bytes) {
        Ok(s) => Issuer {
            failures: s.failures,
            last_failure: s.last_failure,
            last_error: s.last_error,
            retry_not_before: s.retry_not_before,
            error: None,
        },
        Err(e) => Issuer {
            error: Some(format!("{}: unreadable state: {e}", path.display())),
            ..Issuer::default()
        },
    }
}

/// The rules: days left against the thresholds for every copy read; a copy
/// that cannot be read; a served leaf that is not the published one; TLSA
/// records that do not match; the issuer failing.
fn judge(config: &Config, line: &mut Line, now: i64) {
    let name = line.line.clone();
    let mut copies: Vec<(String, Found)> = vec![("certs/".to_string(), line.certs.clone())];
    if let Some(p) = &line.published {
        copies.push(("pub/".to_string(), p.clone()));
    }
    for e in &line.endpoints {
        copies.push((format!("served at {}", e.endpoint), e.served.clone()));
    }
    for (where_, found) in copies {
        match (&found.cert, &found.error) {
            (Some(c), _) => {
                if let Some((status, words)) = expiry(config, c) {
                    line.problem(status, format!("{name}: {where_}: {words}"));
                }
            }
            (None, Some(why)) => {
                line.problem(Status::Critical, format!("{name}: {where_}: {why}"));
            }
            (None, None) => {}
        }
    }
    for e in line.endpoints.clone() {
        if e.matches_published == Some(false) {
            line.problem(
                Status::Warning,
                format!(
                    "{name}: {} serves a certificate other than the published one",
                    e.endpoint
                ),
            );
        }
        let Some(t) = &e.tlsa else { continue };
        if let Some(why) = &t.error {
            line.problem(Status::Unknown, format!("{name}: {}: {why}", t.owner));
            continue;
        }
        match (t.records, t.current) {
            (0, _) => line.problem(
                Status::Warning,
                format!("{name}: {}: no usable TLSA record", t.owner),
            ),
            (_, Some(false)) => line.problem(
                Status::Critical,
                format!(
                    "{name}: {}: no TLSA record matches what {} serves",
                    t.owner, e.endpoint
                ),
            ),
            _ => {}
        }
        if t.next == Some(false) {
            line.problem(
                Status::Warning,
                format!(
                    "{name}: {}: no TLSA record for the staged next key yet",
                    t.owner
                ),
            );
        }
    }
    if let Some(i) = line.issuer.clone() {
        if let Some(why) = i.error {
            line.problem(Status::Unknown, format!("{name}: issuer state: {why}"));
        } else if i.failures > 0 {
            let mut text = format!("{name}: issuer: {} consecutive failure(s)", i.failures);
            if let Some(e) = &i.last_error {
                text.push_str(&format!(", last: {e}"));
            }
            if let Some(t) = i.retry_not_before.filter(|t| *t > now) {
                text.push_str(&format!("; next attempt after {}", clock::rfc3339(t)));
            }
            line.problem(Status::Warning, text);
        }
    }
}

/// A copy's days left against the thresholds: None when fine.
fn expiry(config: &Config, c: &Cert) -> Option<(Status, String)> {
    let days = c.days_left;
    let words = match days {
        d if d < 0.0 => format!("expired on {}", c.expires),
        d => format!("expires in {:.0} day(s), on {}", d.floor(), c.expires),
    };
    if days < f64::from(config.critical_days) {
        Some((Status::Critical, words))
    } else if days < f64::from(config.warning_days) {
        Some((Status::Warning, words))
    } else {
        None
    }
}
