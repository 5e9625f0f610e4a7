//! dns-persist-01 end to end against acme2certifier (validation when the
//! challenge is answered, not just in time): the zone built and signed
//! by `certdrop-zone watch` with `[[zone.persist]]` reading the account
//! file the issuer wrote (`certs/.accounts/default.json`), served by nsd
//! on port 53 of the namespace, acme2certifier resolving from that nsd.
//! The issuer renews with dnsextra/ untouched (its times unchanged),
//! falls back to dns-01 through dnsextra/ when the record leaves the
//! zone, and after a new account does not rely on the old account's
//! record; the zone serves both bindings until the next issuance. With
//! just-in-time validation the CA finds the record itself: nothing is
//! answered, nothing written.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use certdrop_testkit::a2c::A2cOpts;
use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::pebble::query_txt;
use certdrop_testkit::tree::write;
use certdrop_testkit::{bin, within, Proc, Run};

use crate::site::{mode, Site};

const ZONE: &str = "example.test";
/// The issuer-domain-name acme2certifier names (`caaIdentities`).
const ISSUER: &str = "ca.example";
/// The record's owner for www.example.test.
const OWNER: &str = "_validation-persist.www.example.test.";

/// acme2certifier offering dns-persist-01 (validated when answered, or
/// with `jit` when the authorization is fetched), nsd on port 53 in its
/// namespace, and the line `www` (dns-01, the default) for
/// www.example.test.
fn setup(jit: bool) -> (Site, Nsd) {
    let mut site = Site::new(A2cOpts {
        challtestsrv: false,
        persist_issuers: Some(vec![ISSUER.to_owned()]),
        persist_jit: jit,
        ..A2cOpts::default()
    });
    let d = site.dir.root();
    for sub in ["certs", "phonehome", "zones", "build", "keys"] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    // A KSK and a ZSK: certdrop-zone signs with ldns-signzone.
    for ksk in [true, false] {
        let mut keygen = Command::new("ldns-keygen");
        keygen
            .current_dir(d.join("keys"))
            .args(["-a", "ECDSAP256SHA256"]);
        if ksk {
            keygen.arg("-k");
        }
        keygen.arg(ZONE).ran().expect(0);
    }
    write(
        d,
        "soa",
        &format!("$TTL 60\n@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. ( 1 3600 900 1209600 1 )\n"),
    );
    write(d, "primary", "@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.0.1\n");
    let nsd = site.a2c.nsd(&d.join("nsd"), &d.join("zones"), &[ZONE]);
    site.line("name = \"www\"\ndomains = [\"www.example.test\"]");
    (site, nsd)
}

/// `certdrop-zone watch` over the site, with `[[zone.persist]]` for www
/// from the issuer's account file when `persist`; returned once its first
/// build is served (`first`: no serial yet).
fn watch(site: &Site, nsd: &Nsd, persist: bool, first: bool) -> Proc {
    let d = site.dir.root();
    let table = match persist {
        true => format!(
            "[[zone.persist]]\nissuer = [\"{ISSUER}\"]\naccount = \"default\"\nnames = [\"www\"]\n"
        ),
        false => String::new(),
    };
    let mut keys: Vec<String> = std::fs::read_dir(d.join("keys"))
        .expect("keys")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".key")
                .map(|base| format!("\"keys/{base}\""))
        })
        .collect();
    keys.sort();
    write(
        d,
        "zone.toml",
        &format!(
            "build = \"build\"\ninstall = \"zones\"\ndnsextra = \"dnsextra\"\ncerts = \"certs\"\n\
             phonehome = \"phonehome\"\nreload = {}\n[[zone]]\nname = \"{ZONE}\"\nsoa = \"soa\"\n\
             primary = \"primary\"\nkeys = [{}]\nttl = 60\n{table}",
            nsd.reload_command(),
            keys.join(", ")
        ),
    );
    let watch = Command::new(bin("certdrop-zone"))
        .arg("-c")
        .arg(d.join("zone.toml"))
        .args(["-v", "watch", "--log", "stderr"])
        .logged(&d.join("watch.log"));
    if first {
        let served = site.a2c.enter(|| nsd.wait_serial_change(ZONE, None));
        assert!(served.is_some(), "zone not served: {}", watch_log(site));
    }
    watch
}

fn watch_log(site: &Site) -> String {
    std::fs::read_to_string(site.path("watch.log")).unwrap_or_default()
}

