//! The CA's verdict on an order's challenges (RFC 8555 §7.5.1): each
//! answered authorization is polled until the CA has decided it, never
//! before the Retry-After it sent, within the line's validation budget
//! (`validation_timeout`). The first authorization the CA finds invalid
//! ends the order at once, with the failed challenge's error (type, detail
//! and subproblems) and the name it concerns. Once every authorization is
//! valid, the order itself must turn `ready` (a CA may update it a moment
//! later than its authorizations).

use std::time::{Duration, Instant, SystemTime};

use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Failure;
use certdrop_core::output::Output;
use instant_acme::{AuthorizationState, AuthorizationStatus, ChallengeType, Order, OrderStatus};

use super::{wanted, Placed};
use crate::config::{Config, Line};
use crate::retry::{self, Attempts};
use crate::{acme, client, state};

/// The polls of one wait: growing pauses, never before the CA's
/// Retry-After, never past the deadline.
struct Polls {
    deadline: Instant,
    pause: Duration,
    /// When the CA asked us to look again (the latest of its answers').
    asked: Option<SystemTime>,
}

impl Polls {
    fn until(deadline: Instant) -> Polls {
        Polls {
            deadline,
            pause: retry::POLL_FIRST,
            asked: None,
        }
    }

    /// Note the Retry-After of the latest answer from `url`, if it sent one.
    fn note(&mut self, url: &str) {
        if let Some(at) = client::take_poll_after(url) {
            self.asked = Some(self.asked.map_or(at, |a| a.max(at)));
        }
    }

    /// Sleep until the next poll, or say `false` when it would come past
    /// the deadline. `floor` is a pause the caller needs at least (a retry
    /// after a fault).
    async fn wait(&mut self, floor: Duration) -> bool {
        let asked = self
            .asked
            .take()
            .and_then(|at| at.duration_since(SystemTime::now()).ok())
            .unwrap_or_default();
        let wait = self.pause.max(asked).max(floor);
        if Instant::now() + wait > self.deadline {
            return false;
        }
        tokio::time::sleep(wait).await;
        self.pause = self.pause.mul_f32(retry::POLL_GROWTH).min(retry::POLL_MAX);
        true
    }
}

/// Wait for the CA's verdict on the challenges answered for `placed`, then
/// take the challenge files away, whatever the verdict (RFC 8555 §7.1.6).
pub(super) async fn validated(
    config: &Config,
    line: &Line,
    order: &mut Order,
    placed: Placed,
    refused_now: &std::sync::atomic::AtomicBool,
    out: &Output,
) -> Result<()> {
    let Placed {
        mut files,
        pending,
        persist,
        ..
    } = placed;
    let budget = config.validation_timeout;
    out.verbose(&format!(
        "{}: waiting for the CA to validate {} (up to {} s)",
        line.name,
        pending.join(", "),
        budget.as_secs()
    ));
    let deadline = Instant::now() + budget;
    let persisted: Vec<String> = persist.iter().map(|p| p.ident.clone()).collect();
    let verdict =
        match authorizations(line, order, &pending, &persisted, deadline, budget, out).await {
            Ok(()) => ready(line, order, deadline, budget, out).await,
            Err(e) => Err(e),
        };
    files.remove_all()?;
    if verdict.is_ok() {
        // Validated: a refusal of these records no longer holds.
        crate::persist::accepted(config, line, &persist)?;
    }
    // dns-persist-01 records we read as valid and the CA refused
    // (unauthorized, malformed): not relied on again for a while as long
    // as they are served unchanged. Other errors (caa, dns...) are not
    // the records' fault.
    if let (Err(Refusal::Invalid(e, ident, refused)), false) = (&verdict, persist.is_empty()) {
        // The order is over: every record relied on is judged now, not
        // one per run.
        let trigger = match ident {
            Some(_) => *refused,
            None => order_refuses(order),
        };
        let judged = judge(line, order, &persist, trigger, out).await;
        for relied in judged {
            crate::persist::refused(config, line, relied, &e.msg)?;
            refused_now.store(true, std::sync::atomic::Ordering::Relaxed);
            out.verbose(&format!(
                "{}: {}: the CA refused TXT {} for dns-persist-01: the next order uses {}",
                line.name,
                relied.ident,
                relied.owner,
                super::challenge_name(line.challenge)
            ));
        }
    }
    if let Err(Refusal::Invalid(..)) = &verdict {
        // The CA has ended the order (RFC 8555 §7.1.6): the next run
        // places a new one.
        state::save_order(&config.state, &line.name, None)?;
    }
    verdict.map_err(Refusal::into_error)
}

