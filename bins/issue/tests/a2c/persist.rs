//! acme2certifier's experimental dns-persist-01 as the issuer meets it:
//! offered beside dns-01 (which the issuer uses while no record is
//! served), and, with just-in-time validation, a served
//! `_validation-persist` record that makes the authorization valid before
//! any challenge is answered, as long as the record is one string (and
//! says policy=wildcard for a wildcard). A record split over two strings,
//! which the draft allows and acme2certifier cuts, is refused by the CA
//! once; the issuer then falls back while it is served unchanged.

use std::time::Duration;

use certdrop_testkit::a2c::A2cOpts;
use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::pebble::query_txt;
use certdrop_testkit::within;

use crate::site::{openssl_names, Site};

/// The issuer-domain-name these tests give acme2certifier.
const ISSUER: &str = "ca.example";

fn persist(jit: bool) -> A2cOpts {
    A2cOpts {
        persist_issuers: Some(vec![ISSUER.to_owned()]),
        persist_jit: jit,
        ..A2cOpts::default()
    }
}

#[test]
fn dns_persist_01_is_offered_with_the_issuer_domain_names() {
    let site = Site::new(persist(false));
    let (code, body) = site.a2c.get("/directory").expect("directory");
    assert_eq!(code, 200);
    let dir: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        dir["meta"]["caaIdentities"],
        serde_json::json!([ISSUER]),
        "{dir}"
    );
    let authz: serde_json::Value =
        serde_json::from_str(&site.a2c.new_authorization("www.example.test")).expect("JSON");
    let challenges = authz["challenges"].as_array().expect("challenges");
    let types: Vec<&str> = challenges
        .iter()
        .map(|c| c["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        ["http-01", "dns-01", "tls-alpn-01", "dns-persist-01"],
        "{authz}"
    );
    let persist = &challenges[3];
    assert_eq!(
        persist["issuer-domain-names"],
        serde_json::json!([ISSUER]),
        "{authz}"
    );
    assert!(persist.get("token").is_none(), "{authz}");
    let uri = persist["accounturi"].as_str().expect("accounturi");
    assert!(
        uri.starts_with("https://127.0.0.1:14000/acme/acct/"),
        "{uri}"
    );
}

#[test]
fn the_issuer_answers_dns01_when_dns_persist_01_is_offered_too() {
    let mut site = Site::new(persist(false));
    site.line("name = \"www\"\ndomains = [\"www.example.test\"]");
    let ran = site.run(&["run", "-v"]).expect(0);
    ran.stderr_has("TXT _acme-challenge.www.example.test. written");
    assert_eq!(
        openssl_names(&site.path("certs/www/cert.pem")),
        ["www.example.test"]
    );
}

#[test]
fn a_served_record_validates_just_in_time_with_no_dns_change() {
    let mut site = Site::new(persist(true));
    site.line("name = \"www\"\ndomains = [\"www.example.test\"]");
    // No record yet: dns-01 as usual, which creates the account.
    let ran = site.run(&["run", "-v"]).expect(0);
    ran.stderr_has("TXT _acme-challenge.www.example.test. written");
    let first = site.serial("www");
    let show: serde_json::Value =
        serde_json::from_str(&site.run(&["account", "show", "--json"]).expect(0).stdout)
            .expect("json");
    let account = show["account"].as_str().expect("account URL");
    // The standing record, served from a directory of its own (static
    // zone content, not the issuer's dnsextra/).
    site.dir.mkdirs(&["persist"]);
    let _records = site.a2c.relay_dnsextra(&site.path("persist"));
    let owner = "_validation-persist.www.example.test.";
    let value = format!("{ISSUER}; accounturi={account}");
    site.dir
        .write("persist/www", &format!("{owner} 60 IN TXT \"{value}\"\n"));
    let dns = site.a2c.dns_addr;
    let served = site.a2c.enter(|| {
        within(Duration::from_secs(10), || {
            query_txt(dns, owner).is_ok_and(|v| v.contains(&value))
        })
    });
    assert!(served, "{owner} not served");
    // The renewal: the authorization is valid when first fetched; the
    // issuer writes no fragment and answers no challenge.
    let ran = site.run(&["issue", "--force", "www", "-v"]).expect(0);
    ran.stdout_has("www: certificate issued (forced, same key)");
    assert!(!ran.stderr.contains("written"), "{}", ran.stderr);
    assert_ne!(site.serial("www"), first);
    let log = std::fs::read_to_string(&site.a2c.log).expect("log");
    assert!(
        log.contains("JIT dns-persist-01 validation succeeded"),
        "{log}"
    );
}

