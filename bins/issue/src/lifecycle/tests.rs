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

mod clocks;
