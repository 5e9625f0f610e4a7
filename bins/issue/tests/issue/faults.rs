//! The real certdrop-issue against Pebble behind the test kit's fault
//! proxy (issue 11): each run counts the orders and certificates the CA
//! issued, so a fault that leads to a second issuance or an abandoned
//! certificate shows. matrix.rs has every endpoint and problem type;
//! soak.rs kills runs at random points.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use crate::proxied::Proxied;
use certdrop_testkit::pebble::{Endpoint, Fault};
use certdrop_testkit::Run;

#[test]
fn a_clean_issuance_through_the_proxy() {
    let t = Proxied::new();
    t.run().expect(0);
    t.issued_once();
    assert!(t.proxy.seen(Endpoint::Directory) >= 1);
    assert!(t.proxy.seen(Endpoint::Challenge) >= 1);
}

#[test]
fn a_503_with_retry_after_on_new_order_is_retried_in_the_run() {
    let t = Proxied::new();
    t.proxy.inject(
        Endpoint::NewOrder,
        0,
        1,
        Fault::status(503).retry_after_secs(1),
    );
    t.run().expect(0);
    assert_eq!(t.proxy.seen(Endpoint::NewOrder), 2);
    t.issued_once();
}

#[test]
fn a_500_on_the_certificate_download_is_retried_in_the_run() {
    let t = Proxied::new();
    t.proxy
        .inject(Endpoint::Certificate, 0, 1, Fault::status(500));
    t.run().expect(0);
    assert!(t.proxy.seen(Endpoint::Certificate) >= 2);
    t.issued_once();
}

#[test]
fn a_reset_on_the_directory_is_retried_in_the_run() {
    let t = Proxied::new();
    t.proxy.inject(Endpoint::Directory, 0, 1, Fault::Reset);
    t.run().expect(0);
    assert!(t.proxy.seen(Endpoint::Directory) >= 2);
    t.issued_once();
}

#[test]
fn a_500_on_new_nonce_is_retried_in_the_run() {
    let t = Proxied::new();
    t.proxy.inject(Endpoint::NewNonce, 0, 1, Fault::status(500));
    t.run().expect(0);
    assert!(t.proxy.seen(Endpoint::NewNonce) >= 2);
    t.issued_once();
}

#[test]
fn a_stalled_challenge_answer_is_given_up_at_the_request_timeout_and_retried() {
    let t = Proxied::new();
    t.proxy
        .inject(Endpoint::Challenge, 0, 1, Fault::Stall { for_: None });
    // The answer that stalls is given up after the request timeout (30 s)
    // and sent again; the run ends within its budget, holding no lock
    // forever, with the one certificate.
    let ran = t.run_within(Duration::from_secs(100)).expect(0);
    assert_eq!(
        ran.stderr, "",
        "a fault handled within the run says nothing"
    );
    assert!(t.proxy.seen(Endpoint::Challenge) >= 2, "answered again");
    t.issued_once();
}

#[test]
fn a_lost_finalize_answer_does_not_issue_twice() {
    let t = Proxied::new();
    t.proxy.inject(Endpoint::Finalize, 0, 1, Fault::Lost);
    t.run().expect(0);
    t.issued_once();
}

#[test]
fn processing_with_retry_after_is_polled_no_earlier() {
    let t = Proxied::new();
    // The finalize answer and the first two order polls that find the
    // order valid say `processing`, come back in 2 s.
    t.proxy
        .inject(Endpoint::Finalize, 0, 1, Fault::processing(2));
    let held = AtomicU32::new(0);
    t.proxy.inject(
        Endpoint::Order,
        0,
        u32::MAX,
        Fault::rewrite(move |a| {
            let valid = String::from_utf8_lossy(&a.body).contains("\"status\": \"valid\"");
            if valid && held.fetch_add(1, Ordering::SeqCst) < 2 {
                a.set_json_str("status", "processing");
                a.set_header("Retry-After", "2");
            }
        }),
    );
    t.run().expect(0);
    t.issued_once();
    let log = t.proxy.requests();
    let finalize = log
        .iter()
        .position(|(_, e)| *e == Endpoint::Finalize)
        .expect("a finalize request");
    let polls: Vec<_> = log[finalize..]
        .iter()
        .filter(|(_, e)| matches!(e, Endpoint::Finalize | Endpoint::Order))
        .map(|(at, _)| *at)
        .collect();
    assert!(polls.len() >= 4, "{polls:?}");
    for pair in polls.windows(2).take(3) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_secs(2), "polled again after {gap:?}");
    }
}

#[test]
fn a_429_with_a_retry_after_date_on_new_order_is_retried_in_the_run() {
    let t = Proxied::new();
    let at = SystemTime::now() + Duration::from_secs(2);
    t.proxy.inject(
        Endpoint::NewOrder,
        0,
        1,
        Fault::status(429).retry_after_date(at),
    );
    t.run().expect(0);
    assert_eq!(t.proxy.seen(Endpoint::NewOrder), 2);
    t.issued_once();
}

