//! The one retry policy of certdrop-issue's exchanges with the CA: how long
//! one request may take, which faults are tried again inside a run
//! (badNonce, 5xx, 429, broken or stalled exchanges:
//! [`crate::acme::is_transient`]), how many times, the pause between
//! attempts (doubling, with jitter) and the CA's Retry-After (never
//! earlier), and the schedule for polling an order. Every ACME request goes
//! through it: the [`retry!`](crate::retry!) macro for one request,
//! [`Attempts`] for a walk over an order's authorizations, [`POLL_FIRST`],
//! [`POLL_GROWTH`] and [`POLL_MAX`] for polling the CA's asynchronous
//! validation and issuance. A change to the policy is made here only; the
//! run's total budget is `budget.rs`.

use std::time::Duration;

use certdrop_core::error::Error;
use certdrop_core::output::Output;

use crate::{acme, client};

/// Longest time one HTTP exchange with the CA may take, answer and body
/// (the HTTP client enforces it on every request, `client.rs`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts of one ACME operation before the fault counts: enough that a
/// CA failing a fifth of all requests (bench scenario f; a reset also
/// costs a fresh nonce, which may fail too: about a third of the
/// attempts) still issues in the run, 1 run in 1,000 failing; the pauses
/// before the last add up to 13 to 26 s.
pub const MAX_ATTEMPTS: u32 = 10;
/// Refused nonces (badNonce) one operation sends again before the fault
/// counts: each costs one round trip and says nothing about the CA's
/// health, so they do not use up [`MAX_ATTEMPTS`]; a CA refusing this many
/// in a row (1 in 65,000 at Pebble's 50 %) is broken.
pub const MAX_NONCE_RETRIES: u32 = 16;
/// First pause between attempts (doubles).
pub const FIRST_RETRY: Duration = Duration::from_millis(200);
/// Longest pause between attempts inside a run; a Retry-After longer than
/// this ends the attempts (the line's back-off keeps it).
pub const MAX_RETRY: Duration = Duration::from_secs(5);
/// First pause before polling an order's state; it grows by
/// [`POLL_GROWTH`] each time. CAs process validation and finalization
/// asynchronously (Pebble in milliseconds); a short first poll saves most
/// of an order's wall time, and the growth keeps a slow CA from being
/// hammered.
pub const POLL_FIRST: Duration = Duration::from_millis(10);
/// Growth of the pause between polls.
pub const POLL_GROWTH: f32 = 1.5;
/// Longest pause between two polls of our own choosing (a CA's
/// Retry-After may ask for more): a CA that takes minutes is still looked
/// at every few seconds, not once at the end of the budget.
pub const POLL_MAX: Duration = Duration::from_secs(5);

/// The attempts of one ACME operation: counts them and decides, after each
/// failure, whether to try again and after which pause.
#[derive(Debug)]
pub struct Attempts {
    /// What is being done, for the error line (`www: new order`).
    what: String,
    /// The attempt under way, from 1.
    attempt: u32,
    /// Refused nonces so far.
    nonces: u32,
    /// The pause before the next attempt if the CA names none.
    pause: Duration,
    /// Where each retry is narrated (`-v`).
    out: Output,
}

impl Attempts {
    /// The first attempt of `what`; retries are narrated on `out`.
    pub fn new(what: &str, out: &Output) -> Attempts {
        Attempts {
            what: what.to_owned(),
            attempt: 1,
            nonces: 0,
            pause: FIRST_RETRY,
            out: out.clone(),
        }
    }

