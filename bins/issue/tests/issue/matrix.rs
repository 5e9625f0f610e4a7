//! The fault matrix of issue 11: the real certdrop-issue against Pebble
//! behind the test kit's fault proxy. A 500 and a 503 on every endpoint a
//! run or a verb uses (once, a few times in a row, and on every attempt),
//! and every ACME problem type that no retry can fix, injected where a CA
//! sends it. Each case asserts the exit code, the one-line message and
//! the orders and certificates counted at the CA: no line gets more than
//! one certificate per run, and none is abandoned.
//!
//! One Pebble per test: the cases of a test run one after the other on
//! it, each an issuance of its own (`issue --force`, or a line and a
//! configuration of its own where a case needs a line without a
//! certificate or an account not yet made). The problem types are in
//! `matrix/problems.rs`; the helpers here serve both.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::proxied::Proxied;
use certdrop_testkit::pebble::{Endpoint, Fault};
use certdrop_testkit::{Ran, Run};

mod problems;

/// The statuses of a server fault.
const STATUSES: [u16; 2] = [500, 503];
/// Failed answers in a row that a run rides out: once, and a few times
/// (fewer than the client's ten attempts).
const IN_A_ROW: [u32; 2] = [1, 3];
/// The longest one run here may take: a fault on every attempt costs the
/// client's pauses (13 to 26 s), the rest is Pebble's work; generous for
/// a busy 2-core machine.
const LIMIT: Duration = Duration::from_secs(120);

/// Assert stderr is one line holding `what` (stdout may say that the
/// account was made).
#[track_caller]
fn one_line(ran: &Ran, what: &str) {
    assert_eq!(ran.stderr.lines().count(), 1, "one line: {}", ran.stderr);
    assert!(ran.stderr.contains(what), "'{what}' in: {}", ran.stderr);
}

/// Each retry `-v` narrated in `ran`: as many as the answers that failed,
/// each naming the endpoint's `path` and the reason (the problem's type,
/// or the bare `status` where the answer has no body: newNonce's HEAD).
#[track_caller]
fn narrated(ran: &Ran, n: u32, path: &str, status: u16, what: &str) {
    let retries: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.contains(": retry "))
        .collect();
    assert_eq!(retries.len(), n as usize, "{what}: {}", ran.stderr);
    let bare = format!("HTTP {status}");
    for line in retries {
        assert!(
            line.contains(path) && (line.contains("serverInternal") || line.contains(&bare)),
            "{what}: {line}"
        );
    }
}

/// What `status --json` says about one line.
struct Row {
    next_action: String,
    last_error: Option<String>,
}

impl Proxied {
    /// The binary with `args`, which must end within [`LIMIT`].
    fn cli(&self, args: &[&str]) -> Ran {
        self.command(args).ended_within(LIMIT)
    }

    /// As [`Proxied::cli`] with another configuration of the site.
    fn cli_for(&self, config: &Path, args: &[&str]) -> Ran {
        self.command_for(config, args).ended_within(LIMIT)
    }

    /// A configuration of this site with the one http-01 line `line` for
    /// `names` and the account credentials `state/<account>.json`.
    fn config_for(&self, line: &str, names: &[&str], account: &str) -> PathBuf {
        let text = std::fs::read_to_string(&self.config).expect("read config");
        let domains: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        let changed = text
            .replace(
                "name = \"www\"\ndomains = [\"www.example.test\"]",
                &format!("name = \"{line}\"\ndomains = [{}]", domains.join(", ")),
            )
            .replace(
                "account = \"state/account.json\"",
                &format!("account = \"state/{account}.json\""),
            );
        assert!(
            changed.contains(&format!("name = \"{line}\""))
                && changed.contains(&format!("state/{account}.json")),
            "the site's configuration changed shape:\n{text}"
        );
        let path = self.site.path(&format!("{line}.toml"));
        std::fs::write(&path, changed).expect("write config");
        path
    }