/// Whether an order the CA ended with no invalid authorization ended for
/// a refused record: its error is `unauthorized` or `malformed`.
fn order_refuses(order: &mut Order) -> bool {
    order
        .state()
        .error
        .as_ref()
        .and_then(|p| p.r#type.as_deref())
        .and_then(|t| t.rsplit(':').next())
        .is_some_and(crate::persist::refuses_record)
}

/// The records relied on that the CA refused, judged after it ended the
/// order: each authorization's own dns-persist-01 challenge where it
/// failed ([`record_refused`]) or passed; one the CA left undecided
/// follows `trigger` (the order ended over a refused record). An
/// authorization that cannot be fetched follows `trigger` too.
async fn judge<'a>(
    line: &Line,
    order: &mut Order,
    persist: &'a [crate::persist::Relied],
    trigger: bool,
    out: &Output,
) -> Vec<&'a crate::persist::Relied> {
    let mut refused = Vec::new();
    let mut seen = Vec::new();
    let mut authzs = order.authorizations();
    while let Some(next) = authzs.next().await {
        let authz = match next {
            Ok(a) => a,
            Err(e) => {
                out.debug(&format!(
                    "{}: authorizations after the order ended: {}",
                    line.name,
                    acme::describe(&e)
                ));
                break;
            }
        };
        let ident = authz.identifier().to_string();
        let Some(relied) = persist.iter().find(|p| p.ident == ident) else {
            continue;
        };
        seen.push(ident);
        let status = authz
            .challenges
            .iter()
            .find(|c| c.r#type == crate::persist::challenge_type())
            .map(|c| c.status);
        let state: &AuthorizationState = &authz;
        if record_refused(state) {
            refused.push(relied);
        } else if status == Some(instant_acme::ChallengeStatus::Valid) {
            continue;
        } else if trigger && !matches!(status, Some(instant_acme::ChallengeStatus::Invalid) | None)
        {
            refused.push(relied);
        }
    }
    for relied in persist {
        if trigger && !seen.contains(&relied.ident) {
            refused.push(relied);
        }
    }
    refused
}

/// Why the verdict is not "ready".
enum Refusal {
    /// The CA found an authorization (this identifier) or the order
    /// invalid; whether the CA refused its dns-persist-01 record
    /// ([`record_refused`]).
    Invalid(Error, Option<String>, bool),
    /// No verdict within the budget, or a fault no retry cured.
    Other(Error),
}

impl Refusal {
    fn into_error(self) -> Error {
        match self {
            Refusal::Invalid(e, ..) | Refusal::Other(e) => e,
        }
    }
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Refusal {
        Refusal::Other(e)
    }
}