    /// After a failed attempt: the pause before the next one, or the error
    /// to give up with (not transient, attempts used up, or a Retry-After
    /// longer than a run should wait, which the error carries).
    pub fn after(&mut self, e: &instant_acme::Error) -> Result<Duration, Error> {
        // A refused nonce says nothing about the CA's load: the request
        // goes again at once with the fresh nonce (RFC 8555 §6.5), and
        // neither the attempts nor the pause of other faults grow.
        if is_bad_nonce(e) && self.nonces < MAX_NONCE_RETRIES {
            self.nonces += 1;
            self.out.verbose(&narration(
                &self.what,
                e,
                &format!("{} of {MAX_NONCE_RETRIES}", self.nonces),
                Duration::ZERO,
                "a fresh nonce",
            ));
            return Ok(Duration::ZERO);
        }
        if self.attempt >= MAX_ATTEMPTS || !acme::is_transient(e) || is_bad_nonce(e) {
            let err = acme::error(&self.what, e);
            return Err(match client::take_retry_after() {
                Some(wait) => err.retry_after(wait),
                None => err,
            });
        }
        self.attempt += 1;
        let pause = jittered(self.pause);
        self.pause = (self.pause * 2).min(MAX_RETRY);
        // The CA's Retry-After, when short, replaces our pause; a long one
        // ends the attempts.
        let (pause, why) = match client::take_retry_after() {
            Some(wait) if wait > MAX_RETRY => {
                self.out.verbose(&format!(
                    "{}: {}: the CA asks to wait {} s: left to the back-off",
                    self.what,
                    acme::describe(e),
                    wait.as_secs()
                ));
                return Err(acme::error(&self.what, e).retry_after(wait));
            }
            Some(wait) => (wait, "the CA's Retry-After"),
            None => (pause, "back-off"),
        };
        let attempt = format!("{} of {MAX_ATTEMPTS}", self.attempt);
        self.out
            .verbose(&narration(&self.what, e, &attempt, pause, why));
        Ok(pause)
    }

    /// The operation got on (a walk over authorizations placed or answered
    /// one more): the count and the pause start afresh, so faults spread
    /// over a long walk are not added up as if one request failed them.
    pub fn progress(&mut self) {
        self.attempt = 1;
        self.nonces = 0;
        self.pause = FIRST_RETRY;
    }

    /// [`Attempts::after`], then sleep the pause.
    pub async fn wait_after(&mut self, e: &instant_acme::Error) -> Result<(), Error> {
        let pause = self.after(e)?;
        tokio::time::sleep(pause).await;
        Ok(())
    }
}