    /// `status --json`'s row for `line` under `config`.
    fn status_row(&self, config: &Path, line: &str) -> Row {
        let ran = self.cli_for(config, &["status", "--json"]).expect(0);
        let rows: serde_json::Value = serde_json::from_str(&ran.stdout).expect("status JSON");
        let row = rows
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["line"] == line))
            .unwrap_or_else(|| panic!("no row for {line}: {}", ran.stdout));
        Row {
            next_action: row["next_action"].as_str().expect("next_action").into(),
            last_error: row["last_error"].as_str().map(str::to_owned),
        }
    }

    /// The failures `state/<line>.json` counts towards the back-off, and
    /// whether it holds the line back until some time.
    fn backoff(&self, line: &str) -> (u64, bool) {
        let (failures, until) = self.held_until(line);
        (failures, until.is_some())
    }

    /// The failures `state/<line>.json` counts towards the back-off, and
    /// until when (seconds since the epoch) it holds the line back.
    fn held_until(&self, line: &str) -> (u64, Option<u64>) {
        let text = std::fs::read_to_string(self.site.path(&format!("state/{line}.json")))
            .expect("state written");
        let v: serde_json::Value = serde_json::from_str(&text).expect("state is JSON");
        (
            v["failures"].as_u64().unwrap_or(0),
            v["retry_not_before"].as_u64(),
        )
    }
}

// ------------------------------------------------ 500 and 503 per endpoint

/// An endpoint of a run and what a fault there does to it.
struct OnEndpoint {
    endpoint: Endpoint,
    /// The endpoint's path, which the narration of a retry names.
    path: &'static str,
    /// What the one-line message of a run that gave up names.
    names: &'static str,
    /// The stage of the order kept for the next run, if the run got as
    /// far as placing one.
    kept: Option<&'static str>,
}

/// A 503 on every attempt ends the run with 75 and one line naming what
/// failed; the order is kept, the line backs off, and the next run after
/// the fault cleared continues (a named run skips the back-off) and ends
/// with the one certificate. Then a 500 and a 503, once and a few times
/// in a row, are ridden out inside a run: exit 0, one order and one
/// certificate each, each retry narrated (`-v`) with the endpoint.
fn a_server_error_on(case: OnEndpoint) {
    let t = Proxied::new();
    let e = case.endpoint;
    t.proxy.inject(e, 0, u32::MAX, Fault::status(503));
    let ran = t.cli(&["run"]).expect(75);
    one_line(&ran, case.names);
    let (orders, issued, downloaded) = t.counts();
    assert!(orders <= 1 && issued <= 1, "{:?}", t.counts());
    assert_eq!(downloaded, 0);
    match case.kept {
        Some(stage) => {
            let kept = t.kept_order().expect("the order is kept");
            assert!(kept.contains(&format!("\"{stage}\"")), "{kept}");
        }
        None => assert_eq!(t.kept_order(), None),
    }
    let row = t.status_row(&t.config, "www");
    assert!(
        row.next_action.starts_with("retry in ") && row.next_action.contains("(1 failures)"),
        "{}",
        row.next_action
    );
    assert!(
        row.last_error
            .as_deref()
            .is_some_and(|why| ran.stderr.contains(why)),
        "{:?}",
        row.last_error
    );
    t.proxy.clear();
    let ran = t.cli(&["-v", "issue", "www"]).expect(0);
    if case.kept.is_some() {
        ran.stderr_has("www: resuming order ");
    }
    t.issued_once();
    assert_eq!(t.kept_order(), None, "the order is cleared once stored");

    for status in STATUSES {
        for n in IN_A_ROW {
            // A new account each time: newAccount is asked only for an
            // account not yet made, and Pebble reuses a valid authorization
            // of the account 1 % of the time even with PEBBLE_AUTHZREUSE=0
            // (its test is `rand.Intn(100) > percent`): the order would
            // come ready, without the authorization and challenge asked.
            std::fs::remove_file(t.site.path("state/account.json")).expect("remove account");
            let (orders, issued, downloaded) = t.counts();
            let seen = t.proxy.seen(e);
            let cert = t.site.read("certs/www/cert.pem");
            t.proxy.inject(e, 0, n, Fault::status(status));
            let ran = t.cli(&["-v", "issue", "--force", "www"]).expect(0);
            let what = format!("{e:?} {status} x{n}");
            assert_eq!(
                t.counts(),
                (orders + 1, issued + 1, downloaded + 1),
                "{what}: one order, one certificate"
            );
            assert!(t.proxy.seen(e) > seen + n, "{what}: asked again");
            assert_ne!(t.site.read("certs/www/cert.pem"), cert, "{what}: stored");
            narrated(&ran, n, case.path, status, &what);
        }
    }
    t.site.openssl_verify("www");
}

