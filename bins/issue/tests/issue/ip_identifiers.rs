//! IP address identifiers (RFC 8738) against Pebble: all of it is the real
//! CA's (Pebble 2.4 orders, validates and issues for `ip` identifiers; no
//! proxy). Its VA dials each address itself on its http-01 port, so the
//! webroot is served on 127.0.0.1 and on ::1.

use std::net::{IpAddr, Ipv6Addr};

use certdrop_testkit::pebble::serve_webroot_on;

use crate::site::{openssl, Site};

#[test]
fn ipv4_and_ipv6_over_http01_against_pebble() {
    let mut site = Site::start();
    let v6 = serve_webroot_on(
        &site.path("webroot"),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        site.pebble.http_port,
    );
    // Written as a user might: the IPv6 address in a long form.
    site.line("name = \"ips\"\ndomains = [\"127.0.0.1\", \"0:0::1\"]\nchallenge = \"http-01\"");
    site.run(&["-n"]).expect(0);
    let ran = site.run(&["run"]).expect(0);
    ran.stdout_has("ips: certificate issued (first certificate, new key) for 127.0.0.1, ::1");
    let sans = openssl(
        &["x509", "-noout", "-ext", "subjectAltName", "-in"],
        &site.path("certs/ips/cert.pem"),
    );
    assert!(sans.contains("IP Address:127.0.0.1"), "{sans}");
    assert!(sans.contains("IP Address:0:0:0:0:0:0:0:1"), "{sans}");
    assert!(!sans.contains("DNS:"), "{sans}");
    site.openssl_verify("ips");
    // Both validations came to the webroot (Pebble dials each address).
    assert!(site
        .web
        .as_ref()
        .expect("web")
        .hits()
        .iter()
        .any(|(_, s)| *s == 200));
    assert!(v6.hits().iter().any(|(_, s)| *s == 200));
    // The stored certificate covers the line: nothing due.
    site.run(&["run"]).expect(2);
}

#[test]
fn an_ip_address_over_dns01_is_a_configuration_error() {
    let mut site = Site::start();
    site.line("name = \"ip\"\ndomains = [\"www.example.test\", \"192.0.2.7\"]");
    for args in [&["-n"][..], &["run"]] {
        let ran = site.run(args).expect(78);
        ran.stderr_has("'192.0.2.7' is an IP address: it can only be validated with http-01");
        assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    }
    assert!(!site.path("state/account.json").exists());
}