#[test]
fn a_lost_new_order_answer_still_ends_in_one_certificate() {
    let t = Proxied::new();
    t.proxy.inject(Endpoint::NewOrder, 0, 1, Fault::Lost);
    t.run().expect(0);
    // The lost order exists at the CA; the client cannot know its URL.
    assert_eq!(t.proxy.orders_created(), 2);
    assert_eq!(t.proxy.certificates_issued(), 1);
    assert_eq!(t.proxy.certificates_downloaded(), 1);
}

#[test]
fn a_lost_challenge_answer_still_ends_in_one_certificate() {
    let t = Proxied::new();
    t.proxy.inject(Endpoint::Challenge, 0, 1, Fault::Lost);
    t.run().expect(0);
    t.issued_once();
}

#[test]
fn a_lost_certificate_download_is_fetched_again() {
    let t = Proxied::new();
    t.proxy.inject(Endpoint::Certificate, 0, 1, Fault::Lost);
    t.run().expect(0);
    assert!(t.proxy.seen(Endpoint::Certificate) >= 2);
    t.issued_once();
}

#[test]
fn a_chain_with_the_root_appended_is_accepted() {
    let t = Proxied::new();
    let root = t.site.pebble.root_pem();
    t.proxy.inject(
        Endpoint::Certificate,
        0,
        1,
        Fault::append_body(root.clone()),
    );
    t.run().expect(0);
    t.issued_once();
    let chain = String::from_utf8_lossy(&t.site.read("certs/www/fullchain.pem")).into_owned();
    assert!(!chain.contains(root.trim()), "the trust anchor was stored");
}

#[test]
fn an_unauthorized_new_order_exits_78_with_the_problem() {
    let t = Proxied::new();
    t.proxy.inject(
        Endpoint::NewOrder,
        0,
        1,
        Fault::problem(403, "unauthorized"),
    );
    // The account may not do this: what must change is the configuration
    // (or the account), so 78, and no retry.
    let ran = t.run().expect(78);
    ran.stderr_has("unauthorized");
    assert_eq!(t.proxy.seen(Endpoint::NewOrder), 1, "retried");
}

impl Proxied {
    /// Start `run` with a stall armed on `endpoint`, SIGKILL it once it
    /// has reached that endpoint, and return the order it left behind.
    fn killed_at(&self, endpoint: Endpoint) -> String {
        self.proxy
            .inject(endpoint, 0, 1, Fault::Stall { for_: None });
        let mut proc = self.command(&["run"]).logged(&self.site.path("killed.log"));
        assert!(
            certdrop_testkit::within(Duration::from_secs(60), || self.proxy.seen(endpoint) >= 1),
            "the run never reached {endpoint:?}"
        );
        proc.0.kill().expect("kill -9");
        proc.0.wait().expect("reap");
        self.kept_order().expect("the order is kept")
    }
}

#[test]
fn processing_past_the_budget_ends_in_75_and_the_next_run_resumes_the_order() {
    let t = Proxied::new();
    // The finalize answer says `processing`, come back in 10 minutes:
    // longer than the run's 60 s validation budget.
    t.proxy
        .inject(Endpoint::Finalize, 0, 1, Fault::processing(600));
    let ran = t.run().expect(75);
    assert!(ran.stderr.contains("still processing"), "{}", ran.stderr);
    let kept = t.kept_order().expect("the order is kept");
    assert!(kept.contains("\"finalized\""), "{kept}");
    // The next attempt (by name: the line is backing off until the
    // Retry-After) continues the same order: no second order, no second
    // certificate.
    let ran = t.command(&["-v", "issue", "www"]).ran().expect(0);
    assert!(
        ran.stderr.contains("www: resuming order "),
        "{}",
        ran.stderr
    );
    t.issued_once();
    assert_eq!(t.kept_order(), None, "the order is cleared once stored");
}

#[test]
fn a_run_killed_after_finalize_is_resumed_without_a_second_certificate() {
    let t = Proxied::new();
    // The download stalls: the run is killed while it waits for it.
    let kept = t.killed_at(Endpoint::Certificate);
    assert!(kept.contains("\"finalized\""), "{kept}");
    assert_eq!(t.proxy.certificates_issued(), 1);
    t.run().expect(0);
    t.issued_once();
    assert_eq!(t.kept_order(), None);
}

#[test]
fn a_run_killed_while_answering_is_resumed_on_the_same_order() {
    let t = Proxied::new();
    // The challenge answer stalls: the run is killed while it waits.
    let kept = t.killed_at(Endpoint::Challenge);
    assert!(kept.contains("\"answered\""), "{kept}");
    let status = t.command(&["status"]).ran().expect(0);
    assert!(
        status.stdout.contains("resuming the answered order"),
        "{}",
        status.stdout
    );
    // The next run removes the killed run's challenge file, writes it
    // again and answers the same order's challenge.
    let ran = t.command(&["-v", "run"]).ran().expect(0);
    assert!(
        ran.stderr.contains("www: resuming order "),
        "{}",
        ran.stderr
    );
    t.issued_once();
}

