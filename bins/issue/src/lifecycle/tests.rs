//! The lifecycle's decisions as a table: each case is a store, a line
//! state and a time, and the plan expected for them. The time is a
//! parameter, so the renewal window, the back-off and the rollover clocks
//! are tested at the exact second they turn, with no sleep and no CA.

use std::path::Path;

use certdrop_core::certinfo::{self, CertInfo};
use certdrop_core::error::Error;
use certdrop_core::store::CertFiles;
use rcgen::KeyPair;

use super::*;
use crate::config::tests::{DNS, HEAD};
use crate::keys::KeyType;

const DAY: i64 = 86_400;

/// A temp tree with a configuration of one line `www` (http-01, for
/// www.example.org unless `line` says other domains, jitter 0, first
/// back-off 1h) plus `line`, its store created.
struct Fx {
    _dir: tempfile::TempDir,
    config: Config,
}

fn fx(line: &str) -> Fx {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        r#"{HEAD}[drop]
webroot = "webroot"
{DNS}[renew]
jitter = "0s"
backoff = "1h"
[[line]]
name = "www"
challenge = "http-01"
{domains}{line}
"#,
        domains = match line.contains("domains") {
            true => "",
            false => "domains = [\"www.example.org\"]\n",
        },
    );
    let config = Config::parse(&dir.path().join("issue.toml"), &text).expect("config");
    config.store.ensure().expect("store");
    Fx { _dir: dir, config }
}

impl Fx {
    fn line(&self) -> &Line {
        &self.config.lines[0]
    }

    /// Install a certificate for `names`, valid 2030-01-01 to 2030-04-11
    /// (100 days), with the current key (made if missing) and the given
    /// previous public key; returns it parsed.
    fn install(&self, names: &[&str], prev: Option<&[u8]>) -> CertInfo {
        let key_path = self.config.store.key_path("www");
        let key = match key_path.exists() {
            true => keys::load(&key_path, None).expect("key"),
            false => self.write_key(&key_path, KeyType::EcdsaP256),
        };
        let mut p =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params");
        p.not_before = rcgen::date_time_ymd(2030, 1, 1);
        p.not_after = rcgen::date_time_ymd(2030, 4, 11);
        let pem = p.self_signed(&key).expect("sign").pem().into_bytes();
        let files = CertFiles {
            cert: pem.clone(),
            chain: Vec::new(),
            fullchain: pem.clone(),
            pubkey: keys::public_pem(&keys::spki(&key)).into_bytes(),
        };
        let next = self.config.store.read_next_pub("www").expect("next");
        self.config
            .store
            .publish("www", Some(&files), next.as_deref(), prev)
            .expect("publish");
        certinfo::parse_chain(&pem).expect("parse").remove(0)
    }

    fn write_key(&self, path: &Path, kind: KeyType) -> KeyPair {
        let key = kind.generate().expect("key");
        self.config
            .store
            .write_key_for(path, key.serialize_pem().as_bytes(), None)
            .expect("write key");
        key
    }

    /// A staged next key: its private half in keys/, public half published.
    fn stage(&self) {
        let key = self.write_key(&self.config.store.next_key_path("www"), KeyType::EcdsaP256);
        let pubkey = keys::public_pem(&keys::spki(&key));
        self.config
            .store
            .publish("www", None, Some(pubkey.as_bytes()), None)
            .expect("publish next");
    }
}

/// One row of the table.
struct Case {
    what: &'static str,
    /// TOML added to the line.
    line: &'static str,
    /// Names of the installed certificate (None: no certificate).
    cert: Option<&'static [&'static str]>,
    /// The current key is of this type (None: the default P-256).
    key: Option<KeyType>,
    /// A next key is staged.
    next: bool,
    force: bool,
    explicit: bool,
    /// The state, given the certificate's serial and `now`.
    state: fn(&str, i64) -> LineState,
    /// `now`, given the certificate's renewal time (window start).
    now: fn(i64) -> i64,
    /// The plan wanted, given `now` and the renewal time.
    want: fn(i64, i64) -> Plan,
}

const WWW: &[&str] = &["www.example.org"];

fn none(_: &str, _: i64) -> LineState {
    LineState::default()
}

