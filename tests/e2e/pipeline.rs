//! certdrop-issue (dns-01) -> dnsextra/ -> certdrop-zone watch -> nsd ->
//! Pebble asking that nsd -> certificate; TLSA from the certificate served
//! by nsd; and the DANE-safe rollover checked through the real path.

use std::time::{Duration, Instant};

use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::pebble::{Pebble, PebbleOpts};
use certdrop_testkit::tree::write;
use certdrop_testkit::{Proc, Ran, Tree};

use crate::tree::{daemon, run};

const ZONE: &str = "example.test";

pub(crate) struct Site {
    pub(crate) dir: Tree,
    pub(crate) nsd: Nsd,
    pub(crate) pebble: Pebble,
    _watch: Option<Proc>,
}

impl Site {
    pub(crate) fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path(rel)
    }

    pub(crate) fn issue(&self, args: &[&str]) -> Ran {
        let config = self.path("issue.toml");
        let mut all = vec!["-c", config.to_str().expect("utf8")];
        all.extend_from_slice(args);
        run("certdrop-issue", &all)
    }
}

/// nsd for the zone, Pebble asking that nsd, a zone tree, `certdrop-zone
/// watch`, and an issuer configured with `line` (TOML body).
pub(crate) fn site(line: &str, zone_ttl: u32) -> Site {
    let dir = Tree::new();
    let d = dir.root();
    for sub in ["dnsextra", "certs", "phonehome", "zones", "build"] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    write(
        d,
        "soa",
        &format!("$TTL 60\n@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. ( 1 3600 900 1209600 1 )\n"),
    );
    write(d, "primary", "@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.0.1\n");
    write(d, "tlsa.map", "_443._tcp.www.example.test  www  3 1 1\n");
    let nsd = Nsd::start(&d.join("nsd"), &d.join("zones"), &[ZONE]);
    write(
        d,
        "zone.toml",
        &format!(
            "build = \"build\"\ninstall = \"zones\"\ndnsextra = \"dnsextra\"\ncerts = \"certs\"\nphonehome = \"phonehome\"\n\
             reload = {}\n[[zone]]\nname = \"{ZONE}\"\nsoa = \"soa\"\nprimary = \"primary\"\ntlsa_map = \"tlsa.map\"\n\
             signer = \"none\"\nttl = {zone_ttl}\n",
            nsd.reload_command()
        ),
    );
    let zone_conf = d.join("zone.toml");
    let watch = daemon(
        "certdrop-zone",
        // watch.log is its stderr: not syslog, the daemon's default.
        &[
            "-c",
            zone_conf.to_str().expect("utf8"),
            "-v",
            "watch",
            "--log",
            "stderr",
        ],
        &d.join("watch.log"),
    );
    // The watcher's first build: nsd serves the zone.
    nsd.wait_serial_change(ZONE, None).unwrap_or_else(|| {
        panic!(
            "zone not served: {}",
            std::fs::read_to_string(d.join("watch.log")).unwrap_or_default()
        )
    });
    let pebble = Pebble::start(PebbleOpts {
        dns_server: Some(nsd.addr),
        ..PebbleOpts::default()
    });
    std::fs::copy(&pebble.ca_bundle, d.join("acme-ca.pem")).expect("CA");
    write(
        d,
        "issue.toml",
        &format!(
            "directory = \"{}\"\nagree_terms = true\naccount = \"state/account.json\"\nca_bundle = \"acme-ca.pem\"\n\
             [store]\ncerts = \"certs\"\nkeys = \"keys\"\narchive = \"archive\"\nstate = \"state\"\n\
             [drop]\ndnsextra = \"dnsextra\"\n[dns]\nservers = [\"{}\"]\ntimeout = \"20s\"\ninterval = \"1s\"\n\
             [renew]\nvalidation_timeout = \"60s\"\n[[line]]\n{line}\n",
            pebble.directory_url, nsd.addr
        ),
    );
    Site {
        dir,
        nsd,
        pebble,
        _watch: Some(watch),
    }
}