/// The zone nsd serves in [`a_record_split_over_two_strings_is_cut_by_acme2certifier`]:
/// `www` on the namespace's loopback, then `extra` lines.
fn zone(serial: u32, extra: &str) -> String {
    format!(
        "$ORIGIN example.test.\n$TTL 60\n\
         @ IN SOA ns1.example.test. hostmaster.example.test. ({serial} 3600 600 86400 60)\n\
         @ IN NS ns1.example.test.\nns1 IN A 127.0.0.1\nwww IN A 127.0.0.1\nmail IN A 127.0.0.1\n{extra}"
    )
}

#[test]
fn a_record_split_over_two_strings_is_cut_by_acme2certifier() {
    let mut site = Site::new(A2cOpts {
        challtestsrv: false,
        ..persist(true)
    });
    site.http_line("www", "");
    site.lines = site.lines.replace(
        "[\"www.example.test\"]",
        "[\"www.example.test\", \"mail.example.test\"]",
    );
    let zones = site.path("zones");
    std::fs::create_dir_all(&zones).expect("zones");
    std::fs::write(zones.join("example.test.zone"), zone(1, "")).expect("zone");
    let nsd = site.a2c.nsd(&site.path("nsd"), &zones, &["example.test"]);
    let serve = |serial: u32, record: &str| {
        std::fs::write(zones.join("example.test.zone"), zone(serial, record)).expect("zone");
        assert!(nsd.control(&["reload", "example.test"]), "{}", nsd.log());
        assert!(site.a2c.enter(|| nsd.wait_serial("example.test", serial)));
    };
    // The account, and a first certificate over http-01 (the names'
    // addresses from nsd).
    site.run(&["run"]).expect(0);
    let show: serde_json::Value =
        serde_json::from_str(&site.run(&["account", "show", "--json"]).expect(0).stdout)
            .expect("json");
    let account = show["account"].as_str().expect("account URL").to_owned();
    let hits = |site: &Site| site.web.as_ref().expect("web").hits().len();
    // The records split as the draft's own example splits them: a
    // resolver joins the strings; acme2certifier reads the first one
    // alone ("ca.example;"), finds no accounturi, and leaves the
    // authorizations pending. The issuer reads the records as the draft
    // says, answers dns-persist-01, and acme2certifier refuses the first
    // it validates, which ends the order: every record relied on is
    // refused at once and a new order in the same run uses http-01.
    let split = |name: &str| {
        format!("_validation-persist.{name} IN TXT (\"{ISSUER};\" \" accounturi={account}\")\n")
    };
    serve(2, &(split("www") + &split("mail")));
    let before = hits(&site);
    let ran = site.run(&["issue", "--force", "www", "-v"]).expect(0);
    for name in ["www", "mail"] {
        ran.stderr_has(&format!("www: {name}.example.test: challenge dns-persist-01: TXT _validation-persist.{name}.example.test. served"))
            .stderr_has(&format!("www: {name}.example.test: the CA refused TXT _validation-persist.{name}.example.test. for dns-persist-01: the next order uses http-01"))
            .stderr_has(&format!("www: {name}.example.test: challenge http-01: dns-persist-01 not used: the CA refused TXT _validation-persist.{name}.example.test. as served now"));
    }
    ran.stderr_has("; a new order at once with http-01")
        .stdout_has("www: certificate issued (forced, same key)");
    assert!(hits(&site) >= before + 2, "validated without http-01");
    let st: serde_json::Value =
        serde_json::from_slice(&site.read("state/www.json")).expect("state");
    assert_eq!(st["failures"], 0, "{st}");
    let log = std::fs::read_to_string(&site.a2c.log).expect("log");
    assert!(
        log.contains("dns-persist-01 missing accounturi: record=b'ca.example;'"),
        "{log}"
    );
    // status says so: renewals use http-01 while the refusal holds.
    let rows: serde_json::Value =
        serde_json::from_str(&site.run(&["status", "--json"]).expect(0).stdout).expect("JSON");
    let renewal = &rows[0]["renewal"];
    assert_eq!(renewal["challenge"], "http-01", "{renewal}");
    assert!(
        renewal["why"]
            .as_str()
            .is_some_and(|w| w.contains("the CA refused TXT _validation-persist.")),
        "{renewal}"
    );
    // The same records still served: not relied on again; http-01.
    let before = hits(&site);
    let ran = site.run(&["issue", "--force", "www", "-v"]).expect(0);
    ran.stderr_has("www: www.example.test: challenge http-01: dns-persist-01 not used: the CA refused TXT _validation-persist.www.example.test. as served now");
    assert!(
        !ran.stderr.contains("a new order at once"),
        "{}",
        ran.stderr
    );
    assert!(hits(&site) > before, "validated without http-01");
    // The same records as one string: valid when the authorization is
    // fetched.
    let whole = |name: &str| {
        format!("_validation-persist.{name} IN TXT \"{ISSUER}; accounturi={account}\"\n")
    };
    serve(3, &(whole("www") + &whole("mail")));
    let before = hits(&site);
    site.run(&["issue", "--force", "www"]).expect(0);
    assert_eq!(
        hits(&site),
        before,
        "http-01 asked although the record is served"
    );
    let log = std::fs::read_to_string(&site.a2c.log).expect("log");
    assert!(
        log.contains("JIT dns-persist-01 validation succeeded"),
        "{log}"
    );
}