#[test]
fn a_server_error_on_the_directory() {
    a_server_error_on(OnEndpoint {
        endpoint: Endpoint::Directory,
        path: "/dir",
        names: "/dir: HTTP 503: serverInternal: injected by the fault proxy",
        kept: None,
    });
}

#[test]
fn a_server_error_on_new_nonce() {
    a_server_error_on(OnEndpoint {
        endpoint: Endpoint::NewNonce,
        path: "/nonce-plz",
        names: "/nonce-plz: HTTP 503",
        kept: None,
    });
}

#[test]
fn a_server_error_on_new_nonce_in_the_middle_of_an_order_keeps_the_order() {
    let t = Proxied::new();
    t.cli(&["run"]).expect(0);
    // A line of its own: no valid authorization of the account for its
    // name that Pebble could reuse (see `a_server_error_on`).
    let config = t.config_for("mid", &["mid.example.test"], "account");
    // The new order's nonce comes; then an authorization answer without
    // one (the proxy's 503 carries none), and every new nonce fails.
    t.proxy
        .inject(Endpoint::NewNonce, 1, u32::MAX, Fault::status(503));
    t.proxy.inject(Endpoint::Authz, 0, 1, Fault::status(503));
    let ran = t.cli_for(&config, &["run"]).expect(75);
    one_line(&ran, "mid: authorizations: HEAD https://");
    ran.stderr_has("/nonce-plz: HTTP 503");
    let state = String::from_utf8_lossy(&t.site.read("state/mid.json")).into_owned();
    assert!(
        state.contains("\"stage\": \"placed\""),
        "the order is kept: {state}"
    );
    assert_eq!(t.counts(), (2, 1, 1));
    t.proxy.clear();
    t.cli_for(&config, &["-v", "issue", "mid"])
        .expect(0)
        .stderr_has("mid: resuming order ");
    assert_eq!(t.counts(), (2, 2, 2), "the kept order, one certificate");
    let state = String::from_utf8_lossy(&t.site.read("state/mid.json")).into_owned();
    assert!(!state.contains("\"order\""), "cleared: {state}");
}

#[test]
fn a_server_error_on_new_account() {
    a_server_error_on(OnEndpoint {
        endpoint: Endpoint::NewAccount,
        path: "/sign-me-up",
        names: "create at https://",
        kept: None,
    });
}

#[test]
fn a_server_error_on_new_order() {
    a_server_error_on(OnEndpoint {
        endpoint: Endpoint::NewOrder,
        path: "/order-plz",
        names: "www: new order: serverInternal",
        kept: None,
    });
}

#[test]
fn a_server_error_on_the_order() {
    a_server_error_on(OnEndpoint {
        endpoint: Endpoint::Order,
        path: "/my-order/",
        names: "www: fetch order: serverInternal: injected by the fault proxy",
        kept: Some("answered"),
    });
}

#[test]
fn a_server_error_on_the_authorization() {
    a_server_error_on(OnEndpoint {
        endpoint: Endpoint::Authz,
        path: "/authZ/",
        names: "www: authorizations: serverInternal",
        kept: Some("placed"),
    });
}

#[test]
fn a_server_error_on_the_challenge() {
    a_server_error_on(OnEndpoint {
        endpoint: Endpoint::Challenge,
        path: "/chalZ/",
        names: "www: answer challenge: serverInternal",
        kept: Some("answered"),
    });
}

#[test]
fn a_server_error_on_finalize() {
    a_server_error_on(OnEndpoint {
        endpoint: Endpoint::Finalize,
        path: "/finalize-order/",
        names: "www: finalize: serverInternal",
        kept: Some("finalized"),
    });
}