fn base() -> Case {
    Case {
        what: "",
        line: "",
        cert: Some(WWW),
        key: None,
        next: false,
        force: false,
        explicit: false,
        state: none,
        now: |due| due - 10 * DAY,
        want: |_, due| Plan::Wait(Some(due), "renewal"),
    }
}

fn table() -> Vec<Case> {
    vec![
        Case {
            what: "no certificate yet",
            cert: None,
            want: |_, _| Plan::Issue(Reason::NoCertificate),
            ..base()
        },
        Case {
            what: "not due ten days before the window",
            ..base()
        },
        Case {
            what: "not due one second before the window",
            now: |due| due - 1,
            ..base()
        },
        Case {
            what: "due the second the window opens",
            now: |due| due,
            want: |_, _| Plan::Issue(Reason::Window),
            ..base()
        },
        Case {
            what: "due after expiry",
            now: |due| due + 40 * DAY,
            want: |_, _| Plan::Issue(Reason::Window),
            ..base()
        },
        Case {
            what: "a line's own renew_remaining moves the window",
            line: "renew_remaining = 10",
            now: |due| due - 1,
            ..base()
        },
        Case {
            what: "forced, even while backing off",
            force: true,
            state: |_, now| LineState {
                retry_not_before: Some(now + 3600),
                ..LineState::default()
            },
            want: |_, _| Plan::Issue(Reason::Forced),
            ..base()
        },
        Case {
            what: "names changed",
            cert: Some(&["old.example.org"]),
            want: |_, _| Plan::Issue(Reason::NamesChanged),
            ..base()
        },
        Case {
            what: "a name added",
            cert: Some(&["www.example.org"]),
            line: "domains = [\"www.example.org\", \"new.example.org\"]",
            want: |_, _| Plan::Issue(Reason::NamesChanged),
            ..base()
        },
        Case {
            what: "names in another order and case are the same names",
            cert: Some(&["WWW.example.org"]),
            ..base()
        },
        Case {
            what: "the current certificate was revoked",
            state: |serial, _| LineState {
                revoked_serial: Some(serial.to_owned()),
                ..LineState::default()
            },
            want: |_, _| Plan::Issue(Reason::Revoked),
            ..base()
        },
        Case {
            what: "another certificate's revocation does not count",
            state: |_, _| LineState {
                revoked_serial: Some("00".into()),
                ..LineState::default()
            },
            ..base()
        },
        Case {
            what: "back-off holds a due line",
            now: |due| due,
            state: |_, now| LineState {
                failures: 2,
                retry_not_before: Some(now + 60),
                ..LineState::default()
            },
            want: |now, _| Plan::BackOff(now + 60),
            ..base()
        },
        Case {
            what: "back-off holds a line without a certificate",
            cert: None,
            state: |_, now| LineState {
                retry_not_before: Some(now + 1),
                ..LineState::default()
            },
            want: |now, _| Plan::BackOff(now + 1),
            ..base()
        },
        Case {
            what: "back-off ends at its second",
            now: |due| due,
            state: |_, now| LineState {
                retry_not_before: Some(now),
                ..LineState::default()
            },
            want: |_, _| Plan::Issue(Reason::Window),
            ..base()
        },
        Case {
            what: "a line named on the command line skips the back-off",
            now: |due| due,
            explicit: true,
            state: |_, now| LineState {
                retry_not_before: Some(now + 3600),
                ..LineState::default()
            },
            want: |_, _| Plan::Issue(Reason::Window),
            ..base()
        },
        Case {
            what: "the key type changed",
            line: "key = \"ecdsa-p384\"",
            want: |_, _| Plan::Issue(Reason::KeyTypeChanged),
            ..base()
        },
        Case {
            what: "a key of the configured type",
            line: "key = \"ecdsa-p384\"",
            key: Some(KeyType::EcdsaP384),
            ..base()
        },
        Case {
            what: "max key age reached: stage the next key",
            line: "max_key_age = \"30d\"",
            state: |_, now| LineState {
                key_created: Some(now - 30 * DAY),
                ..LineState::default()
            },
            want: |_, _| Plan::StageNext,
            ..base()
        },
        Case {
            what: "a key younger than max_key_age stays",
            line: "max_key_age = \"30d\"",
            state: |_, now| LineState {
                key_created: Some(now - 30 * DAY + 1),
                ..LineState::default()
            },
            ..base()
        },
        Case {
            what: "max key age on a fresh-key line stages nothing",
            line: "max_key_age = \"30d\"\nkey_policy = \"fresh\"",
            state: |_, now| LineState {
                key_created: Some(now - 300 * DAY),
                ..LineState::default()
            },
            ..base()
        },
        Case {
            what: "max key age with a next key already staged stages no other",
            line: "max_key_age = \"30d\"\nrollover_wait = \"2h\"",
            next: true,
            state: |_, now| LineState {
                key_created: Some(now - 300 * DAY),
                next_published: Some(now),
                ..LineState::default()
            },
            want: |now, _| Plan::Wait(Some(now + 7201), "next key published, waiting"),
            ..base()
        },
        Case {
            what: "next key published, rollover_wait not over",
            line: "rollover_wait = \"2h\"",
            next: true,
            state: |_, now| LineState {
                next_published: Some(now - 7200),
                ..LineState::default()
            },
            want: |now, _| Plan::Wait(Some(now + 1), "next key published, waiting"),
            ..base()
        },
        Case {
            what: "next key published, rollover_wait over",
            line: "rollover_wait = \"2h\"",
            next: true,
            state: |_, now| LineState {
                next_published: Some(now - 7201),
                ..LineState::default()
            },
            want: |_, _| Plan::Issue(Reason::Rollover),
            ..base()
        },
        Case {
            what: "a waiting rollover still renews in the window (same key)",
            line: "rollover_wait = \"2h\"",
            next: true,
            now: |due| due,
            state: |_, now| LineState {
                next_published: Some(now),
                ..LineState::default()
            },
            want: |_, _| Plan::Issue(Reason::Window),
            ..base()
        },
        Case {
            what: "the wait shown is the earlier of rollover and renewal",
            line: "rollover_wait = \"30d\"",
            next: true,
            state: |_, now| LineState {
                next_published: Some(now),
                ..LineState::default()
            },
            want: |_, due| Plan::Wait(Some(due), "next key published, waiting"),
            ..base()
        },
        Case {
            what: "next key not yet served: ask the servers",
            line: "rollover_wait = \"2h\"\ntlsa = [\"_443._tcp.www.example.org\"]",
            next: true,
            state: |_, now| LineState {
                next_published: Some(now - 30 * DAY),
                ..LineState::default()
            },
            want: |_, _| Plan::CheckNext,
            ..base()
        },
        Case {
            what: "next key served, but not for 2 x TTL yet",
            line: "rollover_wait = \"2h\"\ntlsa = [\"_443._tcp.www.example.org\"]",
            next: true,
            state: |_, now| LineState {
                next_published: Some(now - 30 * DAY),
                next_served_since: Some(now - 120),
                next_served_ttl: Some(60),
                ..LineState::default()
            },
            want: |now, _| Plan::Wait(Some(now + 1), "next key published, waiting"),
            ..base()
        },
        Case {
            what: "next key served for 2 x TTL",
            line: "rollover_wait = \"2h\"\ntlsa = [\"_443._tcp.www.example.org\"]",
            next: true,
            state: |_, now| LineState {
                next_published: Some(now - 30 * DAY),
                next_served_since: Some(now - 121),
                next_served_ttl: Some(60),
                ..LineState::default()
            },
            want: |_, _| Plan::Issue(Reason::Rollover),
            ..base()
        },
        Case {
            what: "next key served long enough, but rollover_wait not over",
            line: "rollover_wait = \"2h\"\ntlsa = [\"_443._tcp.www.example.org\"]",
            next: true,
            state: |_, now| LineState {
                next_published: Some(now - 3600),
                next_served_since: Some(now - 3600),
                next_served_ttl: Some(60),
                ..LineState::default()
            },
            want: |now, _| Plan::Wait(Some(now + 3601), "next key published, waiting"),
            ..base()
        },
        Case {
            what: "a fresh-key line never rolls over a staged key",
            line: "rollover_wait = \"2h\"\nkey_policy = \"fresh\"",
            next: true,
            state: |_, now| LineState {
                next_published: Some(now - 30 * DAY),
                ..LineState::default()
            },
            want: |now, _| Plan::Wait(Some(now - 30 * DAY + 7201), "next key published, waiting"),
            ..base()
        },
    ]
}

