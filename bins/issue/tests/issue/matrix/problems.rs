//! The fault matrix's ACME problem types (RFC 8555 §6.7): each one of
//! acme.rs's table of problems no retry can fix, injected where a CA sends
//! it (newAccount, newOrder, finalize, revokeCert), exits 65 or 78 with the
//! problem on one line, is asked once, holds nothing back, and the next
//! run succeeds at once; a rate limit with a Retry-After and a server
//! error on every attempt are transient and count towards the back-off.

use super::one_line;
use crate::proxied::Proxied;
use certdrop_testkit::pebble::{Endpoint, Fault};

/// A problem no retry can fix, where a CA sends it.
struct Refusal {
    at: Endpoint,
    status: u16,
    kind: &'static str,
    /// The exit class: 78 where the configuration or the account must
    /// change, 65 where the request is wrong.
    exit: i32,
}

/// `at`'s word in a line name.
fn word(at: Endpoint) -> &'static str {
    match at {
        Endpoint::NewAccount => "account",
        Endpoint::NewOrder => "order",
        Endpoint::Finalize => "finalize",
        Endpoint::Revoke => "revoke",
        other => panic!("no refusal at {other:?} here"),
    }
}

/// Each refusal met by a run of a line of its own (with an account of
/// its own at newAccount), one after the other on one CA: the run exits
/// with the class and says the problem, type and detail, in one line,
/// having asked once (no retry); the line is not held back (`status`:
/// issue now; its state counts no failure and sets no time); and the next
/// run, the fault gone, issues at once: one certificate, downloaded (at
/// finalize the refused order is dropped and one new order placed).
fn refused_in_a_run(t: &Proxied, cases: &[Refusal]) {
    for case in cases {
        let line = format!("{}-{}", word(case.at), case.kind.to_lowercase());
        let name = format!("{line}.example.test");
        let account = match case.at {
            Endpoint::NewAccount => format!("{line}.account"),
            _ => "account".to_owned(),
        };
        let config = t.config_for(&line, &[&name], &account);
        let detail = format!("{} for {name}", case.kind);
        let said = match case.at {
            Endpoint::NewAccount => format!("create at {}", t.proxy.directory_url),
            Endpoint::NewOrder => format!("{line}: new order"),
            _ => format!("{line}: finalize"),
        };
        let said = format!("{said}: {}: {detail}", case.kind);
        let (orders, issued, downloaded) = t.counts();
        let seen = t.proxy.seen(case.at);
        t.proxy.inject(
            case.at,
            0,
            1,
            Fault::problem(case.status, case.kind).detail(&detail),
        );
        let ran = t.cli_for(&config, &["run"]).expect(case.exit);
        one_line(&ran, &said);
        assert_eq!(t.proxy.seen(case.at), seen + 1, "{line}: retried");
        assert_eq!(t.counts().1, issued, "{line}: a certificate");
        let row = t.status_row(&config, &line);
        assert!(
            row.next_action.starts_with("issue now"),
            "{line}: {}",
            row.next_action
        );
        assert_eq!(
            row.last_error.as_deref(),
            ran.stderr.trim_end().strip_prefix("certdrop-issue: "),
            "{line}: the failure status shows"
        );
        assert_eq!(t.backoff(&line), (0, false), "{line}: held back");
        let ran = t.cli_for(&config, &["run"]).expect(0);
        ran.stdout_has(&format!("{line}: certificate issued"));
        let dropped = u32::from(case.at == Endpoint::Finalize);
        assert_eq!(
            t.counts(),
            (orders + 1 + dropped, issued + 1, downloaded + 1),
            "{line}: one certificate"
        );
        assert!(t
            .site
            .path(&format!("certs/{line}/fullchain.pem"))
            .is_file());
    }
}