#[test]
fn a_wildcard_needs_policy_wildcard_in_the_record() {
    let mut site = Site::new(A2cOpts {
        persist_wildcard: true,
        ..persist(true)
    });
    site.line("name = \"wild\"\ndomains = [\"example.test\", \"*.example.test\"]");
    // The account and a first certificate over dns-01.
    site.run(&["run"]).expect(0);
    let show: serde_json::Value =
        serde_json::from_str(&site.run(&["account", "show", "--json"]).expect(0).stdout)
            .expect("json");
    let account = show["account"].as_str().expect("account URL").to_owned();
    site.dir.mkdirs(&["persist"]);
    let _records = site.a2c.relay_dnsextra(&site.path("persist"));
    let owner = "_validation-persist.example.test.";
    let dns = site.a2c.dns_addr;
    let serve = |value: &str| {
        site.dir
            .write("persist/apex", &format!("{owner} 60 IN TXT \"{value}\"\n"));
        let served = site.a2c.enter(|| {
            within(Duration::from_secs(10), || {
                query_txt(dns, owner).is_ok_and(|v| v == [value])
            })
        });
        assert!(served, "{owner} {value} not served");
    };
    // Without the policy the record covers example.test alone: the
    // wildcard's authorization still wants dns-01.
    serve(&format!("{ISSUER}; accounturi={account}"));
    let ran = site.run(&["issue", "--force", "wild", "-v"]).expect(0);
    assert_eq!(
        ran.stderr
            .matches("TXT _acme-challenge.example.test. written")
            .count(),
        1,
        "{}",
        ran.stderr
    );
    // policy=wildcard (any case): both are valid at once, nothing written.
    serve(&format!("{ISSUER}; accounturi={account}; policy=Wildcard"));
    let ran = site.run(&["issue", "--force", "wild", "-v"]).expect(0);
    assert!(!ran.stderr.contains("written"), "{}", ran.stderr);
    assert_eq!(
        openssl_names(&site.path("certs/wild/cert.pem")),
        ["*.example.test", "example.test"]
    );
}

/// `chattr -i` on drop, so that the site's tree can go even when the
/// test fails.
struct Immutable(std::path::PathBuf);

impl Immutable {
    /// Make `dir` immutable (even root cannot add a file to it); the test
    /// depends on it, so it fails where the file system cannot.
    fn set(dir: std::path::PathBuf) -> Immutable {
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&dir)
            .status()
            .expect("chattr")
            .success();
        let guard = Immutable(dir);
        assert!(ok, "chattr +i {}", guard.0.display());
        assert!(
            std::fs::write(guard.0.join("probe"), b"x").is_err(),
            "{} is still writable",
            guard.0.display()
        );
        guard
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn an_account_file_that_cannot_be_written_after_an_issuance_is_a_warning() {
    let mut site = Site::new(persist(false));
    site.line("name = \"www\"\ndomains = [\"www.example.test\"]");
    site.run(&["run"]).expect(0);
    // A binding of an older account still published: the next issuance
    // drops it, and cannot.
    let file = site.path("certs/.accounts/default.json");
    let mut info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("account file")).expect("JSON");
    info["previous"] = serde_json::json!(["https://127.0.0.1:14000/acme/acct/old"]);
    std::fs::write(&file, info.to_string()).expect("write");
    let serial = site.serial("www");
    let _frozen = Immutable::set(site.path("certs/.accounts"));
    let ran = site.run(&["issue", "--force", "www"]).expect(0);
    ran.stdout_has("www: certificate issued (forced, same key)")
        .stderr_has("write account information");
    assert_ne!(site.serial("www"), serial);
    let st: serde_json::Value =
        serde_json::from_slice(&site.read("state/www.json")).expect("state");
    assert_eq!(st["failures"], 0, "{st}");
}

