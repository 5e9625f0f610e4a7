//! `certdrop-zone verify` against the real thing: a PKI made by openssl, a
//! signed zone built by certdrop-zone from a TLSA map and served by nsd,
//! and nginx serving the certificates on loopback (TLS 1.2 + 1.3, and TLS
//! 1.3 only). Cross-checked with ldns-dane: `create` must give the record
//! nsd serves, and `verify` (fed the TLSA set from a file, since its `-r`
//! takes no port and our nsd is not on 53) must agree on match and mismatch.

use std::path::Path;
use std::process::Command;

use certdrop_testkit::nginx::{Nginx, Server};
use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::pki::Pki;
use certdrop_testkit::{free_port, Run};

use crate::site::{keys_toml, run, Ran, Tree};

const ZONE: &str = "example.test";
const NAME: &str = "www.example.test";

/// A new key and certificate for `name` in store line certs/<line>/, its
/// key in <line>.key (replacing the old ones), signed by the throwaway PKI
/// at the top of the tree (root -> intermediate, made once).
fn issue(tree: &Tree, line: &str, name: &str) {
    let key = tree.path(&format!("{line}.key"));
    let _ = std::fs::remove_file(&key);
    Pki::new(tree.root()).line(&tree.path("certs"), line, &key, &[name]);
    // nginx reads it (it may drop to another user).
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
}

/// One nginx `server` block: port, server_name, store line, ssl_protocols.
fn site(tree: &Tree, port: u16, name: &str, line: &str, protocols: &str) -> Server {
    Server::new(
        port,
        name,
        &tree.path(&format!("certs/{line}/fullchain.pem")),
        &tree.path(&format!("{line}.key")),
    )
    .protocols(protocols)
}

/// A real nginx on loopback (single process, `daemon off`), killed on drop.
fn start_nginx(tree: &Tree, sites: &[Server]) -> Nginx {
    Nginx::start(&tree.path(&format!("nginx-{}", sites[0].port)), sites)
}

/// certdrop-zone verify NAME PORT --server NSD [args...].
fn verify(nsd: &Nsd, port: u16, args: &[&str]) -> Ran {
    let (port, server) = (port.to_string(), nsd.addr.to_string());
    let mut all = vec!["verify", NAME, &port, "--server", &server];
    all.extend_from_slice(args);
    run(&all)
}

/// `ldns-dane -d -n -t FILE -a 127.0.0.1 verify` on the TLSA set nsd serves at `owner`.
fn ldns_dane_verify(tree: &Tree, nsd: &Nsd, owner: &str) -> bool {
    let rows = nsd.ask("TLSA", owner, false);
    let text: String = rows
        .iter()
        .filter(|(_, t, _)| t == "TLSA")
        .map(|(o, _, rdata)| format!("{o} 60 IN TLSA {rdata}\n"))
        .collect();
    assert!(!text.is_empty(), "no TLSA at {owner}");
    let file = tree.write("ldns-dane.tlsa", &text);
    Command::new("ldns-dane")
        .args(["-d", "-n", "-t"])
        .arg(&file)
        .args(["-a", "127.0.0.1", "verify"])
        .ran()
        .code
        == 0
}