#[test]
fn problems_at_new_account_exit_65_or_78_and_hold_nothing_back() {
    let t = Proxied::new();
    let at = Endpoint::NewAccount;
    refused_in_a_run(
        &t,
        &[
            Refusal {
                at,
                status: 403,
                kind: "externalAccountRequired",
                exit: 78,
            },
            Refusal {
                at,
                status: 403,
                kind: "unauthorized",
                exit: 78,
            },
            Refusal {
                at,
                status: 400,
                kind: "invalidContact",
                exit: 78,
            },
            Refusal {
                at,
                status: 400,
                kind: "unsupportedContact",
                exit: 78,
            },
            Refusal {
                at,
                status: 400,
                kind: "badSignatureAlgorithm",
                exit: 78,
            },
            Refusal {
                at,
                status: 400,
                kind: "badPublicKey",
                exit: 65,
            },
            Refusal {
                at,
                status: 400,
                kind: "malformed",
                exit: 65,
            },
        ],
    );
}

#[test]
fn problems_at_new_order_exit_65_or_78_and_hold_nothing_back() {
    let t = Proxied::new();
    t.cli(&["run"]).expect(0);
    let at = Endpoint::NewOrder;
    refused_in_a_run(
        &t,
        &[
            Refusal {
                at,
                status: 400,
                kind: "rejectedIdentifier",
                exit: 65,
            },
            Refusal {
                at,
                status: 403,
                kind: "caa",
                exit: 65,
            },
            Refusal {
                at,
                status: 403,
                kind: "unauthorized",
                exit: 78,
            },
            Refusal {
                at,
                status: 403,
                kind: "userActionRequired",
                exit: 78,
            },
            Refusal {
                at,
                status: 400,
                kind: "unsupportedIdentifier",
                exit: 65,
            },
            Refusal {
                at,
                status: 400,
                kind: "accountDoesNotExist",
                exit: 78,
            },
        ],
    );
    // A refusal of some of the names says which, each with its own
    // problem (RFC 8555 §6.7.1), in the same one line.
    let names = ["a.subproblems.example.test", "b.subproblems.example.test"];
    let config = t.config_for("subproblems", &names, "account");
    t.proxy.inject(
        at,
        0,
        1,
        Fault::problem(400, "rejectedIdentifier")
            .detail("Cannot issue for 2 identifiers")
            .subproblem("caa", names[0], "CAA record forbids issuance")
            .subproblem("rejectedIdentifier", names[1], "on a block list"),
    );
    let ran = t.cli_for(&config, &["run"]).expect(65);
    one_line(
        &ran,
        "subproblems: new order: rejectedIdentifier: Cannot issue for 2 identifiers; \
         a.subproblems.example.test: caa: CAA record forbids issuance; \
         b.subproblems.example.test: rejectedIdentifier: on a block list",
    );
    assert_eq!(t.backoff("subproblems"), (0, false));
    t.cli_for(&config, &["run"]).expect(0);
    assert!(t.site.path("certs/subproblems/fullchain.pem").is_file());
}

#[test]
fn problems_at_finalize_exit_65_and_the_next_run_orders_anew() {
    let t = Proxied::new();
    t.cli(&["run"]).expect(0);
    let at = Endpoint::Finalize;
    refused_in_a_run(
        &t,
        &[
            Refusal {
                at,
                status: 400,
                kind: "badCSR",
                exit: 65,
            },
            Refusal {
                at,
                status: 400,
                kind: "badPublicKey",
                exit: 65,
            },
            Refusal {
                at,
                status: 403,
                kind: "caa",
                exit: 65,
            },
        ],
    );
}