#[test]
fn a_server_error_on_the_certificate() {
    a_server_error_on(OnEndpoint {
        endpoint: Endpoint::Certificate,
        path: "/certZ/",
        names: "www: download certificate: serverInternal",
        kept: Some("finalized"),
    });
}

impl Proxied {
    /// The account key's thumbprint (`account show --json`).
    fn thumbprint(&self) -> String {
        let ran = self.cli(&["account", "show", "--json"]).expect(0);
        let v: serde_json::Value = serde_json::from_str(&ran.stdout).expect("account JSON");
        v["thumbprint"].as_str().expect("thumbprint").to_owned()
    }
}

#[test]
fn a_server_error_on_key_change() {
    let t = Proxied::new();
    t.cli(&["run"]).expect(0);
    let next = t.site.path("state/account.json.next");
    let mut key = t.thumbprint();
    // On every attempt: 75, the old key stays the account's, and the new
    // one waits (the CA may know it) for the next start to settle.
    t.proxy
        .inject(Endpoint::KeyChange, 0, u32::MAX, Fault::status(503));
    let ran = t.cli(&["account", "rollover"]).expect(75);
    one_line(
        &ran,
        "account rollover: serverInternal: injected by the fault proxy",
    );
    assert!(next.exists(), "the new key is kept until settled");
    t.proxy.clear();
    let ran = t.cli(&["-v", "account", "rollover"]).expect(0);
    ran.stderr_has("an interrupted key rollover never reached the CA; old key kept");
    assert!(!next.exists());
    assert_ne!(t.thumbprint(), key, "replaced");
    key = t.thumbprint();
    for status in STATUSES {
        for n in IN_A_ROW {
            let what = format!("keyChange {status} x{n}");
            t.proxy
                .inject(Endpoint::KeyChange, 0, n, Fault::status(status));
            let ran = t.cli(&["-v", "account", "rollover"]).expect(0);
            ran.stdout_has("account key replaced: ");
            narrated(&ran, n, "/rollover-account-key", status, &what);
            assert!(!next.exists(), "{what}");
            let now = t.thumbprint();
            assert_ne!(now, key, "{what}: replaced");
            key = now;
        }
    }
    // The CA knows the account by its last key: it orders with it.
    t.cli(&["issue", "--force", "www"]).expect(0);
    assert_eq!(t.counts(), (2, 2, 2));
}

#[test]
fn a_server_error_on_revoke() {
    let t = Proxied::new();
    t.cli(&["run"]).expect(0);
    // On every attempt: 75, nothing recorded as revoked, the certificate
    // stays; the next attempt revokes it and the run after replaces it.
    t.proxy
        .inject(Endpoint::Revoke, 0, u32::MAX, Fault::status(503));
    let ran = t.cli(&["revoke", "www"]).expect(75);
    one_line(
        &ran,
        "www: revoke: serverInternal: injected by the fault proxy",
    );
    let row = t.status_row(&t.config, "www");
    assert!(
        row.next_action.starts_with("renewal in "),
        "{}",
        row.next_action
    );
    t.proxy.clear();
    t.cli(&["revoke", "www"])
        .expect(0)
        .stdout_has("www: certificate ");
    t.cli(&["run"]).expect(0);
    assert_eq!(t.counts(), (2, 2, 2));
    for status in STATUSES {
        for n in IN_A_ROW {
            let what = format!("revoke {status} x{n}");
            let seen = t.proxy.seen(Endpoint::Revoke);
            t.proxy
                .inject(Endpoint::Revoke, 0, n, Fault::status(status));
            let ran = t.cli(&["-v", "revoke", "www"]).expect(0);
            ran.stdout_has("revoked; the next run replaces it");
            narrated(&ran, n, "/revoke-cert", status, &what);
            assert_eq!(t.proxy.seen(Endpoint::Revoke), seen + n + 1, "{what}");
            let (orders, issued, downloaded) = t.counts();
            t.cli(&["run"])
                .expect(0)
                .stdout_has("www: certificate issued (replacing a revoked certificate");
            assert_eq!(
                t.counts(),
                (orders + 1, issued + 1, downloaded + 1),
                "{what}: replaced once"
            );
        }
    }
}
