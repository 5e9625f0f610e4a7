//! `certdrop-check dane` and the TLSA checks of `run`, against the real
//! thing: certificates from an openssl CA, TLSA records computed by the
//! openssl command line and served by a real nsd, a real nginx serving the
//! chain (TLS 1.2 + 1.3, and 1.3 only). On every case, `openssl s_client
//! -dane_tlsa_domain ... -dane_tlsa_rrdata ...` is fed the RRset nsd serves
//! and must agree: a match, a mismatch, and a next-key record (the RRset
//! of a DANE-safe rollover, before and after the new key is deployed).

use std::path::Path;
use std::process::{Command, Stdio};

use certdrop_testkit::nginx::{Nginx, Server};
use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::postfix::Postfix;
use certdrop_testkit::{free_port, sh, Ran};

use crate::site::{check, Site};

const ZONE: &str = "example.test";
const NAME: &str = "www.example.test";

/// The hex digest a shell pipeline of openssl prints (`... | sha256sum`).
fn digest(dir: &Path, pipeline: &str) -> String {
    let out = sh(dir, pipeline);
    out.split_whitespace().next().expect("digest").to_string()
}

/// TLSA 3 1 1 data of a private key's public half, by openssl.
fn key_311(dir: &Path, key: &str) -> String {
    digest(
        dir,
        &format!("openssl pkey -in {key} -pubout -outform DER | sha256sum"),
    )
}

/// The zone: www and ns1 at 127.0.0.1, then `tlsa` lines (owner, rdata).
fn zone(site: &Site, tlsa: &[(String, String)]) {
    let mut text = format!(
        "$ORIGIN {ZONE}.\n$TTL 60\n\
         @ IN SOA ns1 hostmaster (1 3600 600 86400 60)\n@ IN NS ns1\nns1 IN A 127.0.0.1\nwww IN A 127.0.0.1\nmail IN A 127.0.0.1\n"
    );
    for (owner, rdata) in tlsa {
        text.push_str(&format!("{owner} IN TLSA {rdata}\n"));
    }
    site.write(&format!("zones/{ZONE}.zone"), &text);
}

/// Rewrite the zone with `tlsa` and reload it; wait until nsd serves
/// exactly those records at each of their owners.
fn reload(site: &Site, nsd: &Nsd, tlsa: &[(String, String)]) {
    zone(site, tlsa);
    assert!(nsd.control(&["reload", ZONE]), "nsd-control reload");
    for (owner, _) in tlsa {
        let fqdn = format!("{owner}.{ZONE}");
        let mut want: Vec<String> = tlsa
            .iter()
            .filter(|(o, _)| o == owner)
            .map(|(_, r)| r.to_lowercase())
            .collect();
        want.sort();
        let served = || {
            let mut got: Vec<String> = nsd
                .ask("TLSA", &fqdn, false)
                .into_iter()
                .filter(|(_, t, _)| t == "TLSA")
                .map(|(_, _, r)| r.to_lowercase())
                .collect();
            got.sort();
            got
        };
        assert!(
            certdrop_testkit::within(std::time::Duration::from_secs(10), || served() == want),
            "nsd does not serve exactly {want:?} at {fqdn}"
        );
    }
}

/// `openssl s_client` with DANE, fed the TLSA RRset nsd serves at
/// `_PORT._tcp.NAME`, connecting to 127.0.0.1:`connect`: whether it
/// verified.
fn openssl_dane(nsd: &Nsd, port: u16, connect: u16) -> bool {
    openssl_dane_as(nsd, NAME, port, connect, &[])
}

/// [`openssl_dane`] for `name`, with more s_client arguments (`-starttls smtp`).
fn openssl_dane_as(nsd: &Nsd, name: &str, port: u16, connect: u16, more: &[&str]) -> bool {
    let rows = nsd.ask("TLSA", &format!("_{port}._tcp.{name}"), false);
    let mut cmd = Command::new("openssl");
    let to = format!("127.0.0.1:{connect}");
    cmd.args(["s_client", "-brief", "-verify_return_error"])
        .args(["-connect", &to, "-servername", name])
        .args(["-dane_tlsa_domain", name])
        .args(more);
    for (_, t, rdata) in &rows {
        if t == "TLSA" {
            cmd.args(["-dane_tlsa_rrdata", rdata]);
        }
    }
    let out = cmd.stdin(Stdio::null()).output().expect("openssl s_client");
    let said = String::from_utf8_lossy(&out.stderr);
    out.status.success() && said.contains("Verification: OK")
}