/// Whether nsd comes to serve exactly `values` at [`OWNER`].
fn serves(site: &Site, values: &[String]) -> bool {
    let want: BTreeSet<&String> = values.iter().collect();
    let dns = site.a2c.dns_addr;
    site.a2c.enter(|| {
        within(Duration::from_secs(20), || {
            query_txt(dns, OWNER).is_ok_and(|got| got.iter().collect::<BTreeSet<_>>() == want)
        })
    })
}

/// The record for `account`.
fn record(account: &str) -> String {
    format!("{ISSUER}; accounturi={account}")
}

/// The account file the issuer published, as JSON.
fn account_file(site: &Site) -> serde_json::Value {
    serde_json::from_slice(&site.read("certs/.accounts/default.json")).expect("account file")
}

/// A directory's modification and change times: any file created,
/// renamed or removed in it (a fragment, a temporary file, the marker),
/// however briefly, moves them, where sampling its listing could miss a
/// short-lived one.
#[derive(Debug, PartialEq, Eq)]
struct Stamp {
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(dir: &std::path::Path) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(dir).expect("directory");
        Stamp {
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// What `status --json` says of the line's renewal.
fn renewal(site: &Site) -> serde_json::Value {
    let ran = site.run(&["status", "--json"]).expect(0);
    let rows: serde_json::Value = serde_json::from_str(&ran.stdout).expect("status JSON");
    rows[0]["renewal"].clone()
}

#[test]
fn renewals_leave_dnsextra_untouched_until_the_record_leaves_the_zone() {
    let (site, nsd) = setup(false);
    let watch_on = watch(&site, &nsd, true, true);
    // The account and a first certificate (over whichever challenge the
    // zone was ready for when the authorization came).
    site.run(&["run"]).expect(0);
    let show: serde_json::Value =
        serde_json::from_str(&site.run(&["account", "show", "--json"]).expect(0).stdout)
            .expect("json");
    let account = show["account"].as_str().expect("account URL").to_owned();
    let info = account_file(&site);
    assert_eq!(info["ca"], "default", "{info}");
    assert_eq!(info["account"], account.as_str(), "{info}");
    assert_eq!(info["directory"], site.a2c.directory_url.as_str(), "{info}");
    assert_eq!(info["previous"], serde_json::json!([]), "{info}");
    assert_eq!(mode(&site.path("certs/.accounts/default.json")), 0o644);
    assert!(
        serves(&site, &[record(&account)]),
        "record not served: {}",
        watch_log(&site)
    );
    // Served signed: the TXT RRset comes with its RRSIG.
    let answer = site
        .a2c
        .command("drill")
        .args(["-D", "@127.0.0.1", "TXT", OWNER])
        .ran()
        .expect(0);
    assert!(
        answer
            .stdout
            .lines()
            .any(|l| l.starts_with(OWNER) && l.contains("RRSIG") && l.contains("TXT")),
        "no RRSIG over {OWNER}: {}",
        answer.stdout
    );
    let status = renewal(&site);
    assert_eq!(status["challenge"], "dns-persist-01", "{status}");
    assert_eq!(status["dns_changes"], false, "{status}");
    site.run(&["status"])
        .expect(0)
        .stdout_has("no (dns-persist-01)");

    // Two renewals: the challenge answered is dns-persist-01, nothing is
    // ever written to dnsextra/.
    for _ in 0..2 {
        let before = site.listing("dnsextra");
        assert!(before.is_empty(), "{before:?}");
        let serial = site.serial("www");
        let stamp = Stamp::of(&site.path("dnsextra"));
        let ran = site.run(&["issue", "--force", "www", "-v"]).expect(0);
        assert_eq!(
            Stamp::of(&site.path("dnsextra")),
            stamp,
            "dnsextra/ written"
        );
        assert_eq!(site.listing("dnsextra"), before);
        ran.stderr_has(&format!(
            "www: www.example.test: challenge dns-persist-01: TXT {OWNER} served on 1 server(s) naming the CA ({ISSUER}) and our account"
        ))
        .stderr_has("www: www.example.test: validated");
        assert!(!ran.stderr.contains("written"), "{}", ran.stderr);
        assert_ne!(site.serial("www"), serial);
        site.openssl_verify("www");
    }

    // The record leaves the zone: dns-01 through dnsextra/ again.
    drop(watch_on);
    let _watch_off = watch(&site, &nsd, false, false);
    assert!(
        serves(&site, &[]),
        "record still served: {}",
        watch_log(&site)
    );
    let status = renewal(&site);
    assert_eq!(status["challenge"], "dns-01", "{status}");
    assert_eq!(status["dns_changes"], true, "{status}");
    assert_eq!(
        status["why"],
        format!("TXT {OWNER}: no record on {}", site.a2c.dns_addr).as_str(),
        "{status}"
    );
    let serial = site.serial("www");
    let stamp = Stamp::of(&site.path("dnsextra"));
    let ran = site.run(&["issue", "--force", "www", "-v"]).expect(0);
    ran.stderr_has(&format!(
        "www: www.example.test: challenge dns-01: dns-persist-01 not used: TXT {OWNER}: no record on {}",
        site.a2c.dns_addr
    ))
    .stderr_has("www: www.example.test: TXT _acme-challenge.www.example.test. written");
    assert_ne!(
        Stamp::of(&site.path("dnsextra")),
        stamp,
        "dnsextra/ not written"
    );
    assert_ne!(site.serial("www"), serial);
    assert!(site.listing("dnsextra").is_empty());
}

#[test]
fn a_new_account_does_not_rely_on_the_old_record_and_the_zone_binds_both_until_it_issues() {
    let (mut site, nsd) = setup(false);
    let watch_on = watch(&site, &nsd, true, true);
    site.run(&["run"]).expect(0);
    let old = account_file(&site)["account"]
        .as_str()
        .expect("account")
        .to_owned();
    assert!(serves(&site, &[record(&old)]), "{}", watch_log(&site));

    // The account goes; its URI stays published until a new one comes.
    site.run(&["account", "deactivate", "--yes"]).expect(0);
    assert_eq!(account_file(&site)["account"], old.as_str());

    // A new account while the zone compiler is down (nsd serves the old
    // record): the issuer chooses dns-01 and, with nothing building its
    // fragment, gives up after the short propagation wait. The order is
    // kept for the next run.
    drop(watch_on);
    site.dns_timeout = "1s".into();
    let ran = site.run(&["issue", "--force", "www", "-v"]).expect(75);
    let info = account_file(&site);
    let new = info["account"].as_str().expect("account").to_owned();
    assert_ne!(new, old);
    assert_eq!(
        info["previous"],
        serde_json::json!([old.as_str()]),
        "{info}"
    );
    ran.stdout_has(&format!("account created: {new}"));
    ran.stderr_has(&format!(
            "www: www.example.test: challenge dns-01: dns-persist-01 not used: TXT {OWNER} on {}: names our previous account {old}, not relied on (ours is {new})",
            site.a2c.dns_addr
        ))
        .stderr_has("TXT _acme-challenge.www.example.test. written");
    assert!(site.listing("dnsextra").is_empty());

    // The zone compiler back: both bindings are served.
    site.dns_timeout = "20s".into();
    let _watch = watch(&site, &nsd, true, false);
    assert!(
        serves(&site, &[record(&new), record(&old)]),
        "{}",
        watch_log(&site)
    );
    // The order is taken up again and answered over dns-persist-01 with
    // the new account's record; then the old binding goes.
    let serial = site.serial("www");
    let stamp = Stamp::of(&site.path("dnsextra"));
    let ran = site.run(&["issue", "--force", "www", "-v"]).expect(0);
    assert_eq!(
        Stamp::of(&site.path("dnsextra")),
        stamp,
        "dnsextra/ written"
    );
    ran.stderr_has("www: resuming order")
        .stderr_has("www: www.example.test: challenge dns-persist-01")
        .stderr_has("www: previous accounts dropped from");
    assert_ne!(site.serial("www"), serial);
    assert_eq!(account_file(&site)["previous"], serde_json::json!([]));
    assert!(serves(&site, &[record(&new)]), "{}", watch_log(&site));
}

#[test]
fn just_in_time_the_ca_finds_the_record_and_nothing_is_answered_or_written() {
    let (site, nsd) = setup(true);
    let _watch = watch(&site, &nsd, true, true);
    site.run(&["run"]).expect(0);
    let account = account_file(&site)["account"]
        .as_str()
        .expect("account")
        .to_owned();
    assert!(serves(&site, &[record(&account)]), "{}", watch_log(&site));
    let serial = site.serial("www");
    let stamp = Stamp::of(&site.path("dnsextra"));
    let ran = site.run(&["issue", "--force", "www", "-v"]).expect(0);
    assert_eq!(
        Stamp::of(&site.path("dnsextra")),
        stamp,
        "dnsextra/ written"
    );
    ran.stderr_has("www: www.example.test: already authorized");
    assert!(!ran.stderr.contains("challenge dns-"), "{}", ran.stderr);
    assert_ne!(site.serial("www"), serial);
    let log = std::fs::read_to_string(&site.a2c.log).expect("log");
    assert!(
        log.contains("JIT dns-persist-01 validation succeeded"),
        "{log}"
    );
}