#[test]
fn the_plan_for_each_case() {
    let mut failed = Vec::new();
    for case in table() {
        let f = fx(case.line);
        if let Some(kind) = case.key {
            f.write_key(&f.config.store.key_path("www"), kind);
        }
        if case.next {
            // The next key's public half is published beside a certificate.
            f.install(WWW, None);
            f.stage();
        }
        let cert = case.cert.map(|names| f.install(names, None));
        // A line without a certificate has no window: any time will do.
        let (due, serial) = match &cert {
            Some(c) => (due_at(&f.config, f.line(), c), c.serial.as_str()),
            None => (1_900_000_000, ""),
        };
        let now = (case.now)(due);
        let state = (case.state)(serial, now);
        let got = plan(&f.config, f.line(), &state, now, case.force, case.explicit)
            .unwrap_or_else(|e| panic!("{}: {e}", case.what));
        let want = (case.want)(now, due);
        if got != want {
            failed.push(format!("{}: got {got:?}, want {want:?}", case.what));
        }
    }
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
}

#[test]
fn the_window_is_the_last_share_of_the_lifetime_plus_a_jitter_from_the_serial() {
    let f = fx("");
    let c = f.install(WWW, None);
    let start = c.not_after - 33 * DAY;
    assert_eq!(due_at(&f.config, f.line(), &c), start, "jitter 0");
    let mut config = f.config.clone();
    config.jitter = Duration::from_secs(3600);
    let at = due_at(&config, f.line(), &c);
    assert!(
        (start..start + 3600).contains(&at),
        "{at} not in the hour after {start}"
    );
    assert_eq!(at, due_at(&config, f.line(), &c), "the same for every run");
    // The jitter never takes more than half the window.
    config.jitter = Duration::from_secs(400 * DAY as u64);
    assert!(due_at(&config, f.line(), &c) < start + 33 * DAY / 2);
    // A line's renew_remaining: the last 10 percent of 100 days.
    let f = fx("renew_remaining = 10");
    let c = f.install(WWW, None);
    assert_eq!(due_at(&f.config, f.line(), &c), c.not_after - 10 * DAY);
}

