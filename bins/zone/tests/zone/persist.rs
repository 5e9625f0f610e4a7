//! dns-persist-01 records (`[[zone.persist]]`) through the real binary:
//! rendered for the apex and other names, with `policy=wildcard`,
//! `persistUntil`, several issuers, an explicit `accounturi`, and the
//! issuer's account file (`certs/.accounts/<ca>.json`) with its previous
//! accounts beside the current one; signed, served by a real nsd and read
//! back byte for byte with dig. A changed account file gives a new serial
//! and new records; an unchanged one is a no-op. A missing, malformed or
//! hostile account file is one warning line, no records from it, and a
//! good build.

use std::process::Command;

use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::Run;

use crate::site::{keys_toml, read, Tree};

const ZONE: &str = "example.test";
const ACCT1: &str = "https://ca.example/acme/acct/1";
const ACCT2: &str = "https://ca.example/acme/acct/2";
const OLD: &str = "https://ca.example/acme/acct/0";

/// The issuer's account file for CA `ca`, replaced atomically as the
/// issuer does (a new file renamed over the old one).
fn account_file(tree: &Tree, ca: &str, text: &str) {
    let dir = tree.path("certs/.accounts");
    std::fs::create_dir_all(&dir).expect("mkdir .accounts");
    let tmp = dir.join(format!(".tmp.{ca}"));
    std::fs::write(&tmp, text).expect("write account file");
    std::fs::rename(&tmp, dir.join(format!("{ca}.json"))).expect("rename account file");
}

fn account_json(ca: &str, account: &str, previous: &[&str]) -> String {
    let prev: Vec<String> = previous.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "{{\"ca\": \"{ca}\", \"directory\": \"https://ca.example/dir\", \"account\": \"{account}\", \
         \"previous\": [{}], \"updated\": \"2026-12-05T12:00:00Z\"}}\n",
        prev.join(", ")
    )
}

/// The `[[zone.persist]]` tables of the main scenario.
const PERSIST: &str =
    "[[zone.persist]]\nissuer = [\"ca.example\", \"ca2.example\"]\naccount = \"default\"\n\
names = [\"@\", \"www\"]\nwildcard = true\npersist_until = \"2027-06-01T00:00:00Z\"\n\n\
[[zone.persist]]\nissuer = [\"other.example\"]\naccounturi = \"https://other.example/acct/77\"\n\
names = [\"mail.example.test.\"]\n";