/// certdrop-check dane NAME PORT --server NSD ARGS.
fn dane(nsd: &Nsd, port: u16, args: &[&str]) -> Ran {
    let (port, server) = (port.to_string(), nsd.addr.to_string());
    let mut all = vec!["dane", NAME, &port, "--server", &server];
    all.extend_from_slice(args);
    check(&all)
}

#[test]
fn dane_agrees_with_openssl_on_match_mismatch_and_next_key() {
    let site = Site::new();
    let dir = site.root().to_path_buf();
    site.line("www", NAME, 60);
    let key = site.path("pki/www.key");
    let (port, tls13, dead) = (free_port(), free_port(), free_port());
    let fullchain = site.path("certs/www/fullchain.pem");
    let mut nginx = Nginx::start(
        &site.path("nginx"),
        &[
            Server::new(port, NAME, &fullchain, &key),
            Server::new(tls13, NAME, &fullchain, &key).protocols("TLSv1.3"),
        ],
    );
    let current = key_311(&dir, "pki/www.key");
    let next_key = site.stage_next("www");
    let next = key_311(&dir, "pki/www.next.key");
    let other = key_311(
        &dir,
        &site
            .pki
            .key(&site.path("pki/other.key"))
            .display()
            .to_string(),
    );
    let int_201 = digest(
        &dir,
        "openssl x509 -in pki/int.pem -outform DER | sha256sum",
    );
    let leaf_302 = digest(
        &dir,
        "openssl x509 -in certs/www/cert.pem -outform DER | sha512sum",
    );
    let tlsa = |p: u16, rdata: String| (format!("_{p}._tcp.www"), rdata);
    let records = vec![
        // The rollover's RRset: the current key and the staged next one.
        tlsa(port, format!("3 1 1 {current}")),
        tlsa(port, format!("3 1 1 {next}")),
        tlsa(tls13, format!("3 1 1 {current}")),
        tlsa(8443, format!("2 0 1 {int_201}")),
        tlsa(4443, format!("3 0 2 {leaf_302}")),
        // Someone else's key only: a mismatch.
        tlsa(2525, format!("3 1 1 {other}")),
        // Usage 1 needs a CA store: unusable here.
        tlsa(1443, format!("1 1 1 {current}")),
    ];
    zone(&site, &records);
    let nsd = Nsd::start(&site.path("nsd"), &site.path("zones"), &[ZONE]);
    let owner = format!("_{port}._tcp.{NAME}");
    let connect = format!("127.0.0.1:{port}");

    // A match: DANE-EE on the SPKI, the address from the zone, over TLS 1.3.
    let ran = dane(&nsd, port, &[]).expect(0);
    assert_eq!(
        ran.stdout,
        format!("{owner}: dane-validated (3 1 1 matches the served leaf)\n")
    );
    assert_eq!(ran.stderr, "");
    assert!(
        openssl_dane(&nsd, port, port),
        "openssl disagrees: no match"
    );
    // TLS 1.3 only is checked like any other.
    dane(&nsd, tls13, &[]).expect(0);
    assert!(openssl_dane(&nsd, tls13, tls13));
    // DANE-TA: the intermediate nginx sends above the leaf.
    let ran = dane(&nsd, 8443, &["--connect", &connect]).expect(0);
    assert_eq!(
        ran.stdout,
        format!(
            "_8443._tcp.{NAME}: dane-validated (2 0 1 matches served certificate 2 of 2, \
             CN=Test Intermediate; the path from the leaf to it is not validated)\n"
        )
    );
    assert!(openssl_dane(&nsd, 8443, port));
    // DANE-EE on the whole certificate, SHA-512.
    dane(&nsd, 4443, &["--connect", &connect])
        .expect(0)
        .stdout_has("(3 0 2 matches the served leaf)");
    assert!(openssl_dane(&nsd, 4443, port));
    // -v says what was served, on stderr.
    dane(&nsd, port, &["-v"])
        .expect(0)
        .stderr_has("served 2 certificate(s) over TLSv1.3");

    // A mismatch: 65, and openssl refuses it too.
    let ran = dane(&nsd, 2525, &["--connect", &connect, "--protocol", "tls"]).expect(65);
    assert_eq!(
        ran.stderr,
        format!("certdrop-check: _2525._tcp.{NAME}: mismatch: no TLSA record matches the served chain\n")
    );
    assert!(!openssl_dane(&nsd, 2525, port), "openssl disagrees: match");
    // Port 2525 is not SMTP's: without --protocol, implicit TLS too.
    dane(&nsd, 2525, &["--connect", &connect]).expect(65);
    // Only an unusable record: 66, without connecting.
    let ran = dane(&nsd, 1443, &["--connect", &format!("127.0.0.1:{dead}")]).expect(66);
    ran.stderr_has("no usable TLSA record (1 1 1 ");
    // No record at all: 66.
    let ran = dane(&nsd, 443, &["--connect", &connect]).expect(66);
    assert_eq!(
        ran.stderr,
        format!(
            "certdrop-check: _443._tcp.{NAME}: no TLSA record at {}\n",
            nsd.addr
        )
    );
    // Nothing listening, no DNS server: 69, one line each.
    dane(&nsd, port, &["--connect", &format!("127.0.0.1:{dead}")])
        .expect(69)
        .one_error("refused");
    let ran = check(&[
        "dane",
        NAME,
        "443",
        "--server",
        &format!("127.0.0.1:{dead}"),
        "--timeout",
        "1s",
    ])
    .expect(69);
    assert!(
        ran.stderr.starts_with("certdrop-check: DNS TLSA "),
        "{}",
        ran.stderr
    );
    // nsd is no validating resolver: its answers carry no AD bit, refused (65).
    let resolver = nsd.addr.to_string();
    let ran = check(&["dane", NAME, &port.to_string(), "--resolver", &resolver]).expect(65);
    ran.stderr_has("did not validate the answer (no AD bit)");

    // The TLSA checks of `run`: the endpoint's record matches what is
    // served; the staged next key has its record.
    site.publish("www");
    site.config(&format!(
        "dns_server = \"{}\"\n[[line]]\nname = \"www\"\nendpoint = [\
         {{ connect = \"{connect}\", sni = \"{NAME}\" }},\
         {{ connect = \"{connect}\", sni = \"{NAME}\", tlsa = \"_2525._tcp.{NAME}\" }}]\n",
        nsd.addr
    ));
    let v = site.json(&[], 65);
    let t0 = &v["lines"][0]["endpoints"][0]["tlsa"];
    assert_eq!(t0["owner"], owner);
    assert_eq!(t0["records"], 2);
    assert_eq!(t0["current"], true);
    assert_eq!(t0["next"], true);
    assert_eq!(t0["matched"], "3 1 1");
    let t1 = &v["lines"][0]["endpoints"][1]["tlsa"];
    assert_eq!(
        (&t1["current"], &t1["next"]),
        (&false.into(), &false.into())
    );
    let ran = site.check(&["run"]).expect(65);
    ran.stdout_has(&format!(
        "CRITICAL: www: _2525._tcp.{NAME}: no TLSA record matches what {NAME}@{connect} serves"
    ));
    ran.stdout_has(&format!(
        "WARNING: www: _2525._tcp.{NAME}: no TLSA record for the staged next key yet"
    ));

    // The rollover: a certificate on the next key, nginx restarted on it.
    // The next-key record now carries the match, for both tools.
    std::fs::copy(&next_key, &key).expect("promote the next key");
    std::fs::remove_dir_all(site.path("certs/www/next")).expect("unstage");
    site.line("www", NAME, 90);
    drop(nginx);
    nginx = Nginx::start(
        &site.path("nginx2"),
        &[Server::new(port, NAME, &fullchain, &key)],
    );
    dane(&nsd, port, &[]).expect(0);
    assert!(
        openssl_dane(&nsd, port, port),
        "openssl disagrees on the next-key record"
    );
    // The old key's record alone would not do: both say mismatch.
    reload(&site, &nsd, &[tlsa(port, format!("3 1 1 {current}"))]);
    dane(&nsd, port, &[]).expect(65);
    assert!(!openssl_dane(&nsd, port, port));
    drop(nginx);
}