#[test]
fn the_back_off_doubles_is_capped_and_honours_retry_after() {
    let f = fx("");
    let now = 1_900_000_000;
    let mut st = LineState::default();
    let e = Error::temp("www: rate limited");
    let mut waits = Vec::new();
    for _ in 0..7 {
        record_failure(&f.config, &mut st, &e, now);
        waits.push(st.retry_not_before.expect("set") - now);
    }
    assert_eq!(waits, [3600, 7200, 14_400, 28_800, 57_600, 86_400, 86_400]);
    assert_eq!(st.failures, 7);
    assert_eq!(st.last_failure, Some(now));
    assert_eq!(st.last_error.as_deref(), Some("www: rate limited"));
    // The CA's Retry-After wins when it is longer than our own delay.
    let mut st = LineState::default();
    let e = e.retry_after(Duration::from_secs(5 * 3600));
    record_failure(&f.config, &mut st, &e, now);
    assert_eq!(st.retry_not_before, Some(now + 5 * 3600));
    // A Retry-After with a part second left is rounded up, never down.
    let mut st = LineState::default();
    let e = e.retry_after(Duration::from_millis(7_199_001) + Duration::from_secs(3 * 3600));
    record_failure(&f.config, &mut st, &e, now);
    assert_eq!(st.retry_not_before, Some(now + 3 * 3600 + 7200));
    // A finalized order in progress is continued right after the CA's
    // Retry-After, not after our own (longer) back-off.
    let mut st = LineState {
        order: Some(crate::state::OrderProgress {
            url: "https://ca/order/1".into(),
            stage: crate::state::Stage::Finalized,
            next_key: false,
            ca: None,
        }),
        ..LineState::default()
    };
    let e = Error::temp("www: still processing").retry_after(Duration::from_secs(600));
    record_failure(&f.config, &mut st, &e, now);
    assert_eq!(st.retry_not_before, Some(now + 600));
    // A back-off recorded at `now` holds a due line until it ends.
    let c = f.install(WWW, None);
    let due = due_at(&f.config, f.line(), &c);
    let mut st = LineState::default();
    record_failure(&f.config, &mut st, &Error::temp("x"), due);
    assert_eq!(
        plan(&f.config, f.line(), &st, due + 3599, false, false).expect("plan"),
        Plan::BackOff(due + 3600)
    );
    assert_eq!(
        plan(&f.config, f.line(), &st, due + 3600, false, false).expect("plan"),
        Plan::Issue(Reason::Window)
    );
}