/// The TXT strings a resolver gets for `name` from `nsd`, one line per
/// record as dig prints them (`"a" "b"`), sorted.
fn dig_txt(nsd: &Nsd, name: &str) -> Vec<String> {
    let ran = Command::new("dig")
        .args(["-p", &nsd.addr.port().to_string()])
        .arg(format!("@{}", nsd.addr.ip()))
        .args(["+short", "+norecurse", "+tries=3", "+time=2", "TXT", name])
        .ran()
        .expect(0);
    let mut lines: Vec<String> = ran.stdout.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// Whether nsd serves `want` (sorted) at `name`, asked until it does (a
/// reloaded nsd may answer once more from the old zone).
fn serves(nsd: &Nsd, name: &str, want: &[String]) -> Vec<String> {
    let mut got = Vec::new();
    certdrop_testkit::within(std::time::Duration::from_secs(10), || {
        got = dig_txt(nsd, name);
        got == want
    });
    got
}

fn quoted(values: &[String]) -> Vec<String> {
    let mut v: Vec<String> = values.iter().map(|s| format!("\"{s}\"")).collect();
    v.sort();
    v
}

/// What the records at the apex and www say for the account URIs `uris`.
fn expected(uris: &[&str]) -> Vec<String> {
    let mut v = Vec::new();
    for issuer in ["ca.example", "ca2.example"] {
        for u in uris {
            v.push(format!(
                "{issuer}; accounturi={u}; policy=wildcard; persistUntil=1811808000"
            ));
        }
    }
    quoted(&v)
}

#[test]
fn records_are_signed_served_and_follow_the_account_file() {
    let tree = Tree::new();
    tree.sources(ZONE);
    let keys = tree.keys(ZONE);
    let nsd = Nsd::start(&tree.path("nsd"), &tree.path("zones"), &[ZONE]);
    tree.config(
        ZONE,
        &nsd.reload_command(),
        &format!("{}\n{PERSIST}", keys_toml(&keys)),
    );
    account_file(&tree, "default", &account_json("default", ACCT1, &[OLD]));
    let ran = tree.run(&["build"]).expect(0);
    assert_eq!(ran.stderr, "", "no warning");
    let first = nsd.wait_serial_change(ZONE, None).expect("served");

    // Byte for byte what the draft's syntax gives, for every name, issuer
    // and account (the previous one beside the current one).
    let want = expected(&[ACCT1, OLD]);
    for name in [
        "_validation-persist.example.test",
        "_validation-persist.www.example.test",
    ] {
        assert_eq!(serves(&nsd, name, &want), want, "{name}");
    }
    let mail = quoted(&["other.example; accounturi=https://other.example/acct/77".into()]);
    assert_eq!(
        serves(&nsd, "_validation-persist.mail.example.test", &mail),
        mail
    );
    // Nothing under a wildcard label: policy=wildcard on the base name.
    let served = read(&tree.path("zones/example.test.zone"));
    assert!(
        !served.lines().any(|l| l.starts_with("*.")),
        "an owner under *.:\n{served}"
    );
    assert!(served.contains("_validation-persist.www.example.test.\t300\tIN\tTXT\t\"ca.example; accounturi=https://ca.example/acme/acct/1; policy=wildcard; persistUntil=1811808000\"\n"));
    // Signed: an RRSIG over the TXT set, and the zone verifies.
    let sigs = nsd.ask("TXT", "_validation-persist.example.test", true);
    assert!(
        sigs.iter()
            .any(|(_, t, r)| t == "RRSIG" && r.starts_with("TXT")),
        "{sigs:?}"
    );
    Command::new("ldns-verify-zone")
        .arg(tree.path("zones/example.test.zone"))
        .ran()
        .expect(0);

    // Unchanged: a no-op.
    let ran = tree.run(&["build"]).expect(2);
    assert_eq!(ran.stdout, "");

    // A new account (the old one now previous): new serial, new records.
    account_file(&tree, "default", &account_json("default", ACCT2, &[ACCT1]));
    tree.run(&["build"]).expect(0);
    let second = nsd
        .wait_serial_change(ZONE, Some(first))
        .expect("new serial");
    assert!(second > first);
    let want = expected(&[ACCT2, ACCT1]);
    assert_eq!(
        serves(&nsd, "_validation-persist.www.example.test", &want),
        want
    );
    tree.run(&["build"]).expect(2);

    // The first issuance with the new account empties previous.
    account_file(&tree, "default", &account_json("default", ACCT2, &[]));
    tree.run(&["build"]).expect(0);
    let want = expected(&[ACCT2]);
    assert_eq!(
        serves(&nsd, "_validation-persist.example.test", &want),
        want
    );
}

#[test]
fn a_long_account_uri_is_split_into_255_octet_strings() {
    let tree = Tree::new();
    tree.sources(ZONE);
    let nsd = Nsd::start(&tree.path("nsd"), &tree.path("zones"), &[ZONE]);
    let uri = format!("https://ca.example/acme/acct/{}", "a1".repeat(150));
    tree.config(
        ZONE,
        &nsd.reload_command(),
        &format!(
            "signer = \"none\"\n[[zone.persist]]\nissuer = [\"ca.example\"]\naccounturi = \"{uri}\"\nnames = [\"@\"]\n"
        ),
    );
    tree.run(&["build"]).expect(0);
    let value = format!("ca.example; accounturi={uri}");
    assert!(value.len() > 255);
    let want = vec![format!("\"{}\" \"{}\"", &value[..255], &value[255..])];
    assert_eq!(
        serves(&nsd, "_validation-persist.example.test", &want),
        want
    );
}

/// A tree whose zone has one entry reading `certs/.accounts/default.json`
/// and one with an explicit URI, signed by nobody, installed for no
/// server: what reaches the zone is read from `unsigned/`.
fn unsigned_tree() -> Tree {
    let tree = Tree::new();
    tree.sources(ZONE);
    tree.config(
        ZONE,
        "[\"true\"]",
        "signer = \"none\"\n[[zone.persist]]\nissuer = [\"ca.example\"]\naccount = \"default\"\nnames = [\"www\"]\n\n\
         [[zone.persist]]\nissuer = [\"ca.example\"]\naccounturi = \"https://ca.example/acme/acct/9\"\nnames = [\"@\"]\n",
    );
    tree
}

fn unsigned(tree: &Tree) -> String {
    read(&tree.path("build/unsigned/example.test"))
}

#[test]
fn missing_malformed_and_hostile_account_files_never_reach_the_zone() {
    let tree = unsigned_tree();
    let file = tree.path("certs/.accounts/default.json");
    let good = account_json("default", ACCT1, &[]);
    let big = format!(
        "{{\"ca\": \"default\", \"account\": \"{ACCT1}\", \"previous\": [], \"x\": \"{}\"}}",
        "a".repeat(20_000)
    );
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "refused: missing"),
        (
            "malformed",
            Some("{\"ca\": \"default\", \"account\": ".into()),
            "not an account file",
        ),
        ("huge", Some(big), "larger than"),
        (
            "quote",
            Some(account_json(
                "default",
                "https://ca.example/a\\\"; policy=wildcard",
                &[],
            )),
            "not allowed in an account URI",
        ),
        (
            "semicolon",
            Some(account_json(
                "default",
                "https://ca.example/a;policy=wildcard",
                &[],
            )),
            "not allowed in an account URI",
        ),
        (
            "newline",
            Some(account_json(
                "default",
                "https://ca.example/a\\n@ IN NS evil.example.",
                &[],
            )),
            "not allowed in an account URI",
        ),
        (
            "non-ASCII",
            Some(account_json("default", "https://ca.example/ä", &[])),
            "not allowed in an account URI",
        ),
        (
            "bad previous",
            Some(account_json(
                "default",
                ACCT1,
                &["https://ca.example/b\\\"c"],
            )),
            "not allowed in an account URI",
        ),
        (
            "other CA",
            Some(account_json("other", ACCT1, &[])),
            "says it is CA 'other'",
        ),
        (
            "http elsewhere",
            Some(account_json(
                "default",
                "http://ca.example/acme/acct/1",
                &[],
            )),
            "http:// only for a CA on loopback",
        ),
        (
            "long parser message",
            Some(format!(
                "{{\"ca\": \"default\", \"account\": \"{ACCT1}\", \"previous\": \"{}\"}}",
                "b".repeat(5000)
            )),
            "not an account file: invalid type",
        ),
        ("symlink", None, "symlink, not a regular file"),
        ("FIFO", None, "FIFO, not a regular file"),
        ("hard link", None, "a hard link (2 links)"),
    ];
    let mut serial_zone_ok = 0;
    for (what, text, why) in cases {
        let _ = std::fs::remove_file(&file);
        match (what, text) {
            ("symlink", _) => {
                tree.write("elsewhere.json", &good);
                std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
                std::os::unix::fs::symlink(tree.path("elsewhere.json"), &file).expect("symlink");
            }
            ("FIFO", _) => certdrop_testkit::tree::mkfifo(&file),
            ("hard link", _) => {
                account_file(&tree, "default", &good);
                std::fs::hard_link(&file, tree.path("elsewhere.json.link")).expect("link");
            }
            (_, Some(t)) => account_file(&tree, "default", &t),
            (_, None) => {}
        }
        let ran = tree.run(&["-f", "build"]).expect(0);
        let lines: Vec<&str> = ran.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: one line: {}", ran.stderr);
        assert!(
            lines[0].contains(&file.display().to_string()),
            "{what}: {}",
            lines[0]
        );
        assert!(lines[0].contains(why), "{what}: {}", lines[0]);
        // The file's own text is echoed only so far: one short line.
        assert!(lines[0].len() < 600, "{what}: {} bytes", lines[0].len());
        assert!(
            lines[0].contains("no _validation-persist records for zone example.test"),
            "{what}: {}",
            lines[0]
        );
        let zone = unsigned(&tree);
        // The entry with an explicit URI is unaffected; nothing of the
        // refused file's entry is in the zone.
        assert!(zone.contains("_validation-persist.example.test.\t300\tIN\tTXT\t\"ca.example; accounturi=https://ca.example/acme/acct/9\"\n"), "{what}:\n{zone}");
        assert!(!zone.contains("_validation-persist.www"), "{what}:\n{zone}");
        assert!(
            !zone.contains("policy=wildcard") && !zone.contains("evil"),
            "{what}:\n{zone}"
        );
        serial_zone_ok += 1;
    }
    assert_eq!(serial_zone_ok, 14);
    // The good file: its records appear, no warning.
    let _ = std::fs::remove_file(&file);
    account_file(&tree, "default", &good);
    let ran = tree.run(&["build"]).expect(0);
    assert_eq!(ran.stderr, "");
    assert!(unsigned(&tree).contains(&format!(
        "_validation-persist.www.example.test.\t300\tIN\tTXT\t\"ca.example; accounturi={ACCT1}\"\n"
    )));
}