#[test]
fn an_order_the_ca_does_not_know_is_dropped_and_a_new_one_placed() {
    let t = Proxied::new();
    let gone = t
        .proxy
        .directory_url
        .replace("/dir", "/my-order/no-such-order");
    std::fs::create_dir_all(t.site.path("state")).expect("state dir");
    std::fs::write(
        t.site.path("state/www.json"),
        format!("{{\"order\": {{\"url\": \"{gone}\", \"stage\": \"answered\"}}}}"),
    )
    .expect("write state");
    let ran = t.command(&["-v", "run"]).ran().expect(0);
    assert!(
        ran.stderr.contains("www: order in progress dropped: "),
        "{}",
        ran.stderr
    );
    t.issued_once();
    assert_eq!(t.kept_order(), None);
}

#[test]
fn an_invalid_authorization_ends_the_order_at_once_with_the_challenge_error() {
    let mut t = Proxied::new();
    // A budget far longer than the run may take: only the authorization
    // says the order failed.
    let text = std::fs::read_to_string(&t.config).expect("config");
    let text = text.replace(
        "validation_timeout = \"60s\"",
        "validation_timeout = \"600s\"",
    );
    std::fs::write(&t.config, text).expect("write config");
    // Nothing answers Pebble's http-01 request: its validation is refused.
    t.site.web = None;
    // The CA's order stays `pending` in every answer (a CA that updates
    // the order late, as one of the servers the issue tried): polling the
    // order alone would wait out the whole budget.
    t.proxy.inject(
        Endpoint::Order,
        0,
        u32::MAX,
        Fault::rewrite(|a| a.set_json_str("status", "pending")),
    );
    let ran = t.run_within(Duration::from_secs(120)).expect(75);
    // One line, the challenge's error with the name (stdout has the
    // account this first run created).
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    ran.stderr_starts("certdrop-issue: www: validation of www.example.test failed: connection: ");
    assert_eq!(t.proxy.orders_created(), 1);
    assert_eq!(t.proxy.certificates_issued(), 0);
    assert_eq!(t.kept_order(), None, "the CA ended the order: not kept");
    assert!(
        t.site
            .listing("webroot/.well-known/acme-challenge")
            .is_empty(),
        "challenge files left"
    );
    // A failed validation is one a later run may pass: it backs off, and
    // `status` says until when and why.
    let status = t.command(&["status", "--json"]).ran().expect(0);
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).expect("JSON");
    let row = &rows[0];
    assert_eq!(row["failures"], 1, "{row}");
    assert!(row["retry_not_before"].is_string(), "{row}");
    let next = row["next_action"].as_str().expect("next_action");
    assert!(next.starts_with("retry in "), "{next}");
    assert!(
        next.contains(" (1 failures): www: validation of www.example.test failed: connection: "),
        "{next}"
    );
    let table = t.command(&["status"]).ran().expect(0);
    table.stdout_has("www: validation of www.example.test failed: connection: ");
    // With the web server back (and the order reported as it is), the line
    // asked for by name gets its certificate on a new order.
    t.proxy.clear();
    t.site.web = Some(t.site.pebble.serve_webroot(&t.site.path("webroot")));
    t.command(&["issue", "www"]).ran().expect(0);
    assert_eq!(t.proxy.orders_created(), 2);
    assert_eq!(t.proxy.certificates_issued(), 1);
}

#[test]
fn a_stalled_ca_is_cut_at_the_run_budget_and_the_next_run_resumes() {
    let t = Proxied::new();
    // A run budget shorter than the 30 s request timeout (a stall the
    // budget did not cut would take ten of those: minutes).
    let text = std::fs::read_to_string(&t.config).expect("config");
    let text = text.replace(
        "validation_timeout = \"60s\"",
        "validation_timeout = \"10s\"\nrun_timeout = \"15s\"",
    );
    std::fs::write(&t.config, text).expect("write config");
    // The directory stalls: the run is cut before any line began.
    t.proxy
        .inject(Endpoint::Directory, 0, 1, Fault::Stall { for_: None });
    let ran = t.run_within(Duration::from_secs(60)).expect(75);
    ran.one_error("certdrop-issue: run_timeout (15s) reached: the run stopped; ");
    // The challenge answer stalls: the line is cut, its order kept.
    t.proxy
        .inject(Endpoint::Challenge, 0, 1, Fault::Stall { for_: None });
    let ran = t.run_within(Duration::from_secs(60)).expect(75);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    ran.stderr_starts(
        "certdrop-issue: www: run_timeout (15s) reached; the answered order is kept for the next run",
    );
    assert!(t.kept_order().is_some(), "the order is kept");
    // The lock was let go with the run: the next one (by name, past the
    // back-off) takes it at once and continues the same order.
    t.proxy.clear();
    let ran = t
        .command(&["-v", "--no-wait", "issue", "www"])
        .ended_within(Duration::from_secs(60))
        .expect(0);
    ran.stderr_has("www: resuming order ");
    t.issued_once();
}