/// Mail, where DANE matters most: postfix on a loopback port in port 25's
/// role (STARTTLS offered), the records at `_25._tcp`; `dane` speaks SMTP
/// by the port, openssl s_client -starttls smtp agrees; `run` checks the
/// endpoint with `protocol = "smtp"`.
#[test]
fn dane_over_smtp_starttls_against_postfix() {
    const MAIL: &str = "mail.example.test";
    let site = Site::new();
    let dir = site.root().to_path_buf();
    site.line("mail", MAIL, 60);
    site.publish("mail");
    let smtp = free_port();
    let postfix = Postfix::start(
        &site.path("postfix"),
        smtp,
        &site.path("pub/mail/fullchain.pem"),
        &site.path("pki/mail.key"),
    );
    let current = key_311(&dir, "pki/mail.key");
    let other = key_311(
        &dir,
        &site
            .pki
            .key(&site.path("pki/other.key"))
            .display()
            .to_string(),
    );
    zone(
        &site,
        &[
            ("_25._tcp.mail".to_string(), format!("3 1 1 {current}")),
            ("_26._tcp.mail".to_string(), format!("3 1 1 {other}")),
        ],
    );
    let nsd = Nsd::start(&site.path("nsd"), &site.path("zones"), &[ZONE]);
    let server = nsd.addr.to_string();
    let connect = format!("127.0.0.1:{smtp}");
    let ran = check(&[
        "dane",
        MAIL,
        "25",
        "--server",
        &server,
        "--connect",
        &connect,
        "-v",
    ]);
    let ran = ran.expect(0);
    assert_eq!(
        ran.stdout,
        format!("_25._tcp.{MAIL}: dane-validated (3 1 1 matches the served leaf)\n"),
        "{}",
        postfix.log()
    );
    ran.stderr_has("(smtp) served 2 certificate(s)");
    assert!(openssl_dane_as(
        &nsd,
        MAIL,
        25,
        smtp,
        &["-starttls", "smtp"]
    ));
    // Someone else's key: both say no.
    let args = [
        "dane",
        MAIL,
        "26",
        "--server",
        &server,
        "--connect",
        &connect,
    ];
    check(&[&args[..], &["--protocol", "smtp"]].concat())
        .expect(65)
        .one_error("mismatch");
    assert!(!openssl_dane_as(
        &nsd,
        MAIL,
        26,
        smtp,
        &["-starttls", "smtp"]
    ));
    // Port 26 is no SMTP port: implicit TLS meets an SMTP greeting, 69.
    check(&args).expect(69).one_error("tls");

    site.config(&format!(
        "dns_server = \"{server}\"\n[[line]]\nname = \"mail\"\nendpoint = [\
         {{ connect = \"{connect}\", sni = \"{MAIL}\", protocol = \"smtp\", tlsa = \"_25._tcp.{MAIL}\" }}]\n"
    ));
    let v = site.json(&[], 0);
    let e = &v["lines"][0]["endpoints"][0];
    assert_eq!(e["protocol"], "smtp");
    assert_eq!(e["matches_published"], true);
    assert_eq!(e["tlsa"]["current"], true, "{v:#}");
    assert_eq!(v["status"], "ok");
}

#[test]
fn dane_rejects_bad_arguments() {
    let ran = check(&["dane", "www..example.test", "443", "--server", "127.0.0.1"]).expect(64);
    ran.stderr_has("empty label");
    check(&["dane", NAME, "0", "--server", "127.0.0.1"]).expect(64);
    let ran = check(&["dane", NAME, "443", "--server", "ns1.example.test"]).expect(64);
    ran.stderr_has("no host names");
    check(&["dane", NAME, "443"])
        .expect(64)
        .stderr_has("--server");
    check(&[
        "dane",
        NAME,
        "443",
        "--server",
        "127.0.0.1",
        "--protocol",
        "gopher",
    ])
    .expect(64)
    .stderr_has("unknown protocol");
}
