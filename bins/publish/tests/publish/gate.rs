//! The gate: each failure refused in one line, the published version kept.

use certdrop_core::store::CertFiles;

use crate::site::Site;

/// Publish a good certificate, install `bad` (made from the site), run:
/// exit 65, exactly the one stderr line, nothing on stdout, the link and
/// the published files unchanged.
#[track_caller]
fn refused(bad: impl FnOnce(&Site) -> CertFiles, why: &str) {
    let site = Site::new();
    let good = site.www(5);
    site.install("www", &good);
    site.run(&["run"]).expect(0);
    let link = site.link("www");
    let versions = site.versions();
    let files = bad(&site);
    site.install("www", &files);
    let ran = site.run(&["run"]).expect(65);
    assert_eq!(ran.stdout, "");
    let line = ran.stderr.strip_suffix('\n').unwrap_or(&ran.stderr);
    assert!(!line.contains('\n'), "one line: {}", ran.stderr);
    assert!(
        line.starts_with("certdrop-publish: www: refused: ") && line.contains(why),
        "expected '{why}' in: {line}"
    );
    assert_eq!(site.link("www"), link);
    assert_eq!(site.versions(), versions);
    assert_eq!(site.read("pub/www/cert.pem"), good.cert);
    site.verify("pub", &[]).expect(0);
    // -n gates the same way.
    let ran = site.run(&["-n"]).expect(65);
    ran.stderr_has(why);
}

#[test]
fn names_that_differ() {
    refused(
        |s| s.leaf(6, &["www.example.org"], 30),
        "names [www.example.org] differ from [example.org, www.example.org]",
    );
}

#[test]
fn an_expired_certificate() {
    refused(
        |s| s.leaf(6, &["www.example.org", "example.org"], -1),
        "expired on ",
    );
}

#[test]
fn a_public_key_that_is_not_the_certificate_s() {
    refused(
        |s| CertFiles {
            pubkey: s.read("pki/other.pub"),
            ..s.www(6)
        },
        "pubkey.pem is not the certificate's public key",
    );
}

/// `files` with `chain` for their chain, and their fullchain made of it.
fn with_chain(files: CertFiles, chain: [Vec<u8>; 2]) -> CertFiles {
    let chain = chain.concat();
    CertFiles {
        fullchain: [files.cert.clone(), chain.clone()].concat(),
        chain,
        ..files
    }
}

#[test]
fn a_chain_out_of_order() {
    refused(
        |s| with_chain(s.www(6), [s.read("pki/ca.pem"), s.read("pki/int.pem")]),
        "chain out of order: certificate 0 was issued by 'CN=Test Intermediate', next is 'CN=Test Root'",
    );
}

#[test]
fn a_chain_with_the_root() {
    refused(
        |s| with_chain(s.www(6), [s.read("pki/int.pem"), s.read("pki/ca.pem")]),
        "chain includes a self-signed root",
    );
}

#[test]
fn a_fullchain_that_is_not_cert_and_chain() {
    refused(
        |s| {
            let f = s.www(6);
            CertFiles {
                fullchain: f.cert.clone(),
                ..f
            }
        },
        "fullchain.pem is not cert.pem followed by chain.pem",
    );
}

#[test]
fn garbage_pem() {
    refused(
        |s| CertFiles {
            cert: b"-----BEGIN CERTIFICATE-----\nTUlJQmFk\n-----END CERTIFICATE-----\n".to_vec(),
            ..s.www(6)
        },
        "cert.pem: bad certificate",
    );
    refused(
        |s| CertFiles {
            fullchain: b"hello\n".to_vec(),
            ..s.www(6)
        },
        "fullchain.pem: no certificate",
    );
}

#[test]
fn a_rollback_to_the_older_certificate() {
    let site = Site::new();
    let old = site.www(1);
    site.install("www", &old);
    site.run(&["run"]).expect(0);
    let new = site.www(2);
    site.install("www", &new);
    site.run(&["run"]).expect(0);
    let link = site.link("www");
    site.install("www", &old);
    site.run(&["run"])
        .expect(65)
        .one_error("is older than the published serial 02")
        .stderr_starts("certdrop-publish: www: refused: serial 01 (not before ");
    assert_eq!(site.link("www"), link);
    assert_eq!(site.read("pub/www/cert.pem"), new.cert);
    // Not even -f rolls back.
    site.run(&["run", "-f"]).expect(65);
}

#[test]
fn a_line_without_a_certificate_is_missing_input() {
    let site = Site::new();
    let ran = site.run(&["run"]).expect(66);
    assert!(
        ran.stderr.starts_with("certdrop-publish: www: ")
            && ran.stderr.contains("no certificate yet"),
        "{}",
        ran.stderr
    );
}

/// Serials are random (RFC 5280 §4.1.2.2 asks only for uniqueness): a
/// renewal issued in the same second as the published certificate is
/// newer whatever its serial; the certificate it replaced is not.
#[test]
fn a_renewal_in_the_same_second_is_not_a_rollback() {
    let site = Site::new();
    let first = site.www(9);
    site.install("www", &first);
    site.run(&["run"]).expect(0);
    let renewal = site.resign(&first, 3);
    site.install("www", &renewal);
    site.run(&["run"]).expect(0);
    assert_eq!(site.read("pub/www/cert.pem"), renewal.cert);
    // Going back to serial 9, which pub/ held before: refused.
    site.install("www", &first);
    let ran = site.run(&["run"]).expect(65);
    ran.stderr_has("is older than the published serial 03");
    assert_eq!(site.read("pub/www/cert.pem"), renewal.cert);
}