#[test]
fn a_past_persist_until_is_said_by_check() {
    let tree = Tree::new();
    tree.sources(ZONE);
    tree.config(
        ZONE,
        "[\"true\"]",
        "signer = \"none\"\n[[zone.persist]]\nissuer = [\"ca.example\"]\naccounturi = \"https://a.example/1\"\nnames = [\"@\"]\npersist_until = 1700000000\n",
    );
    let ran = tree.run(&["-n"]).expect(0);
    ran.stderr_has("persist.persist_until: has no effect: 2023-11-14T22:13:20Z has passed");
}

#[test]
fn configuration_mistakes_are_78_naming_the_key() {
    let tree = Tree::new();
    tree.sources(ZONE);
    for (table, key) in [
        ("issuer = [\"ca.example\"]\naccount = \"default\"\naccounturi = \"https://a.example/1\"\nnames = [\"@\"]", "persist.account"),
        ("issuer = [\"ca.example\"]\nnames = [\"@\"]", "persist.account"),
        ("issuer = []\naccounturi = \"https://a.example/1\"\nnames = [\"@\"]", "persist.issuer"),
        ("issuer = [\"ca.example\"]\naccounturi = \"https://a.example/1\"\nnames = [\"*.www\"]", "persist.names"),
        ("issuer = [\"ca.example\"]\naccounturi = \"https://a.example/1\"\nnames = [\"www.example.net.\"]", "persist.names"),
        ("issuer = [\"ca.example\"]\naccounturi = \"https://a.example/1\\\"\"\nnames = [\"@\"]", "persist.accounturi"),
        ("issuer = [\"ca.example\"]\naccounturi = \"https://a.example/1\"\nnames = [\"@\"]\npersist_until = \"June\"", "persist.persist_until"),
        ("issuer = [\"ca.example\"]\naccounturi = \"https://a.example/1\"\nnames = [\"@\"]\npolicy = \"wildcard\"", "policy"),
        ("issuer = [\"ca.example\"]\naccounturi = \"http://a.example/1\"\nnames = [\"@\"]", "persist.accounturi"),
        ("issuer = [\"ca.example\"]\naccounturi = \"https://a.example/1\"\nnames = [\"@\"]\nttl = 4294967295", "persist.ttl"),
    ] {
        tree.config(ZONE, "[\"true\"]", &format!("signer = \"none\"\n[[zone.persist]]\n{table}\n"));
        let ran = tree.run(&["build"]).expect(78);
        assert_eq!(ran.stderr.trim().lines().count(), 1, "{table}: {}", ran.stderr);
        ran.stderr_has(key);
    }
}

