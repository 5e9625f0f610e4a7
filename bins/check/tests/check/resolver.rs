//! `dane --resolver` and `resolver =` against a real validating resolver:
//! the zone signed by ldns-signzone and served by nsd, a real unbound in
//! front of it with the zone's key-signing key as its trust anchor. Its
//! answers carry the AD bit, so the records are used; an unbound anchored
//! to a key the zone does not have finds the answer bogus (SERVFAIL), and
//! nothing is used.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use certdrop_testkit::nginx::{Nginx, Server};
use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::{free_port, sh, within, Proc};

use crate::site::{check, Site};

const ZONE: &str = "example.test";
const NAME: &str = "www.example.test";

/// A validating unbound on loopback in `dir`, forwarding nothing: the zone
/// is a stub at `nsd`, trusted through the DNSKEY in `anchor`.
fn unbound(dir: &Path, nsd: &Nsd, anchor: &Path) -> (Proc, u16) {
    std::fs::create_dir_all(dir).expect("unbound dir");
    let port = free_port();
    let d = dir.display();
    let conf = format!(
        "server:\n  interface: 127.0.0.1\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n  \
         directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  use-syslog: no\n  logfile: \"{d}/unbound.log\"\n  \
         do-not-query-localhost: no\n  do-ip6: no\n  local-zone: \"test.\" nodefault\n  qname-minimisation: no\n  \
         module-config: \"validator iterator\"\n  trust-anchor-file: \"{}\"\n  val-log-level: 2\n\
         remote-control:\n  control-enable: no\n\
         stub-zone:\n  name: \"{ZONE}\"\n  stub-addr: 127.0.0.1@{}\n",
        anchor.display(),
        nsd.addr.port()
    );
    std::fs::write(dir.join("unbound.conf"), conf).expect("unbound.conf");
    let child = Command::new("unbound")
        .args(["-d", "-c"])
        .arg(dir.join("unbound.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("unbound");
    let proc = Proc(child);
    // Ready when it listens (it binds UDP and TCP together).
    let up = within(Duration::from_secs(15), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(
        up,
        "unbound does not answer: {}",
        std::fs::read_to_string(dir.join("unbound.log")).unwrap_or_default()
    );
    (proc, port)
}

#[test]
fn a_validating_resolver_is_believed_and_a_bogus_answer_is_not() {
    let site = Site::new();
    let dir = site.root().to_path_buf();
    site.line("www", NAME, 60);
    site.publish("www");
    let port = free_port();
    let _nginx = Nginx::start(
        &site.path("nginx"),
        &[Server::new(
            port,
            NAME,
            &site.path("certs/www/fullchain.pem"),
            &site.path("pki/www.key"),
        )],
    );
    let spki = sh(
        &dir,
        "openssl pkey -in pki/www.key -pubout -outform DER | sha256sum",
    );
    let spki = spki.split_whitespace().next().expect("digest");
    site.write(
        "zones/unsigned",
        &format!(
            "$ORIGIN {ZONE}.\n$TTL 60\n@ IN SOA ns1 hostmaster (1 3600 600 86400 60)\n@ IN NS ns1\n\
             ns1 IN A 127.0.0.1\nwww IN A 127.0.0.1\n_{port}._tcp.www IN TLSA 3 1 1 {spki}\n"
        ),
    );
    // A key-signing key, a zone-signing key, and a key the zone never sees.
    std::fs::create_dir_all(site.path("keys")).expect("keys");
    let keygen = |args: &str| {
        sh(
            &site.path("keys"),
            &format!("ldns-keygen -a ECDSAP256SHA256 {args}"),
        )
        .trim()
        .to_string()
    };
    let ksk = keygen(&format!("-k {ZONE}"));
    let zsk = keygen(ZONE);
    let stranger = keygen(&format!("-k {ZONE}"));
    // Signatures valid from yesterday (clocks of the resolver and signer agree anyway).
    sh(
        &dir,
        &format!(
            "ldns-signzone -i \"$(date -u -d yesterday +%Y%m%d)\" -f zones/{ZONE}.zone zones/unsigned keys/{zsk} keys/{ksk}"
        ),
    );
    let nsd = Nsd::start(&site.path("nsd"), &site.path("zones"), &[ZONE]);
    let (_good, good) = unbound(
        &site.path("unbound"),
        &nsd,
        &site.path(&format!("keys/{ksk}.key")),
    );
    let resolver = format!("127.0.0.1:{good}");
    let connect = format!("127.0.0.1:{port}");

    // Validated: the AD bit is there, the record matches; the address
    // comes from the resolver too.
    let ran = check(&["dane", NAME, &port.to_string(), "--resolver", &resolver]);
    if ran.code != 0 {
        // What the resolver said, and its log, to see why.
        let drill = Command::new("drill")
            .args([
                "-D",
                "-p",
                &good.to_string(),
                "@127.0.0.1",
                "TLSA",
                &format!("_{port}._tcp.{NAME}"),
            ])
            .output()
            .expect("drill");
        panic!(
            "{ran:?}\n{}\n{}",
            String::from_utf8_lossy(&drill.stdout),
            std::fs::read_to_string(site.path("unbound/unbound.log")).unwrap_or_default()
        );
    }
    assert_eq!(
        ran.stdout,
        format!("_{port}._tcp.{NAME}: dane-validated (3 1 1 matches the served leaf)\n")
    );
    site.config(&format!(
        "resolver = \"{resolver}\"\n[[line]]\nname = \"www\"\nendpoint = [{{ connect = \"{connect}\", sni = \"{NAME}\" }}]\n"
    ));
    let v = site.json(&[], 0);
    assert_eq!(
        v["lines"][0]["endpoints"][0]["tlsa"]["current"], true,
        "{v:#}"
    );

    // Anchored to a key the zone does not have: bogus, SERVFAIL, nothing used (69).
    let (_bad, bad) = unbound(
        &site.path("unbound-bad"),
        &nsd,
        &site.path(&format!("keys/{stranger}.key")),
    );
    let resolver = format!("127.0.0.1:{bad}");
    let ran = check(&[
        "dane",
        NAME,
        &port.to_string(),
        "--resolver",
        &resolver,
        "--connect",
        &connect,
    ])
    .expect(69);
    ran.one_error("server answered SERVFAIL");
    site.config(&format!(
        "resolver = \"{resolver}\"\n[[line]]\nname = \"www\"\nendpoint = [{{ connect = \"{connect}\", sni = \"{NAME}\" }}]\n"
    ));
    let v = site.json(&[], 69);
    assert_eq!(v["lines"][0]["status"], "unknown", "{v:#}");
}