#[test]
fn a_server_that_does_not_answer_does_not_block_the_record_one_that_differs_does() {
    let mut site = Site::new(A2cOpts {
        challtestsrv: false,
        ..persist(false)
    });
    site.http_line("www", "");
    site.lines = site.lines.replace(
        "[\"www.example.test\"]",
        "[\"www.example.test\", \"mail.example.test\"]",
    );
    let zones = site.path("zones");
    std::fs::create_dir_all(&zones).expect("zones");
    std::fs::write(zones.join("example.test.zone"), zone(1, "")).expect("zone");
    let nsd = site.a2c.nsd(&site.path("nsd"), &zones, &["example.test"]);
    site.run(&["run"]).expect(0);
    let show: serde_json::Value =
        serde_json::from_str(&site.run(&["account", "show", "--json"]).expect(0).stdout)
            .expect("json");
    let account = show["account"].as_str().expect("account URL").to_owned();
    let record = |name: &str, account: &str| {
        format!("_validation-persist.{name} IN TXT \"{ISSUER}; accounturi={account}\"\n")
    };
    let ours = record("www", &account) + &record("mail", &account);
    std::fs::write(zones.join("example.test.zone"), zone(2, &ours)).expect("zone");
    assert!(nsd.control(&["reload", "example.test"]), "{}", nsd.log());
    assert!(site.a2c.enter(|| nsd.wait_serial("example.test", 2)));
    // A second authoritative server that is down (nothing listens there):
    // the record is relied on, and -v names the server once per name
    // without asking it again.
    site.more_dns = vec!["127.0.0.2:53".into()];
    let ran = site.run(&["issue", "--force", "www", "-v"]).expect(0);
    for name in ["www", "mail"] {
        ran.stderr_has(&format!(
            "www: {name}.example.test: challenge dns-persist-01: TXT _validation-persist.{name}.example.test. served on 1 server(s) naming the CA ({ISSUER}) and our account; no answer from 127.0.0.2:53"
        ));
    }
    let rows: serde_json::Value =
        serde_json::from_str(&site.run(&["status", "--json"]).expect(0).stdout).expect("JSON");
    assert_eq!(rows[0]["renewal"]["challenge"], "dns-persist-01", "{rows}");
    // A second server that answers with another account's record: not
    // relied on; http-01.
    let zones2 = site.path("zones2");
    std::fs::create_dir_all(&zones2).expect("zones2");
    let theirs = record("www", "https://127.0.0.1:14000/acme/acct/other")
        + &record("mail", "https://127.0.0.1:14000/acme/acct/other");
    std::fs::write(zones2.join("example.test.zone"), zone(2, &theirs)).expect("zone");
    let other = site
        .a2c
        .enter(|| Nsd::start(&site.path("nsd2"), &zones2, &["example.test"]));
    site.more_dns = vec![other.addr.to_string()];
    let ran = site.run(&["issue", "--force", "www", "-v"]).expect(0);
    ran.stderr_has(&format!(
        "www: www.example.test: challenge http-01: dns-persist-01 not used: TXT _validation-persist.www.example.test. on {}: names account https://127.0.0.1:14000/acme/acct/other, not ours",
        other.addr
    ));
}

#[test]
fn a_ca_that_stops_offering_dns_persist_01_is_forgotten_by_status() {
    let mut site = Site::new(A2cOpts::default());
    site.line("name = \"www\"\ndomains = [\"www.example.test\"]");
    site.run(&["run"]).expect(0);
    // What an earlier run kept when the CA still offered it.
    site.dir.write(
        "state/persist-default.json",
        &format!("{{\"issuer-domain-names\": [\"{ISSUER}\"]}}"),
    );
    site.run(&["issue", "--force", "www", "-v"])
        .expect(0)
        .stderr_has("www: www.example.test: challenge dns-01: the CA offers no dns-persist-01");
    assert!(!site.path("state/persist-default.json").exists());
    let rows: serde_json::Value =
        serde_json::from_str(&site.run(&["status", "--json"]).expect(0).stdout).expect("JSON");
    assert_eq!(
        rows[0]["renewal"]["why"], "the CA has not offered dns-persist-01",
        "{rows}"
    );
}