/// Poll the authorizations of `pending` until the CA has decided each.
async fn authorizations(
    line: &Line,
    order: &mut Order,
    pending: &[String],
    persisted: &[String],
    deadline: Instant,
    budget: Duration,
    out: &Output,
) -> std::result::Result<(), Refusal> {
    let subject = line.name.as_str();
    let mut undecided: Vec<String> = pending.to_vec();
    let mut polls = Polls::until(deadline);
    let mut attempts = Attempts::new(&format!("{subject}: fetch authorization"), out);
    let mut floor = Duration::ZERO;
    while !undecided.is_empty() {
        if !polls.wait(floor).await {
            return Err(Refusal::Other(Error::temp(format!(
                "{subject}: the CA decided nothing on {} within {} s (validation_timeout): the order is kept for the next run",
                undecided.join(", "),
                budget.as_secs()
            ))));
        }
        floor = Duration::ZERO;
        let mut failed = None;
        let mut authzs = order.authorizations();
        while let Some(next) = authzs.next().await {
            let mut authz = match next {
                Ok(a) => a,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            let ident = authz.identifier().to_string();
            if !undecided.contains(&ident) {
                continue;
            }
            let url = authz.url().to_owned();
            let state = match authz.refresh().await {
                Ok(s) => s,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            polls.note(&url);
            match state.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => {
                    out.verbose(&format!("{subject}: {ident}: validated"));
                    undecided.retain(|i| *i != ident);
                    attempts.progress();
                }
                AuthorizationStatus::Invalid => {
                    let ours = match persisted.contains(&ident) {
                        true => crate::persist::challenge_type(),
                        false => wanted(line),
                    };
                    let e = invalid(subject, &ident, state, ours);
                    let refused = record_refused(state);
                    return Err(Refusal::Invalid(e, Some(ident), refused));
                }
                other => {
                    return Err(Refusal::Invalid(
                        Error::temp(format!(
                            "{subject}: validation of {ident} ended: the CA has the authorization {other:?}"
                        )),
                        None,
                        false,
                    ))
                }
            }
        }
        match failed {
            Some(e) => floor = attempts.after(&e)?,
            // A clean walk: the next fault starts a fresh count.
            None => attempts.progress(),
        }
    }
    Ok(())
}

/// The error of an invalid authorization: the failed challenge's problem
/// (ours first, else any the CA gave an error for), with the name.
fn invalid(subject: &str, ident: &str, state: &AuthorizationState, ours: ChallengeType) -> Error {
    let failed = state
        .challenges
        .iter()
        .filter(|c| c.error.is_some())
        .max_by_key(|c| c.r#type == ours);
    let persist = match ours == crate::persist::challenge_type() {
        true => persist_error(state),
        false => None,
    };
    let Some(problem) = persist.or_else(|| failed.and_then(|c| c.error.clone())) else {
        return Error::temp(format!(
            "{subject}: validation of {ident} failed: the CA marked its authorization invalid without an error"
        ));
    };
    let e = instant_acme::Error::Api(problem);
    Error::new(
        challenge_class(&e),
        format!(
            "{subject}: validation of {ident} failed: {}",
            acme::describe(&e)
        ),
    )
}

/// The error of an authorization's dns-persist-01 challenge: in the
/// authorization, or else the latest the CA sent for the challenge (the
/// answer to our POST).
fn persist_error(state: &AuthorizationState) -> Option<instant_acme::Problem> {
    let c = state
        .challenges
        .iter()
        .find(|c| c.r#type == crate::persist::challenge_type())?;
    c.error.clone().or_else(|| client::persist_error(&c.url))
}

/// Whether an authorization's dns-persist-01 challenge failed because
/// the CA refused the record: its error is `unauthorized` or `malformed`
/// (`persist::refuses_record`), or it is invalid with no error at all
/// (acme2certifier gives none; the record is all it looked at).
fn record_refused(state: &AuthorizationState) -> bool {
    let Some(c) = state
        .challenges
        .iter()
        .find(|c| c.r#type == crate::persist::challenge_type())
    else {
        return false;
    };
    match persist_error(state) {
        Some(p) => p
            .r#type
            .as_deref()
            .and_then(|t| t.rsplit(':').next())
            .is_some_and(crate::persist::refuses_record),
        None => c.status == instant_acme::ChallengeStatus::Invalid,
    }
}

/// The class of a failed challenge: a refusal of the name itself (`caa`,
/// `rejectedIdentifier`) is 65, no retry fixes it; anything else the
/// validation found (`unauthorized` for a wrong answer, `connection`,
/// `dns`, `incorrectResponse`) is temporary: a later run, once the web
/// server or the zone is fixed, may pass, and the back-off keeps it from
/// spending the CA's failed-validation limit.
fn challenge_class(e: &instant_acme::Error) -> Failure {
    match acme::classify(e) {
        Failure::Data => Failure::Data,
        _ => Failure::Temporary,
    }
}

/// Once every authorization is valid: wait for the order to be `ready`.
async fn ready(
    line: &Line,
    order: &mut Order,
    deadline: Instant,
    budget: Duration,
    out: &Output,
) -> std::result::Result<(), Refusal> {
    let subject = line.name.as_str();
    let mut polls = Polls::until(deadline);
    loop {
        let status = crate::retry!(out, &format!("{subject}: fetch order"), async {
            order.refresh().await.map(|s| s.status)
        })?;
        polls.note(order.url());
        match status {
            // Processing or valid: our CSR is in already (an earlier run's
            // answer was lost); finalize finds that out and goes on.
            OrderStatus::Ready | OrderStatus::Processing | OrderStatus::Valid => return Ok(()),
            OrderStatus::Invalid => {
                let why = match order.state().error.clone() {
                    Some(p) => acme::describe(&instant_acme::Error::Api(p)),
                    None => "every authorization is valid, yet the CA marked the order invalid"
                        .to_owned(),
                };
                return Err(Refusal::Invalid(
                    Error::temp(format!(
                        "{subject}: order {} is invalid: {why}",
                        order.url()
                    )),
                    None,
                    false,
                ));
            }
            OrderStatus::Pending => {}
        }
        if !polls.wait(Duration::ZERO).await {
            return Err(Refusal::Other(Error::temp(format!(
                "{subject}: every authorization is valid, but the CA has not made order {} ready within {} s (validation_timeout)",
                order.url(),
                budget.as_secs()
            ))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(value: serde_json::Value) -> AuthorizationState {
        serde_json::from_value(value).expect("authorization")
    }

    #[test]
    fn an_invalid_authorization_names_the_failed_challenge_and_its_subproblems() {
        let st = state(serde_json::json!({
            "identifier": {"type": "dns", "value": "www.example.org"},
            "status": "invalid",
            "challenges": [
                {"type": "dns-01", "url": "https://ca/chal/1", "token": "t1", "status": "pending"},
                {"type": "http-01", "url": "https://ca/chal/2", "token": "t2", "status": "invalid",
                 "error": {
                    "type": "urn:ietf:params:acme:error:connection",
                    "detail": "Connecting to 127.0.0.1:5002: refused",
                    "status": 400,
                    "subproblems": [
                        {"type": "urn:ietf:params:acme:error:dns",
                         "detail": "no A record",
                         "identifier": {"type": "dns", "value": "www.example.org"}}
                    ]
                 }}
            ]
        }));
        let e = invalid("www", "www.example.org", &st, ChallengeType::Http01);
        assert_eq!(e.class, Failure::Temporary);
        assert_eq!(
            e.msg,
            "www: validation of www.example.org failed: connection: Connecting to 127.0.0.1:5002: refused; \
             www.example.org: dns: no A record"
        );
    }

    #[test]
    fn a_refused_name_is_65_a_wrong_answer_is_temporary() {
        let problem = |kind: &str| {
            state(serde_json::json!({
                "identifier": {"type": "dns", "value": "a.example.org"},
                "status": "invalid",
                "challenges": [
                    {"type": "dns-01", "url": "https://ca/c", "token": "t", "status": "invalid",
                     "error": {"type": format!("urn:ietf:params:acme:error:{kind}"), "detail": "d"}}
                ]
            }))
        };
        for (kind, class) in [
            ("caa", Failure::Data),
            ("rejectedIdentifier", Failure::Data),
            ("unauthorized", Failure::Temporary),
            ("incorrectResponse", Failure::Temporary),
            ("dns", Failure::Temporary),
        ] {
            let e = invalid("a", "a.example.org", &problem(kind), ChallengeType::Dns01);
            assert_eq!(e.class, class, "{kind}");
            assert_eq!(
                e.msg,
                format!("a: validation of a.example.org failed: {kind}: d")
            );
        }
        let bare = state(serde_json::json!({
            "identifier": {"type": "dns", "value": "a.example.org"},
            "status": "invalid",
            "challenges": []
        }));
        let e = invalid("a", "a.example.org", &bare, ChallengeType::Dns01);
        assert!(e.msg.ends_with("invalid without an error"), "{}", e.msg);
    }

    #[test]
    fn only_an_unauthorized_or_malformed_dns_persist_01_challenge_refuses_the_record() {
        let with = |error: serde_json::Value| {
            let mut c = serde_json::json!({"type": "dns-persist-01",
                "url": "https://ca/chal/p", "status": "invalid"});
            if !error.is_null() {
                c["error"] = error;
            }
            state(serde_json::json!({
                "identifier": {"type": "dns", "value": "a.example.org"},
                "status": "invalid",
                "challenges": [c]
            }))
        };
        let problem = |kind: &str| serde_json::json!({"type": format!("urn:ietf:params:acme:error:{kind}"), "detail": "d"});
        for (kind, refused) in [
            ("unauthorized", true),
            ("malformed", true),
            ("caa", false),
            ("rejectedIdentifier", false),
            ("dns", false),
            ("serverInternal", false),
        ] {
            assert_eq!(record_refused(&with(problem(kind))), refused, "{kind}");
        }
        // Invalid with no error (acme2certifier): the record refused.
        assert!(record_refused(&with(serde_json::Value::Null)));
        // No dns-persist-01 challenge at all.
        let none = state(serde_json::json!({
            "identifier": {"type": "dns", "value": "a.example.org"},
            "status": "invalid",
            "challenges": [{"type": "dns-01", "url": "https://ca/c", "token": "t", "status": "invalid",
                "error": problem("unauthorized")}]
        }));
        assert!(!record_refused(&none));
    }
}
