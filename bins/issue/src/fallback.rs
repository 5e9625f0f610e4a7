//! Several CAs with fallback (config/cas.rs): a line that lists CAs is
//! ordered at the first; when that one fails for a reason no retry fixes
//! that day (it cannot be reached after the retry policy's attempts, it
//! refuses the names or the account), the next is tried in the same run,
//! with one warning line saying which failed, why, and which comes next.
//! A rate limit (or any Retry-After) is not such a reason: the line backs
//! off as with one CA. Every run starts again at the first, preferred CA.
//! The key is the line's whatever the CA (lifecycle's key policy), so a
//! TLSA `3 1 1` record survives a change of CA.

use certdrop_core::error::{Error, Result};
use certdrop_core::exit::{Failure, Outcome};
use certdrop_core::output::Output;

use crate::config::{Config, Line};
use crate::lifecycle::Reason;
use crate::state;

/// Does `e` at one CA send the line on to the next? Unreachable (69), or
/// refused for good (78, 65: rejectedIdentifier, caa, unauthorized,
/// externalAccountRequired, ...); never a rate limit or a Retry-After,
/// never a temporary fault the back-off handles.
pub fn falls_through(e: &Error) -> bool {
    if e.retry_after.is_some() || e.msg.contains("rateLimited") {
        return false;
    }
    matches!(
        e.class,
        Failure::Unavailable | Failure::Config | Failure::Data
    )
}

/// Issue `line` at its CAs in order; the first that issues is recorded in
/// the line's state (`ca`) for `status`, ARI and `replaces`.
/// An order in progress is continued first at the CA that placed it.
pub async fn issue(config: &Config, line: &Line, reason: Reason, out: &Output) -> Result<Outcome> {
    let placed_at = state::load(&config.state, &line.name)?
        .order
        .and_then(|o| o.ca);
    let mut order: Vec<&String> = line.cas.iter().collect();
    if let Some(at) = line.cas.iter().position(|c| Some(c) == placed_at.as_ref()) {
        let first = order.remove(at);
        order.insert(0, first);
    }
    for (i, name) in order.iter().copied().enumerate() {
        let at = config.for_ca(Some(name));
        let e = match attempt(&at, line, reason.clone(), out).await {
            Ok(Outcome::Changed) => {
                let mut st = state::load(&config.state, &line.name)?;
                st.ca = Some(name.clone());
                state::save(&config.state, &line.name, &st)?;
                return Ok(Outcome::Changed);
            }
            Ok(o) => return Ok(o),
            Err(e) => e,
        };
        match order.get(i + 1) {
            Some(next) if falls_through(&e) => out.warn(&format!(
                "{}: CA {name} failed: {}; trying CA {next}",
                line.name, e.msg
            )),
            _ => return Err(e),
        }
    }
    Err(Error::software(format!("{}: no CA to try", line.name)))
}

/// One CA's attempt: its account, the profile check, the order. A failure
/// is noted in the line's state as with one CA (a later success clears it).
async fn attempt(at: &Config, line: &Line, reason: Reason, out: &Output) -> Result<Outcome> {
    let ready = async {
        let (account, _) = crate::account::open(at, out).await?;
        let offered = crate::profile::of_account(&account);
        crate::profile::check(at, line, &offered)?;
        Ok::<_, Error>(account)
    }
    .await;
    match ready {
        Ok(account) => crate::run::issue_line(at, &account, line, reason, out).await,
        Err(e) => {
            crate::run::note_failure(at, line, &e)?;
            Err(e)
        }
    }
}

/// The lines among `waiting` whose CA's renewal information (RFC 9773)
/// makes them due, each asked of the CA that issued its certificate.
pub async fn ari_due(config: &Config, waiting: &[Line], now: i64, out: &Output) -> Vec<Line> {
    let mut by_ca: Vec<(Option<String>, Vec<Line>)> = Vec::new();
    for line in waiting {
        let ca = match line.cas.is_empty() {
            true => None,
            false => state::load(&config.state, &line.name)
                .ok()
                .and_then(|st| st.ca),
        };
        match by_ca.iter_mut().find(|(c, _)| *c == ca) {
            Some((_, lines)) => lines.push(line.clone()),
            None => by_ca.push((ca, vec![line.clone()])),
        }
    }
    let mut due = Vec::new();
    for (ca, lines) in by_ca {
        let at = config.for_ca(ca.as_deref());
        due.extend(crate::ari::due(&at, &lines, now, out).await);
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn what_falls_through() {
        assert!(falls_through(&Error::unavailable(
            "a: create at x: connection refused"
        )));
        assert!(falls_through(&Error::data(
            "w: new order: rejectedIdentifier: no"
        )));
        assert!(falls_through(&Error::config(
            "w: new order: unauthorized: no"
        )));
        assert!(!falls_through(&Error::temp(
            "w: new order: rateLimited: later"
        )));
        assert!(!falls_through(
            &Error::data("w: odd").retry_after(Duration::from_secs(60))
        ));
        assert!(!falls_through(&Error::temp(
            "w: validation: connection refused"
        )));
    }
}
