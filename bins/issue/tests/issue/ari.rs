//! ACME Renewal Information (RFC 9773): the renewal window the CA
//! suggests, and a renewal's newOrder naming the certificate it replaces
//! (§5). Debian's Pebble 2.4 has no ARI: the fault proxy adds a
//! `renewalInfo` URL to Pebble's real directory, answers those GETs
//! itself with the window the test sets, reflects `replaces` in Pebble's
//! newOrder answer and records the payloads (Pebble ignores the field).
//! The account, orders, validation and certificates are the real CA's.

use base64::Engine as _;
use certdrop_core::clock;
use certdrop_testkit::pebble::{Endpoint, Fault};

use crate::proxied::Proxied;
use crate::site::openssl;
use certdrop_testkit::Run;

/// `hex` ("AB:CD" or "ABCD", as openssl prints) as bytes.
fn unhex(hex: &str) -> Vec<u8> {
    let digits: String = hex.chars().filter(char::is_ascii_hexdigit).collect();
    let digits = match digits.len() % 2 {
        1 => format!("0{digits}"),
        _ => digits,
    };
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The ARI certID of `certs/www/cert.pem` (RFC 9773 §4.1), from what
/// openssl prints: base64url(AKI keyIdentifier) "." base64url(serial as
/// DER INTEGER content: a leading zero byte when the high bit is set).
fn cert_id_by_openssl(p: &Proxied) -> String {
    let cert = p.site.path("certs/www/cert.pem");
    let aki = openssl(
        &["x509", "-noout", "-ext", "authorityKeyIdentifier", "-in"],
        &cert,
    );
    let keyid = aki
        .lines()
        .map(str::trim)
        .find(|l| l.contains(':') && !l.starts_with("X509v3"))
        .map(|l| l.trim_start_matches("keyid:"))
        .unwrap_or_else(|| panic!("no keyIdentifier in {aki}"));
    let serial = openssl(&["x509", "-noout", "-serial", "-in"], &cert);
    let mut serial = unhex(serial.trim().trim_start_matches("serial="));
    if serial[0] & 0x80 != 0 {
        serial.insert(0, 0);
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("{}.{}", b64.encode(unhex(keyid)), b64.encode(serial))
}

/// A certificate issued through a proxy that offers ARI with a window
/// ten days ahead (so the CA does not make it due).
fn issued_with_ari() -> (Proxied, i64, i64) {
    let p = Proxied::new();
    let start = clock::now() + 10 * 86_400;
    let end = start + 86_400;
    p.proxy
        .offer_ari(&clock::rfc3339(start), &clock::rfc3339(end));
    p.run().expect(0);
    let first = p.proxy.payloads(Endpoint::NewOrder);
    assert_eq!(first.len(), 1);
    assert!(
        first[0].get("replaces").is_none(),
        "a first certificate replaces nothing"
    );
    (p, start, end)
}

/// The window the CA suggests is fetched by a run that finds nothing due
/// and shown by `status` (text and JSON) with when it was fetched; a
/// renewal's newOrder names the certificate it replaces, as openssl
/// computes its certID, and the CA issues the renewal.
#[test]
fn a_renewal_names_the_certificate_it_replaces_and_status_shows_the_window() {
    let (p, start, end) = issued_with_ari();
    let id = cert_id_by_openssl(&p);
    let before = clock::now();
    p.command(&["run"]).ran().expect(2);
    let after = clock::now();
    assert_eq!(p.proxy.renewal_info_asked(), std::slice::from_ref(&id));

    let ran = p.command(&["status", "--json"]).ran().expect(0);
    let rows: serde_json::Value = serde_json::from_str(&ran.stdout).expect("JSON");
    let ari = &rows[0]["ari"];
    assert_eq!(ari["start"], clock::rfc3339(start), "{rows}");
    assert_eq!(ari["end"], clock::rfc3339(end), "{rows}");
    let fetched = ari["fetched"].as_str().expect("fetched");
    assert!(
        (before..=after).any(|t| clock::rfc3339(t) == fetched),
        "fetched {fetched}"
    );
    let table = p.command(&["status"]).ran().expect(0).stdout;
    let want = format!(
        "www: the CA suggests renewal between {} and {} (fetched {fetched})",
        clock::rfc3339(start),
        clock::rfc3339(end)
    );
    assert!(table.contains(&want), "{table}");

    p.command(&["-v", "issue", "--force", "www"])
        .ran()
        .expect(0);
    let orders = p.proxy.payloads(Endpoint::NewOrder);
    assert_eq!(orders.len(), 2, "{orders:?}");
    assert_eq!(orders[1]["replaces"], id.as_str(), "{}", orders[1]);
    assert_eq!(p.proxy.certificates_issued(), 2, "{:?}", p.proxy.errors());
    // The new certificate's window is not the old one's: status shows none
    // until the next run asks.
    let ran = p.command(&["status", "--json"]).ran().expect(0);
    assert!(!ran.stdout.contains("\"ari\""), "{}", ran.stdout);
}

/// A CA that refuses `replaces` — `alreadyReplaced` with 409 (RFC 9773
/// §5), or a 400 whose detail names the field — gets the same order
/// without it, and the renewal succeeds (the proxy's refusals never reach
/// Pebble; the orders without `replaces` are Pebble's).
#[test]
fn a_ca_that_refuses_replaces_gets_the_order_without_it() {
    let (p, _, _) = issued_with_ari();
    let refusals = [
        Fault::problem(409, "alreadyReplaced")
            .detail("the certificate has already been replaced by another order"),
        Fault::problem(400, "malformed").detail("replaces: no such certificate for this account"),
    ];
    for (n, refusal) in refusals.into_iter().enumerate() {
        let id = cert_id_by_openssl(&p);
        p.proxy.inject(Endpoint::NewOrder, 0, 1, refusal);
        let ran = p
            .command(&["-v", "issue", "--force", "www"])
            .ran()
            .expect(0);
        ran.stdout_has("www: certificate issued (forced, same key)");
        let orders = p.proxy.payloads(Endpoint::NewOrder);
        let tried = &orders[orders.len() - 2..];
        assert_eq!(tried[0]["replaces"], id.as_str(), "{n}: {tried:?}");
        assert!(tried[1].get("replaces").is_none(), "{n}: {tried:?}");
        assert_eq!(tried[0]["identifiers"], tried[1]["identifiers"]);
    }
    assert_eq!(p.proxy.certificates_issued(), 3, "{:?}", p.proxy.errors());
}