#[test]
fn watch_publishes_a_new_account_binding() {
    let tree = Tree::new();
    tree.sources(ZONE);
    let nsd = Nsd::start(&tree.path("nsd"), &tree.path("zones"), &[ZONE]);
    tree.config(
        ZONE,
        &nsd.reload_command(),
        "signer = \"none\"\n[[zone.persist]]\nissuer = [\"ca.example\"]\naccount = \"default\"\nnames = [\"www\"]\n",
    );
    account_file(&tree, "default", &account_json("default", ACCT1, &[]));
    let log = std::fs::File::create(tree.path("watch.err")).expect("watch.err");
    let _watch = certdrop_testkit::Proc(
        crate::site::zone()
            .arg("-c")
            .arg(tree.path("zone.toml"))
            .args(["watch", "--log", "stderr"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start certdrop-zone watch"),
    );
    let name = "_validation-persist.www.example.test";
    let want = quoted(&[format!("ca.example; accounturi={ACCT1}")]);
    assert_eq!(
        serves(&nsd, name, &want),
        want,
        "{}",
        read(&tree.path("watch.err"))
    );
    // The issuer opens a new account: the watcher sees the account file
    // renamed in and publishes the new binding beside the old one.
    account_file(&tree, "default", &account_json("default", ACCT2, &[ACCT1]));
    let want = quoted(&[
        format!("ca.example; accounturi={ACCT1}"),
        format!("ca.example; accounturi={ACCT2}"),
    ]);
    assert_eq!(
        serves(&nsd, name, &want),
        want,
        "{}",
        read(&tree.path("watch.err"))
    );
}

#[test]
fn an_issuer_run_that_changes_no_uri_is_a_no_op() {
    let tree = unsigned_tree();
    account_file(&tree, "default", &account_json("default", ACCT1, &[OLD]));
    tree.run(&["build"]).expect(0);
    // The issuer rewrites the file at every run: a new file renamed over
    // the old one, differing only in `updated`.
    let rerun = account_json("default", ACCT1, &[OLD]).replace("12:00:00Z", "12:05:00Z");
    account_file(&tree, "default", &rerun);
    let ran = tree.run(&["-v", "build"]).expect(2);
    ran.stderr_has("zone example.test: inputs unchanged");
    // A changed URI is a rebuild with the new records.
    account_file(&tree, "default", &account_json("default", ACCT2, &[ACCT1]));
    tree.run(&["build"]).expect(0);
    let zone = unsigned(&tree);
    for u in [ACCT2, ACCT1] {
        assert!(
            zone.contains(&format!(
                "_validation-persist.www.example.test.\t300\tIN\tTXT\t\"ca.example; accounturi={u}\"\n"
            )),
            "{u}:\n{zone}"
        );
    }
    assert!(!zone.contains(OLD), "{zone}");
}

/// The sources with a delegation `sub NS ns.other.test.`.
fn delegating_tree(names: &str) -> Tree {
    let tree = Tree::new();
    tree.sources(ZONE);
    tree.write(
        &format!("primary/{ZONE}"),
        "@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.0.1\nsub NS ns.other.test.\n",
    );
    tree.config(
        ZONE,
        "[\"true\"]",
        &format!(
            "signer = \"none\"\n[[zone.persist]]\nissuer = [\"ca.example\"]\naccounturi = \"{ACCT1}\"\nnames = {names}\n"
        ),
    );
    tree
}

#[test]
fn a_name_at_or_below_a_delegation_is_refused() {
    for (names, bad) in [
        ("[\"www\", \"sub\", \"x.sub\"]", "sub.example.test"),
        ("[\"x.sub\"]", "x.sub.example.test"),
        ("[\"a.x.sub.example.test.\"]", "a.x.sub.example.test"),
    ] {
        let tree = delegating_tree(names);
        for args in [&["build"][..], &["assemble", ZONE][..]] {
            let ran = tree.run(args).expect(78);
            let lines: Vec<&str> = ran.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{names} {args:?}: {}", ran.stderr);
            assert!(
                lines[0].contains(&format!("'{bad}'"))
                    && lines[0].contains("delegation point sub.example.test.")
                    && lines[0].contains("persist.names"),
                "{names} {args:?}: {}",
                lines[0]
            );
            assert!(
                !tree.path("build/unsigned/example.test").exists(),
                "{names} {args:?}: a zone was written"
            );
        }
    }
    // Beside the delegation and at the apex (whose NS set is no cut): fine.
    let tree = delegating_tree("[\"@\", \"www\", \"subway\"]");
    tree.run(&["build"]).expect(0);
    assert!(unsigned(&tree).contains("_validation-persist.subway.example.test.\t"));
}

#[test]
fn two_tables_for_one_account_give_one_record_on_both_paths() {
    let tree = Tree::new();
    tree.sources(ZONE);
    tree.config(
        ZONE,
        "[\"true\"]",
        &format!(
            "signer = \"none\"\n[[zone.persist]]\nissuer = [\"ca.example\"]\naccount = \"default\"\nnames = [\"www\"]\n\n\
             [[zone.persist]]\nissuer = [\"ca.example\"]\naccounturi = \"{ACCT1}\"\nnames = [\"www\"]\n"
        ),
    );
    account_file(&tree, "default", &account_json("default", ACCT1, &[]));
    let record = format!(
        "_validation-persist.www.example.test.\t300\tIN\tTXT\t\"ca.example; accounturi={ACCT1}\"\n"
    );
    for args in [&["build"][..], &["-f", "assemble", ZONE][..]] {
        tree.run(args).expect(0);
        let zone = unsigned(&tree);
        assert_eq!(zone.matches(&record).count(), 1, "{args:?}:\n{zone}");
    }
}

#[test]
fn a_tables_ttl_is_its_records_ttl() {
    let tree = Tree::new();
    tree.sources(ZONE);
    tree.config(
        ZONE,
        "[\"true\"]",
        &format!(
            "signer = \"none\"\n[[zone.persist]]\nissuer = [\"ca.example\"]\naccounturi = \"{ACCT1}\"\nnames = [\"www\"]\nttl = 86400\n\n\
             [[zone.persist]]\nissuer = [\"ca.example\"]\naccounturi = \"{ACCT2}\"\nnames = [\"@\"]\n"
        ),
    );
    tree.run(&["build"]).expect(0);
    let zone = unsigned(&tree);
    assert!(zone.contains(&format!(
        "_validation-persist.www.example.test.\t86400\tIN\tTXT\t\"ca.example; accounturi={ACCT1}\"\n"
    )), "{zone}");
    // Without its own: the zone's.
    assert!(
        zone.contains(&format!(
            "_validation-persist.example.test.\t300\tIN\tTXT\t\"ca.example; accounturi={ACCT2}\"\n"
        )),
        "{zone}"
    );
}
