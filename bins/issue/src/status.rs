//! `status`: one row per line — names, profile, key age, not-after, days
//! left, and the next action (for a line backing off: until when, and
//! why), and the renewal window the CA suggested (ARI) with when it was
//! fetched, and whether renewals need DNS changes (a dns-persist-01
//! record served for our account, asked of the authoritative servers now,
//! or a dns-01 fragment each time) — as a table for people or JSON for
//! machines.

use certdrop_core::clock;
use serde::Serialize;

use crate::config::{Config, KeyPolicy};
use crate::lifecycle::{self, Plan};
use crate::state;
use certdrop_core::error::Result;

/// One line's status.
#[derive(Debug, Serialize)]
pub struct Row {
    /// Line name.
    pub line: String,
    /// Configured names.
    pub names: Vec<String>,
    /// The certificate profile the line orders (None: the CA's default).
    pub profile: Option<String>,
    /// Key age in days (None for CSR lines or no key yet).
    pub key_age_days: Option<i64>,
    /// notAfter of the current certificate (RFC 3339).
    pub not_after: Option<String>,
    /// Whole days left.
    pub days_left: Option<i64>,
    /// What the next run would do.
    pub next_action: String,
    /// When it is due (RFC 3339), for a line waiting: the renewal is a
    /// share of the lifetime of the certificate received (renew_remaining).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_at: Option<String>,
    /// The last attempt's failure, until a certificate is issued.
    pub last_error: Option<String>,
    /// Consecutive failures that put the line in back-off.
    pub failures: u32,
    /// No attempt before this time (RFC 3339), while the line backs off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_not_before: Option<String>,
    /// The URL of the order in progress the next run continues, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The renewal window the CA suggested for the current certificate
    /// (RFC 9773), as last fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ari: Option<AriRow>,
    /// The named CA (`[[ca]]`) that issued the current certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// A CSR line's next key waiting in `certs/<line>/next/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staged: Option<Staged>,
    /// How the next renewal proves control, and whether it changes DNS.
    pub renewal: crate::persist::Renewal,
}

/// A CSR line's staged next key: which CSR requests it, since when it is
/// published, and since when every server has served its TLSA record.
#[derive(Debug, Serialize)]
pub struct Staged {
    /// The CSR file (`next.csr.pem`, or the CSR file for a new key).
    pub csr: String,
    /// When its public half was published (RFC 3339).
    pub since: String,
    /// Since when every authoritative server serves its TLSA record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_since: Option<String>,
}

/// The staged key of a CSR line, if one is published and still requested.
fn staged_from(
    config: &Config,
    line: &crate::config::Line,
    st: &state::LineState,
    csrs: Option<&crate::csrkeys::Csrs>,
    cert: Option<&certdrop_core::certinfo::CertInfo>,
) -> Option<Staged> {
    let (csr, path) = csrs?.staged(&cert?.spki)?;
    let published = crate::csrkeys::published_next(config, line).ok()??;
    (published == csr.spki).then(|| Staged {
        csr: path.display().to_string(),
        since: st
            .next_published
            .map(clock::rfc3339)
            .unwrap_or_else(|| "-".into()),
        served_since: st.next_served_since.map(clock::rfc3339),
    })
}

/// The CA's suggested renewal window (RFC 9773 §4.2), RFC 3339 times.
#[derive(Debug, Serialize)]
pub struct AriRow {
    /// suggestedWindow.start.
    pub start: String,
    /// suggestedWindow.end.
    pub end: String,
    /// When it was fetched.
    pub fetched: String,
}