#[test]
fn problems_at_revoke_exit_65_or_78_and_the_certificate_stays() {
    let t = Proxied::new();
    t.cli(&["run"]).expect(0);
    let at = Endpoint::Revoke;
    for case in [
        Refusal {
            at,
            status: 400,
            kind: "alreadyRevoked",
            exit: 65,
        },
        Refusal {
            at,
            status: 400,
            kind: "badRevocationReason",
            exit: 65,
        },
        Refusal {
            at,
            status: 403,
            kind: "unauthorized",
            exit: 78,
        },
    ] {
        let kind = case.kind;
        let detail = format!("{kind} for the certificate of www");
        let seen = t.proxy.seen(at);
        let cert = t.site.read("certs/www/cert.pem");
        t.proxy
            .inject(at, 0, 1, Fault::problem(case.status, kind).detail(&detail));
        let revoke = ["revoke", "www", "--reason", "superseded"];
        let ran = t.cli(&revoke).expect(case.exit);
        one_line(&ran, &format!("www: revoke: {kind}: {detail}"));
        assert_eq!(t.proxy.seen(at), seen + 1, "{kind}: retried");
        // Nothing recorded: the certificate is not taken for revoked, and
        // the line is not held back.
        let row = t.status_row(&t.config, "www");
        assert!(
            row.next_action.starts_with("renewal in "),
            "{kind}: {}",
            row.next_action
        );
        assert_eq!(t.backoff("www"), (0, false), "{kind}: held back");
        assert_eq!(t.site.read("certs/www/cert.pem"), cert, "{kind}");
        // The fault gone, the revocation goes through and the next run
        // replaces the certificate, once.
        t.cli(&revoke).expect(0);
        let (orders, issued, downloaded) = t.counts();
        t.cli(&["run"]).expect(0);
        assert_eq!(
            t.counts(),
            (orders + 1, issued + 1, downloaded + 1),
            "{kind}"
        );
    }
}

#[test]
fn transient_problems_count_towards_the_back_off() {
    let t = Proxied::new();
    t.cli(&["run"]).expect(0);
    let at = Endpoint::NewOrder;
    // A rate limit longer than a run waits: given up at once, held back
    // for the CA's wait; a server error on every attempt: given up after
    // the attempts, held back for the first back-off.
    for (line, fault, asked, wait, says) in [
        (
            "ratelimited",
            Fault::problem(429, "rateLimited")
                .detail("too many new orders")
                .retry_after_secs(3600),
            1,
            3600,
            "ratelimited: new order: rateLimited: too many new orders",
        ),
        (
            "serverinternal",
            Fault::problem(500, "serverInternal").detail("the database is away"),
            10,
            1,
            "serverinternal: new order: serverInternal: the database is away",
        ),
    ] {
        let config = t.config_for(line, &[&format!("{line}.example.test")], "account");
        let seen = t.proxy.seen(at);
        let counts = t.counts();
        t.proxy.inject(at, 0, u32::MAX, fault);
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let ran = t.cli_for(&config, &["run"]).expect(75);
        one_line(&ran, says);
        assert_eq!(t.proxy.seen(at), seen + asked, "{line}: attempts");
        let (failures, until) = t.held_until(line);
        assert_eq!(failures, 1, "{line}: failures");
        let until = until.unwrap_or_else(|| panic!("{line}: not held back"));
        assert!(
            until >= started + wait,
            "{line}: held back only {} s",
            until - started
        );
        let row = t.status_row(&config, line);
        assert!(
            row.next_action.starts_with("retry in ")
                && row.next_action.contains(" (1 failures): ")
                && row.next_action.ends_with(says),
            "{line}: {}",
            row.next_action
        );
        t.proxy.clear();
        // The back-off holds the line in `run` (silently: it was said),
        // not when it is named.
        t.cli_for(&config, &["run"]).expect(75).silent();
        assert_eq!(t.counts(), counts, "{line}: asked while backing off");
        t.cli_for(&config, &["issue", line]).expect(0);
        let (orders, issued, downloaded) = counts;
        assert_eq!(
            t.counts(),
            (orders + 1, issued + 1, downloaded + 1),
            "{line}"
        );
        assert_eq!(t.backoff(line), (0, false), "{line}: cleared");
    }
}
