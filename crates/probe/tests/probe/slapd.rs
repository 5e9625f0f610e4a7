//! LDAP StartTLS against a real OpenLDAP slapd (GnuTLS), over TLS 1.2 and 1.3.

use certdrop_probe::{ErrorKind, Protocol, Versions};
use certdrop_testkit::free_port;
use certdrop_testkit::pki::KeyType;
use certdrop_testkit::slapd::Slapd;

use crate::{assert_line, probe, Fixture};

#[test]
fn slapd_starttls_serves_the_files() {
    let fx = Fixture::new();
    let leaf = fx.leaf("ldap.example.test", KeyType::Rsa2048);
    let port = free_port();
    let slapd = Slapd::start(&fx.dir("slapd"), port, &leaf.full, &leaf.key);
    let name = "ldap.example.test";
    for (versions, want) in [
        (Versions::Tls12, "TLSv1.2"),
        (Versions::Tls13, "TLSv1.3"),
        (Versions::Any, "TLSv1.3"),
    ] {
        let got = probe(port, name, Protocol::Ldap, versions)
            .unwrap_or_else(|e| panic!("{e}\n{}", slapd.log()));
        leaf.assert_served(&got, want);
    }
}

#[test]
fn slapd_without_a_certificate_refuses_starttls() {
    let fx = Fixture::new();
    let port = free_port();
    let dir = fx.dir("slapd");
    let slapd = Slapd::without_tls(&dir, port);
    let err = probe(port, "ldap.example.test", Protocol::Ldap, Versions::Any)
        .expect_err("no TLS configured");
    assert_eq!(err.kind, ErrorKind::Refused, "{err}\n{}", slapd.log());
    assert_line(
        &err,
        &[&format!(
            "127.0.0.1:{port} (ldap.example.test): ldap: StartTLS refused: "
        )],
    );
}
