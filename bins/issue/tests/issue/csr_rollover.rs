//! A CSR line's keys, which certdrop never sees: issued from the CSR a
//! remote site sent (`inbox/<site>/<line>/csr.pem`), renewed with the same
//! key, and rolled over DANE-safely when a `next.csr.pem` arrives beside
//! it: its public half is published first, and the certificate for it is
//! obtained only once every authoritative server (a real nsd serving a
//! zone the test writes, TTL 1) has served its TLSA record for 2 x TTL.
//! CSRs that are broken, for other names or for weak keys are refused in
//! one line and replace nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use certdrop_core::{certinfo, clock};
use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::{Ran, Run};

use crate::site::{openssl, openssl_pubkey_of_cert, run_bin, Site};

const ZONE: &str = "example.test";
const OWNER: &str = "_443._tcp.www.example.test";

/// Make `key` (ECDSA P-256 unless `alg` says otherwise, as `openssl
/// genpkey` takes it) and write its CSR for `names` to `csr`, the way a
/// service site does: `openssl req -new -key`.
fn make_csr(key: &Path, alg: &[&str], names: &[&str], csr: &Path) {
    let alg = match alg.is_empty() {
        true => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
        false => alg,
    };
    std::process::Command::new("openssl")
        .args(["genpkey", "-out"])
        .arg(key)
        .args(alg)
        .ran()
        .expect(0);
    let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    std::process::Command::new("openssl")
        .args(["req", "-new", "-key"])
        .arg(key)
        .args(["-subj", &format!("/CN={}", names[0])])
        .args(["-addext", &format!("subjectAltName={}", san.join(","))])
        .arg("-out")
        .arg(csr)
        .ran()
        .expect(0);
}

/// The public key PEM of a private key, as openssl prints it.
fn pubkey(key: &Path) -> String {
    openssl(&["pkey", "-pubout", "-in"], key)
}

/// TLSA 3 1 1 association data (hex) of a private key's public half.
fn tlsa_311(key: &Path) -> String {
    let der = certinfo::pem_blocks(pubkey(key).as_bytes(), "PUBLIC KEY")
        .expect("PEM")
        .remove(0);
    certinfo::hex(&certinfo::spki_sha256(&der))
}

/// Pebble and the webroot (http-01), an nsd serving example.test, and a
/// CSR line `www` whose CSR sits in an inbox; `extra` adds line keys.
struct Fx {
    site: Site,
    nsd: Nsd,
    serial: u32,
    inbox: PathBuf,
}

impl Fx {
    fn new(tlsa: &[String], extra: &str) -> Fx {
        let mut site = Site::start();
        let inbox = site.path("inbox/site3/www");
        std::fs::create_dir_all(&inbox).expect("inbox");
        make_csr(
            &site.path("key1.pem"),
            &[],
            &["www.example.test"],
            &inbox.join("csr.pem"),
        );
        std::fs::create_dir_all(site.path("zones")).expect("zones");
        std::fs::write(site.path("zones/example.test.zone"), zone(1, tlsa)).expect("zone");
        let nsd = Nsd::start(&site.path("nsd"), &site.path("zones"), &[ZONE]);
        site.line(&format!(
            "name = \"www\"\ndomains = [\"www.example.test\"]\nchallenge = \"http-01\"\ncsr = \"{}\"\n{extra}",
            inbox.join("csr.pem").display()
        ));
        Fx {
            site,
            nsd,
            serial: 1,
            inbox,
        }
    }

    /// Run the binary; the line's TLSA records are asked of the nsd.
    fn run(&self, args: &[&str]) -> Ran {
        run_bin(&self.config(), args)
    }

    /// Write issue.toml, the line's TLSA records asked of the nsd.
    fn config(&self) -> PathBuf {
        let text = self.site.config_text().replace(
            &self.site.pebble.dns_addr.to_string(),
            &self.nsd.addr.to_string(),
        );
        let config = self.site.path("issue.toml");
        std::fs::write(&config, text).expect("config");
        config
    }