/// What `ldns-dane -n -c cert create` says the record is: "U S M hex".
fn ldns_dane_create(cert: &Path, port: u16, triple: &str) -> String {
    let mut args = vec!["-n".to_string(), "-c".to_string()];
    args.push(cert.display().to_string());
    args.extend(["create", NAME].map(String::from));
    args.push(port.to_string());
    args.extend(triple.split(' ').map(String::from));
    let ran = Command::new("ldns-dane").args(&args).ran().expect(0);
    ran.stdout
        .split_whitespace()
        .skip(4)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Build the signed zone and wait until nsd serves a serial other than `serial`.
fn build(tree: &Tree, nsd: &Nsd, serial: Option<u32>) -> u32 {
    tree.run(&["build"]).expect(0);
    nsd.wait_serial_change(ZONE, serial)
        .expect("nsd serves the new zone")
}

#[test]
fn verify_matches_mismatches_and_agrees_with_ldns_dane() {
    let tree = Tree::new();
    tree.sources(ZONE);
    let keys = tree.keys(ZONE);
    issue(&tree, "www", NAME);
    issue(&tree, "other", "other.example.test");
    let (port, tls13, dead) = (free_port(), free_port(), free_port());
    // The default server on `port` is "other": only SNI reaches www.
    let mut nginx = start_nginx(
        &tree,
        &[
            site(
                &tree,
                port,
                "other.example.test",
                "other",
                "TLSv1.2 TLSv1.3",
            ),
            site(&tree, port, NAME, "www", "TLSv1.2 TLSv1.3"),
            site(&tree, tls13, NAME, "www", "TLSv1.3"),
        ],
    );
    tree.write(
        "tlsa.map",
        &format!(
            "_{port}._tcp.{NAME} www 3 1 1\n_8443._tcp.{NAME} www 2 0 1\n\
             _4443._tcp.{NAME} www DANE-EE Cert SHA2-512\n_{tls13}._tcp.{NAME} www\n"
        ),
    );
    let nsd = Nsd::start(&tree.path("nsd"), &tree.path("zones"), &[ZONE]);
    tree.config(
        ZONE,
        &nsd.reload_command(),
        &format!("tlsa_map = \"tlsa.map\"\n{}", keys_toml(&keys)),
    );
    let serial = build(&tree, &nsd, None);

    // The record served is the one ldns-dane derives from the certificate.
    let owner = format!("_{port}._tcp.{NAME}");
    let served = nsd.ask("TLSA", &owner, false);
    let want = ldns_dane_create(&tree.path("certs/www/cert.pem"), port, "3 1 1");
    assert!(
        served
            .iter()
            .any(|(_, t, r)| t == "TLSA" && r.to_lowercase() == want),
        "{served:?} vs {want}"
    );

    // DANE-EE, address from the zone (www A 127.0.0.1), SNI picks www's certificate.
    let ran = verify(&nsd, port, &[]).expect(0);
    assert_eq!(
        ran.stdout,
        format!("{owner}: dane-validated (3 1 1 matches the served leaf)\n")
    );
    assert_eq!(ran.stderr, "");
    assert!(
        ldns_dane_verify(&tree, &nsd, &owner),
        "ldns-dane disagrees: no match"
    );
    let connect = format!("127.0.0.1:{port}");
    // DANE-TA: the intermediate nginx sends above the leaf.
    let ran = verify(&nsd, 8443, &["--connect", &connect]).expect(0);
    assert_eq!(
        ran.stdout,
        format!(
            "_8443._tcp.{NAME}: dane-validated (2 0 1 matches served certificate 2 of 2, \
             CN=Test Intermediate; the path from the leaf to it is not validated)\n"
        )
    );
    // DANE-EE on the whole certificate, SHA-512.
    let ran = verify(&nsd, 4443, &["--connect", &connect]).expect(0);
    ran.stdout_has("(3 0 2 matches the served leaf)");
    // -v shows what was served, on stderr.
    let ran = verify(&nsd, port, &["--connect", &connect, "-v"]).expect(0);
    ran.stderr_has("served 2 certificate(s)");

    // No TLSA record at all: 66, without connecting.
    let ran = verify(&nsd, 25, &["--connect", &connect]).expect(66);
    assert_eq!(
        ran.stderr,
        format!(
            "certdrop-zone: _25._tcp.{NAME}: no TLSA record at {}\n",
            nsd.addr
        )
    );
    // TLS 1.3 only: the certificate cannot be read in clear; a clear error, 69.
    let ran = verify(&nsd, tls13, &[]).expect(69);
    ran.stderr_has(&format!(
            "_{tls13}._tcp.{NAME}: TLS at 127.0.0.1:{tls13}: the server refuses TLS 1.2 (alert protocol_version)"
        ));
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    // Nothing listening, and no DNS server: 69.
    let ran = verify(&nsd, port, &["--connect", &format!("127.0.0.1:{dead}")]).expect(69);
    ran.stderr_has("connect: Connection refused");
    let ran = run(&[
        "verify",
        NAME,
        &port.to_string(),
        "--server",
        &format!("127.0.0.1:{dead}"),
        "--timeout",
        "1s",
    ])
    .expect(69);
    assert!(
        ran.stderr.starts_with("certdrop-zone: DNS TLSA "),
        "{}",
        ran.stderr
    );

    // A new key in the store, published; nginx still serves the old one: mismatch, 65.
    issue(&tree, "www", NAME);
    build(&tree, &nsd, Some(serial));
    let ran = verify(&nsd, port, &[]).expect(65);
    assert_eq!(ran.stdout, "");
    assert_eq!(
        ran.stderr,
        format!("certdrop-zone: {owner}: mismatch: no TLSA record matches the served chain\n")
    );
    assert!(
        !ldns_dane_verify(&tree, &nsd, &owner),
        "ldns-dane disagrees: match"
    );
    // DANE-TA names the intermediate, which the new leaf keeps.
    verify(&nsd, 8443, &["--connect", &connect]).expect(0);
    // nginx restarted on the new certificate: a match again.
    drop(nginx);
    nginx = start_nginx(&tree, &[site(&tree, port, NAME, "www", "TLSv1.2")]);
    verify(&nsd, port, &[]).expect(0);
    assert!(ldns_dane_verify(&tree, &nsd, &owner));
    drop(nginx);
}

#[test]
fn verify_rejects_bad_arguments() {
    let ran = run(&[
        "verify",
        "www..example.test",
        "443",
        "--server",
        "127.0.0.1",
    ])
    .expect(64);
    ran.stderr_has("empty label");
    run(&["verify", NAME, "0", "--server", "127.0.0.1"]).expect(64);
    let ran = run(&["verify", NAME, "443", "--server", "ns1.example.test"]).expect(64);
    ran.stderr_has("no host names");
}