#[test]
fn only_failures_a_later_run_could_fix_hold_the_line_back() {
    let f = fx("");
    let now = 1_900_000_000;
    for (e, issued, held) in [
        (Error::temp("www: new order: serverInternal: d"), None, true),
        (Error::unavailable("www: cannot connect"), Some(now), true),
        (Error::unavailable("www: cannot connect"), None, false),
        (
            Error::config("www: externalAccountRequired: d"),
            Some(now),
            false,
        ),
        (Error::data("www: finalize: badCSR: d"), Some(now), false),
    ] {
        let mut st = LineState {
            issued,
            ..LineState::default()
        };
        record_failure(&f.config, &mut st, &e, now);
        assert_eq!(st.retry_not_before.is_some(), held, "{}", e.msg);
        assert_eq!(st.failures, u32::from(held), "{}", e.msg);
        assert_eq!(st.last_error.as_deref(), Some(e.msg.as_str()));
        assert_eq!(st.last_failure, Some(now));
    }
    assert!(!holds_back(Failure::Usage, true));
}

#[test]
fn the_previous_key_is_retired_after_retire_after() {
    let f = fx("retire_after = \"1h\"");
    let prev = b"-----BEGIN PUBLIC KEY-----\nprev\n-----END PUBLIC KEY-----\n";
    f.install(WWW, Some(prev));
    let prev_path = f.config.store.prev_pub_path("www");
    assert!(prev_path.exists());
    let t = 1_900_000_000;
    // A state that lost the time starts the clock at `now`.
    let mut st = LineState::default();
    assert!(!retire_prev(&f.config, f.line(), &mut st, t).expect("retire"));
    assert_eq!(st.prev_published, Some(t));
    assert!(!retire_prev(&f.config, f.line(), &mut st, t + 3600).expect("retire"));
    assert!(prev_path.exists(), "kept for the whole hour");
    assert!(retire_prev(&f.config, f.line(), &mut st, t + 3601).expect("retire"));
    assert!(!prev_path.exists(), "retired");
    assert_eq!(st.prev_published, None);
    assert!(f.config.store.read_current("www").expect("read").is_some());
    // Nothing to retire: nothing happens, the time is forgotten.
    st.prev_published = Some(t);
    assert!(!retire_prev(&f.config, f.line(), &mut st, t + 99_999).expect("retire"));
    assert_eq!(st.prev_published, None);
}

#[test]
fn a_retirement_keeps_a_staged_next_key_published() {
    let f = fx("retire_after = \"0s\"");
    f.install(WWW, None);
    f.stage();
    f.install(WWW, Some(b"prev\n"));
    let next = f.config.store.read_next_pub("www").expect("read");
    let mut st = LineState {
        prev_published: Some(100),
        ..LineState::default()
    };
    assert!(retire_prev(&f.config, f.line(), &mut st, 101).expect("retire"));
    assert_eq!(f.config.store.read_next_pub("www").expect("read"), next);
}

#[test]
fn key_age_and_until_count_from_now() {
    let f = fx("");
    let st = LineState {
        key_created: Some(1000),
        ..LineState::default()
    };
    assert_eq!(
        key_age(&f.config, f.line(), &st, 1000 + 5 * DAY),
        Some(5 * DAY)
    );
    assert_eq!(
        key_age(&f.config, f.line(), &LineState::default(), 0),
        None,
        "no key"
    );
    assert_eq!(until(1000 + 3 * DAY, 1000), "3d");
    assert_eq!(until(1000 + 3 * 3600, 1000), "3h");
    assert_eq!(until(1000 + 600, 1000), "10m");
    assert_eq!(until(0, 1000), "0m", "past");
}

#[test]
fn a_next_key_without_a_publication_time_counts_from_now() {
    let f = fx("rollover_wait = \"2h\"");
    assert_eq!(
        rollover_ready_at(f.line(), &LineState::default(), 5000),
        Some(5000 + 7201)
    );
}