/// Is `e` the CA refusing our nonce (RFC 8555 §6.5)?
fn is_bad_nonce(e: &instant_acme::Error) -> bool {
    matches!(e, instant_acme::Error::Api(p)
        if p.r#type.as_deref().is_some_and(|t| t.ends_with(":badNonce")))
}

/// `base` shortened by a random part of up to half ("equal jitter"):
/// lines and hosts that failed at the same moment (a CA's outage) do not
/// come back in step. Randomness from the standard library's per-process
/// hash keys: enough to spread retries, no key material.
fn jittered(base: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    let share = (h.finish() % 1001) as f64 / 1000.0;
    base.mul_f64(1.0 - share / 2.0)
}

/// One line for a retry: what, the endpoint and the reason (a fault names
/// its endpoint; a CA's problem document does not, so the endpoint that
/// last answered with an error is added), and when the next attempt is.
fn narration(
    what: &str,
    e: &instant_acme::Error,
    attempt: &str,
    pause: Duration,
    why: &str,
) -> String {
    let reason = acme::describe(e);
    let at = match client::fault(e) {
        Some(_) => String::new(),
        None => client::take_failed_endpoint()
            .map(|ep| format!("{ep}: "))
            .unwrap_or_default(),
    };
    format!(
        "{what}: {at}{reason}: retry {attempt} in {} ms ({why})",
        pause.as_millis()
    )
}

/// instant-acme's own polling schedule with our pauses, giving up after
/// `timeout` (the tests drive an order by hand with it; the client polls
/// with `order/verdict.rs` and `order.rs`'s download, which honour the
/// CA's Retry-After).
#[cfg(test)]
pub fn polling(timeout: Duration) -> instant_acme::RetryPolicy {
    instant_acme::RetryPolicy::new()
        .initial_delay(POLL_FIRST)
        .backoff(POLL_GROWTH)
        .timeout(timeout)
}

/// Run an ACME operation under the policy: each request of an attempt is
/// bounded by the HTTP client ([`REQUEST_TIMEOUT`]), transient faults are
/// tried again ([`Attempts`]). `$op` is
/// evaluated anew for each attempt; each retry is narrated on `$out`
/// (`-v`). Evaluates to
/// `Result<T, certdrop_core::error::Error>`.
#[macro_export]
macro_rules! retry {
    ($out:expr, $what:expr, $op:expr) => {{
        let mut attempts = $crate::retry::Attempts::new($what, $out);
        loop {
            match $op.await {
                Ok(v) => break Ok(v),
                Err(e) => match attempts.after(&e) {
                    Ok(pause) => tokio::time::sleep(pause).await,
                    Err(err) => break Err(err),
                },
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(kind: &str) -> instant_acme::Error {
        let p: instant_acme::Problem = serde_json::from_value(serde_json::json!({
            "type": format!("urn:ietf:params:acme:error:{kind}"),
            "detail": "d",
            "status": 400,
        }))
        .expect("problem");
        instant_acme::Error::Api(p)
    }

    fn out() -> Output {
        Output::new("t", Output::verbosity_from(1))
    }

    #[test]
    fn transient_faults_are_tried_again_with_growing_pauses() {
        let mut a = Attempts::new("www: new order", &out());
        let fault = problem("serverInternal");
        let pauses: Vec<Duration> = (1..MAX_ATTEMPTS)
            .map(|_| a.after(&fault).expect("try again"))
            .collect();
        // Doubling, each shortened by a random part of up to half.
        for (pause, base) in pauses
            .iter()
            .zip([200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000])
        {
            let base = Duration::from_millis(base);
            assert!(*pause <= base && *pause >= base / 2, "{pauses:?}");
        }
        let e = a.after(&fault).expect_err("attempts used up");
        assert_eq!(e.msg, "www: new order: serverInternal: d");
        assert_eq!(e.class, certdrop_core::exit::Failure::Temporary);
    }

    #[test]
    fn a_refused_nonce_is_sent_again_at_once_without_using_up_the_attempts() {
        let mut a = Attempts::new("www: new order", &out());
        let nonce = problem("badNonce");
        for _ in 0..MAX_NONCE_RETRIES {
            assert_eq!(a.after(&nonce).expect("try again"), Duration::ZERO);
        }
        let e = a.after(&nonce).expect_err("nonce retries used up");
        assert_eq!(e.msg, "www: new order: badNonce: d");
        // Refused nonces use up neither the attempts nor grow the pause of
        // other faults.
        let mut a = Attempts::new("www: new order", &out());
        let fault = problem("serverInternal");
        for _ in 1..MAX_ATTEMPTS {
            a.after(&nonce).expect("again");
            a.after(&fault).expect("again");
        }
        assert!(a.after(&nonce).is_ok());
        a.after(&fault).expect_err("attempts used up");
    }

    #[test]
    fn a_retry_is_narrated_with_the_endpoint_and_the_reason() {
        let line = narration(
            "www: new order",
            &problem("serverInternal"),
            "2 of 10",
            Duration::from_millis(200),
            "back-off",
        );
        assert!(line.starts_with("www: new order: "), "{line}");
        assert!(
            line.ends_with("serverInternal: d: retry 2 of 10 in 200 ms (back-off)"),
            "{line}"
        );
        let stall = client::tests_fault_stalled("POST https://ca/chalZ/1");
        let line = narration(
            "www: answer challenge",
            &stall,
            "3 of 10",
            MAX_RETRY,
            "the CA's Retry-After",
        );
        assert_eq!(
            line,
            "www: answer challenge: POST https://ca/chalZ/1: no answer within 30 s: \
             retry 3 of 10 in 5000 ms (the CA's Retry-After)"
        );
    }

    #[test]
    fn a_permanent_fault_ends_at_once() {
        let mut a = Attempts::new("www: finalize", &out());
        let e = a.after(&problem("badCSR")).expect_err("not transient");
        assert_eq!(e.class, certdrop_core::exit::Failure::Data);
        assert_eq!(e.msg, "www: finalize: badCSR: d");
    }

    #[test]
    fn retries_are_spread_by_jitter() {
        let base = Duration::from_millis(800);
        let pauses: std::collections::BTreeSet<Duration> =
            (0..20).map(|_| jittered(base)).collect();
        assert!(pauses.len() > 1, "no jitter: {pauses:?}");
        assert!(pauses.iter().all(|p| *p <= base && *p >= base / 2));
    }
}