/// Poll until `f` holds or `secs` pass.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Run `certdrop-issue ARGS` until it acts (exit 0), for a step the
/// issuer takes only once enough time has passed by its own clock (a key
/// age, a record served for 2 x TTL): the condition is the issuer's, so
/// the test does not guess how long it takes. Nothing to do yet is exit 2;
/// anything else fails at once.
fn once_due(s: &Site, args: &[&str], secs: u64) -> Ran {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let ran = s.issue(args);
        if ran.code != 2 || Instant::now() >= deadline {
            return ran.expect(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The TLSA 3 1 1 data nsd serves at the www owner.
pub(crate) fn served_tlsa(nsd: &Nsd) -> Vec<String> {
    nsd.ask("TLSA", "_443._tcp.www.example.test", false)
        .into_iter()
        .filter(|(_, t, _)| t == "TLSA")
        .map(|(_, _, r)| r.replace(' ', "").to_lowercase())
        .collect()
}

pub(crate) fn spki_sha256_of_pem(pem: &[u8]) -> String {
    let der = certdrop_core::certinfo::pem_blocks(pem, "PUBLIC KEY")
        .expect("pem")
        .remove(0);
    certdrop_core::certinfo::hex(&certdrop_core::certinfo::spki_sha256(&der))
}

#[test]
fn dns01_through_the_zone_compiler_and_nsd() {
    let s = site(
        "name = \"www\"\ndomains = [\"www.example.test\", \"example.test\", \"*.example.test\"]",
        60,
    );
    let ran = s.issue(&["run", "-v"]).expect(0);
    assert!(
        ran.stdout.contains("www: certificate issued"),
        "{}",
        ran.stderr
    );
    // The values were seen on nsd before Pebble was told.
    ran.stderr_has("visible on 1 server(s)");
    // The fragments are gone, and the watcher took them out of the zone.
    assert!(std::fs::read_dir(s.path("dnsextra"))
        .expect("rd")
        .next()
        .is_none());
    assert!(eventually(5, || s
        .nsd
        .ask("TXT", "_acme-challenge.www.example.test", false)
        .is_empty()));
    // TLSA for the new certificate's key, served by nsd.
    let want = format!(
        "311{}",
        spki_sha256_of_pem(&std::fs::read(s.path("certs/www/pubkey.pem")).expect("pubkey"))
    );
    assert!(
        eventually(5, || served_tlsa(&s.nsd).contains(&want)),
        "{:?} vs {want}",
        served_tlsa(&s.nsd)
    );
    let _ = &s.pebble;
}

#[test]
fn staged_key_waits_for_its_tlsa_record_on_the_servers() {
    // Generated records with TTL 1: the rollover needs 2 s of service.
    let s = site(
        "name = \"www\"\ndomains = [\"www.example.test\"]\nmax_key_age = \"1s\"\nrollover_wait = \"1s\"\ntlsa = [\"_443._tcp.www.example.test\"]",
        1,
    );
    s.issue(&["run"]).expect(0);
    let old = std::fs::read(s.path("certs/www/pubkey.pem")).expect("pubkey");
    // Once the key is max_key_age (1 s) old.
    let ran = once_due(&s, &["run"], 30);
    ran.stdout_has("key rollover started");
    let next = std::fs::read(s.path("certs/www/next/pubkey.pem")).expect("next");
    let next_tlsa = format!("311{}", spki_sha256_of_pem(&next));
    // The watcher publishes both keys' records.
    assert!(
        eventually(5, || served_tlsa(&s.nsd).contains(&next_tlsa)),
        "{:?}",
        served_tlsa(&s.nsd)
    );
    assert!(served_tlsa(&s.nsd).contains(&format!("311{}", spki_sha256_of_pem(&old))));
    // First sight of the record starts the clock: not yet.
    let ran = s.issue(&["run", "-v"]).expect(2);
    ran.stderr_has("next key's TLSA served everywhere since");
    // Once it has been served for 2 x TTL (2 s) and rollover_wait passed.
    let ran = once_due(&s, &["run"], 30);
    ran.stdout_has("(key rollover, new key)");
    assert_eq!(
        std::fs::read(s.path("certs/www/pubkey.pem")).expect("pubkey"),
        next
    );
    // The old key's record stays (certs/www/prev/) until retire_after
    // (a day by default), for services still serving the old certificate;
    // tests/e2e/jailed_rollover.rs sees it retired.
    assert_eq!(
        std::fs::read(s.path("certs/www/prev/pubkey.pem")).expect("prev/"),
        old
    );
    let old_tlsa = format!("311{}", spki_sha256_of_pem(&old));
    assert!(
        eventually(5, || served_tlsa(&s.nsd).len() == 2),
        "{:?}",
        served_tlsa(&s.nsd)
    );
    assert!(served_tlsa(&s.nsd).contains(&old_tlsa));
}