    /// [`Fx::run`], failing the test if the run does not end by itself
    /// within a minute (a reader blocked on a FIFO never would).
    fn run_ended(&self, args: &[&str]) -> Ran {
        std::process::Command::new(env!("CARGO_BIN_EXE_certdrop-issue"))
            .arg("-c")
            .arg(self.config())
            .args(args)
            .env_remove("SSL_CERT_FILE")
            .env_remove("CERTDROP_ISSUE_CONFIG")
            .ended_within(Duration::from_secs(60))
    }

    /// Serve these TLSA records from now on (and wait until nsd does).
    fn serve(&mut self, tlsa: &[String]) {
        self.serial += 1;
        std::fs::write(
            self.site.path("zones/example.test.zone"),
            zone(self.serial, tlsa),
        )
        .expect("zone");
        assert!(self.nsd.control(&["reload", ZONE]), "{}", self.nsd.log());
        assert_eq!(
            self.nsd.wait_serial_change(ZONE, Some(self.serial - 1)),
            Some(self.serial),
            "{}",
            self.nsd.log()
        );
    }

    fn serial(&self) -> String {
        openssl(
            &["x509", "-noout", "-serial", "-in"],
            &self.site.path("certs/www/cert.pem"),
        )
    }

    fn cert_pubkey(&self) -> String {
        openssl_pubkey_of_cert(&self.site.path("certs/www/cert.pem"))
    }