/// Compute the rows.
pub fn rows(config: &Config, now: i64) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for line in &config.lines {
        let st = state::load(&config.state, &line.name)?;
        let cert = lifecycle::current_cert(config, line)?;
        // A refused CSR is that line's answer, not the whole table's.
        let (plan, refused) = match lifecycle::plan(config, line, &st, now, false, false) {
            Ok(p) => (p, None),
            Err(e) if matches!(line.key_policy, KeyPolicy::Csr(_)) => {
                (Plan::Wait(None, "nothing"), Some(e.msg))
            }
            Err(e) => return Err(e),
        };
        let csr = crate::csrkeys::load(line).ok().flatten();
        let next_at = match plan {
            Plan::Wait(Some(t), _) => Some(clock::rfc3339(t)),
            _ => None,
        };
        let backing_off = match plan {
            Plan::BackOff(t) => Some(t),
            _ => None,
        };
        let next_action = match plan {
            Plan::Issue(r) => format!("issue now ({})", r.words()),
            Plan::StageNext if csr.is_some() => "publish the next CSR's key now".to_owned(),
            Plan::StageNext => "stage next key now".to_owned(),
            Plan::Unstage => "withdraw the staged next key now (its CSR is gone)".to_owned(),
            Plan::Wait(Some(t), what) => format!("{what} in {}", lifecycle::until(t, now)),
            Plan::Wait(None, what) => what.to_owned(),
            Plan::CheckNext => "next key published, waiting for its TLSA record".to_owned(),
            Plan::BackOff(t) => format!(
                "retry in {} at {} ({} failures)",
                lifecycle::until(t, now),
                clock::rfc3339(t),
                st.failures
            ),
        };
        let staged = staged_from(config, line, &st, csr.as_ref(), cert.as_ref());
        let next_action = match (&refused, &staged) {
            (Some(why), _) => format!("refused: {why}"),
            (None, Some(s)) => format!(
                "{next_action}; next key from {} staged since {}{}",
                s.csr,
                s.since,
                s.served_since
                    .as_ref()
                    .map(|t| format!(" (its TLSA record served everywhere since {t})"))
                    .unwrap_or_default()
            ),
            (None, None) => next_action,
        };
        let next_action = match csr.as_ref().and_then(|c| c.next_error.as_ref()) {
            Some(e) => format!("{next_action}; {}", e.msg),
            None => next_action,
        };
        let next_action = match &st.order {
            Some(o) => format!("{next_action}, resuming the {} order", o.stage.word()),
            None => next_action,
        };
        // Why: the failure that put the line in back-off, or the last
        // attempt's (one no retry fixes, which holds nothing back).
        let next_action = match (&st.last_error, backing_off) {
            (Some(e), Some(_)) => format!("{next_action}: {e}"),
            (Some(e), None) => format!("{next_action}; last attempt failed: {e}"),
            (None, _) => next_action,
        };
        // Only the window asked for the certificate the line has now.
        let ari = st
            .ari
            .as_ref()
            .filter(|w| cert.as_ref().is_some_and(|c| c.serial == w.serial))
            .map(|w| AriRow {
                start: clock::rfc3339(w.start),
                end: clock::rfc3339(w.end),
                fetched: clock::rfc3339(w.fetched),
            });
        // The CA that issued the certificate, else the first the line lists.
        let at = config.for_ca(st.ca.as_deref().or(line.cas.first().map(String::as_str)));
        rows.push(Row {
            renewal: crate::persist::renewal(&at, line, now),
            line: line.name.clone(),
            names: line.domains.clone(),
            profile: line.profile.clone(),
            staged,
            key_age_days: match line.key_policy {
                KeyPolicy::Csr(_) => None,
                _ => lifecycle::key_age(config, line, &st, now).map(|a| a / 86_400),
            },
            not_after: cert.as_ref().map(|c| clock::rfc3339(c.not_after)),
            days_left: cert
                .as_ref()
                .map(|c| (c.not_after - now).div_euclid(86_400)),
            next_action,
            next_at,
            last_error: st.last_error.clone(),
            failures: st.failures,
            retry_not_before: backing_off.map(clock::rfc3339),
            order: st.order.as_ref().map(|o| o.url.clone()),
            ari,
            ca: st.ca.clone().filter(|_| cert.is_some()),
        });
    }
    Ok(rows)
}

/// Render the rows as an aligned table.
pub fn table(rows: &[Row]) -> String {
    let mut cells: Vec<[String; 8]> = vec![[
        "LINE".into(),
        "NAMES".into(),
        "PROFILE".into(),
        "KEY AGE".into(),
        "NOT AFTER".into(),
        "DAYS LEFT".into(),
        "DNS CHANGES".into(),
        "NEXT".into(),
    ]];
    for r in rows {
        let names = match r.names.len() {
            0 | 1 => r.names.join(","),
            n => format!("{} (+{})", r.names[0], n - 1),
        };
        cells.push([
            r.line.clone(),
            names,
            r.profile.clone().unwrap_or_else(|| "-".into()),
            r.key_age_days.map_or("-".into(), |d| format!("{d}d")),
            r.not_after.clone().unwrap_or_else(|| "-".into()),
            r.days_left.map_or("-".into(), |d| d.to_string()),
            match r.renewal.dns_changes {
                true => format!("yes ({})", r.renewal.challenge),
                false => format!("no ({})", r.renewal.challenge),
            },
            r.next_action.clone(),
        ]);
    }
    let mut widths = [0usize; 8];
    for row in &cells {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let mut out = String::new();
    for (n, row) in cells.iter().enumerate() {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i == 7 {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        // Which of several CAs issued it, under its line (row 0 is the heading).
        if let Some(ca) = n.checked_sub(1).and_then(|i| rows[i].ca.as_ref()) {
            out.push_str(&format!("  {}: issued by CA {ca}\n", rows[n - 1].line));
        }
        // The CA's window under its line (row 0 is the heading).
        if let Some(w) = n.checked_sub(1).and_then(|i| rows[i].ari.as_ref()) {
            out.push_str(&format!(
                "  {}: the CA suggests renewal between {} and {} (fetched {})\n",
                rows[n - 1].line,
                w.start,
                w.end,
                w.fetched
            ));
        }
    }
    out
}