    /// Run `run` until the issuer acts (exit 0), for a step its own clock
    /// decides (a record served for 2 x TTL); nothing yet is exit 2.
    fn once_due(&self, secs: u64) -> Ran {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let ran = self.run(&["run"]);
            if ran.code != 2 || Instant::now() >= deadline {
                return ran.expect(0);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// example.test with TTL 1, its name server, and 3 1 1 records at OWNER.
fn zone(serial: u32, tlsa: &[String]) -> String {
    let mut z = format!(
        "$ORIGIN {ZONE}.\n$TTL 1\n@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. ({serial} 3600 600 86400 1)\n\
         @ IN NS ns1.{ZONE}.\nns1 IN A 127.0.0.1\n"
    );
    for t in tlsa {
        z.push_str(&format!("{OWNER}. IN TLSA 3 1 1 {t}\n"));
    }
    z
}

#[test]
fn a_next_csr_is_used_only_once_its_tlsa_record_is_served() {
    let mut fx = Fx::new(
        &[],
        "tlsa = [\"_443._tcp.www.example.test\"]\nrollover_wait = \"1s\"",
    );
    let key1 = fx.site.path("key1.pem");
    fx.serve(&[tlsa_311(&key1)]);
    // First issuance from the CSR at once; a renewal keeps its key.
    fx.run(&["run"])
        .expect(0)
        .stdout_has("www: certificate issued (first certificate, from CSR)");
    assert_eq!(fx.cert_pubkey(), pubkey(&key1));
    let first = fx.serial();
    fx.run(&["issue", "--force", "www"])
        .expect(0)
        .stdout_has("(forced, from CSR)");
    assert_ne!(fx.serial(), first);
    assert_eq!(fx.cert_pubkey(), pubkey(&key1), "TLSA 3 1 1 stays valid");
    let renewed = fx.serial();
    assert_eq!(fx.run(&["run"]).expect(2).stdout, "");

    // The site stages its next key: its public half is published first.
    let key2 = fx.site.path("key2.pem");
    make_csr(
        &key2,
        &[],
        &["www.example.test"],
        &fx.inbox.join("next.csr.pem"),
    );
    fx.run(&["run"])
        .expect(0)
        .stdout_has("www: key rollover started: next key from ");
    assert_eq!(
        String::from_utf8(fx.site.read("certs/www/next/pubkey.pem")).expect("utf8"),
        pubkey(&key2)
    );
    assert_eq!(fx.serial(), renewed);
    fx.run(&["status"])
        .expect(0)
        .stdout_has("next.csr.pem staged since ");

    // Not served: however long it has been published, no certificate.
    fx.site.backdate("www", &["next_published"], 3600);
    let ran = fx.run(&["run", "-v"]).expect(2);
    ran.stderr_has("www: waiting for the next key's TLSA: _443._tcp.www.example.test.: no TLSA record for the next key on");
    assert_eq!(fx.serial(), renewed);

    // Served (the zone now has both keys' records): first sight starts
    // the clock, and the certificate for the next key comes 2 x TTL later.
    fx.serve(&[tlsa_311(&key1), tlsa_311(&key2)]);
    let seen = clock::now();
    let ran = fx.run(&["run", "-v"]).expect(2);
    ran.stderr_has("www: next key's TLSA served everywhere since");
    assert_eq!(fx.serial(), renewed);
    let st = fx.run(&["status", "--json"]).expect(0);
    let rows: serde_json::Value = serde_json::from_str(&st.stdout).expect("JSON");
    let staged = &rows[0]["staged"];
    assert!(
        staged["csr"]
            .as_str()
            .is_some_and(|c| c.ends_with("/next.csr.pem"))
            && staged["since"].is_string()
            && staged["served_since"].is_string(),
        "{}",
        st.stdout
    );
    fx.once_due(30)
        .stdout_has("www: certificate issued (key rollover, from the next CSR)");
    assert!(clock::now() >= seen + 2, "2 x TTL (1 s) since it was seen");
    assert_eq!(fx.cert_pubkey(), pubkey(&key2));
    assert!(!fx.site.path("certs/www/next").exists());
    // The old key's record stays until retire_after.
    assert_eq!(
        String::from_utf8(fx.site.read("certs/www/prev/pubkey.pem")).expect("utf8"),
        pubkey(&key1)
    );
    let rolled = fx.serial();
    assert_eq!(fx.run(&["run"]).expect(2).stdout, "");

    // The site switches: csr.pem is the next CSR, next.csr.pem goes.
    // Nothing to do; a renewal keeps the new key.
    std::fs::copy(fx.inbox.join("next.csr.pem"), fx.inbox.join("csr.pem")).expect("switch");
    std::fs::remove_file(fx.inbox.join("next.csr.pem")).expect("rm");
    assert_eq!(fx.run(&["run"]).expect(2).stdout, "");
    assert_eq!(fx.serial(), rolled);
    assert!(!fx.site.path("certs/www/next").exists());
    fx.run(&["issue", "--force", "www"])
        .expect(0)
        .stdout_has("(forced, from CSR)");
    assert_eq!(fx.cert_pubkey(), pubkey(&key2));
}

#[test]
fn refused_csrs_replace_nothing() {
    let fx = Fx::new(&[], "");
    fx.run(&["run"]).expect(0);
    let cert = fx.site.read("certs/www/cert.pem");
    let next = fx.inbox.join("next.csr.pem");
    let weak = fx.site.path("weak.pem");
    // A weak next key: one line, nothing staged.
    make_csr(
        &weak,
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
        &["www.example.test"],
        &next,
    );
    fx.run(&["run"])
        .one_error("next.csr.pem: CSR refused: weak key: RSA of 1024 bits (at least 2048)")
        .expect(65);
    assert!(!fx.site.path("certs/www/next").exists());
    fx.run(&["-n"])
        .one_error("next.csr.pem: CSR refused: weak key")
        .expect(65);
    // A sound one is staged; a damaged copy after it withdraws nothing.
    make_csr(&fx.site.path("key2.pem"), &[], &["www.example.test"], &next);
    fx.run(&["run"])
        .expect(0)
        .stdout_has("key rollover started");
    let staged = fx.site.read("certs/www/next/pubkey.pem");
    let good = std::fs::read(&next).expect("read");
    std::fs::write(&next, &good[..good.len() / 2]).expect("truncate");
    fx.run(&["run"])
        .one_error("next.csr.pem: CSR refused: expected exactly one CERTIFICATE REQUEST block")
        .expect(65);
    assert_eq!(fx.site.read("certs/www/next/pubkey.pem"), staged);
    // Withdrawn by the site before the switch: withdrawn here too.
    std::fs::remove_file(&next).expect("rm");
    fx.run(&["run"])
        .expect(0)
        .stdout_has("www: staged next key withdrawn (no CSR requests it any more)");
    assert!(!fx.site.path("certs/www/next").exists());
    assert_eq!(fx.run(&["run"]).expect(2).stdout, "");
    // A CSR file for a new key is a staged key too; the certificate stays.
    std::fs::write(&next, &good).expect("restore");
    std::fs::rename(&next, fx.inbox.join("csr.pem")).expect("replace");
    fx.run(&["run"])
        .expect(0)
        .stdout_has("www/csr.pem published in");
    assert_eq!(fx.site.read("certs/www/next/pubkey.pem"), staged);
    assert_eq!(fx.site.read("certs/www/cert.pem"), cert);
    // A CSR file for other names: the line is refused, even forced.
    make_csr(
        &fx.site.path("key3.pem"),
        &[],
        &["other.example.test"],
        &fx.inbox.join("csr.pem"),
    );
    fx.run(&["issue", "--force", "www"])
        .one_error("csr.pem: CSR refused: names [\"other.example.test\"] differ from line 'www'")
        .expect(65);
    assert_eq!(fx.site.read("certs/www/cert.pem"), cert);
    assert_eq!(fx.site.read("certs/www/next/pubkey.pem"), staged);
}

/// The inbox as `publish pull` makes it: `inbox/site3/www` a symlink to a
/// version directory, switched by rename. Both CSRs come from the version
/// the link names; a CSR file that is a FIFO is refused in one line at
/// once, never read (the run would block on it forever).
#[test]
fn csrs_come_from_the_inbox_version_and_a_fifo_is_refused() {
    let fx = Fx::new(&[], "");
    let versions = fx.inbox.with_file_name(".v");
    std::fs::create_dir_all(&versions).expect(".v");
    std::fs::rename(&fx.inbox, versions.join("www.1")).expect("version 1");
    let switch = |version: &str| {
        let tmp = fx.inbox.with_file_name(".www.tmp");
        std::os::unix::fs::symlink(format!(".v/{version}"), &tmp).expect("symlink");
        std::fs::rename(&tmp, &fx.inbox).expect("switch");
    };
    switch("www.1");
    fx.run(&["run"])
        .expect(0)
        .stdout_has("www: certificate issued (first certificate, from CSR)");
    assert_eq!(fx.cert_pubkey(), pubkey(&fx.site.path("key1.pem")));
    let cert = fx.site.read("certs/www/cert.pem");
    // A version whose csr.pem is a FIFO: refused, nothing changes.
    let v2 = versions.join("www.2");
    std::fs::create_dir(&v2).expect("version 2");
    nix::unistd::mkfifo(&v2.join("csr.pem"), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    switch("www.2");
    fx.run_ended(&["run"])
        .one_error("www/csr.pem: read CSR: a FIFO, not a regular file")
        .expect(65);
    assert_eq!(fx.site.read("certs/www/cert.pem"), cert);
    // A version with a next CSR beside the current one: staged from it.
    let v3 = versions.join("www.3");
    std::fs::create_dir(&v3).expect("version 3");
    std::fs::copy(versions.join("www.1/csr.pem"), v3.join("csr.pem")).expect("csr");
    let key2 = fx.site.path("key2.pem");
    make_csr(&key2, &[], &["www.example.test"], &v3.join("next.csr.pem"));
    switch("www.3");
    fx.run_ended(&["run"])
        .expect(0)
        .stdout_has("www: key rollover started: next key from ");
    assert_eq!(
        String::from_utf8(fx.site.read("certs/www/next/pubkey.pem")).expect("utf8"),
        pubkey(&key2)
    );
    assert_eq!(fx.site.read("certs/www/cert.pem"), cert);
}
