//! Tests of the key/certificate match on keys openssl writes in every
//! form: RSA PKCS#1 and PKCS#8, EC P-256 and P-384 in SEC1 and PKCS#8, an
//! EC key without its public half, a compressed point, Ed25519.
use super::*;
use certdrop_testkit::sh;

/// The public key of the first PEM block of `file`.
fn key_of(dir: &std::path::Path, file: &str) -> Result<PublicKey> {
    let text = std::fs::read(dir.join(file)).expect("read");
    let block = pem::parse(text).expect("pem");
    from_private(block.tag(), block.contents())
}

fn cert_key(dir: &std::path::Path, file: &str) -> PublicKey {
    let text = std::fs::read(dir.join(file)).expect("read");
    let chain = certdrop_core::certinfo::parse_chain(&text).expect("cert");
    from_spki(&chain[0].spki).expect("spki")
}

#[test]
fn every_key_form_matches_its_certificate_and_no_other() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    sh(
        d,
        "set -e
        q() { \"$@\" >/dev/null 2>&1; }
        q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa8.pem
        q openssl pkey -in rsa8.pem -traditional -out rsa1.pem
        q openssl ecparam -name prime256v1 -genkey -noout -out ec256.pem
        q openssl pkcs8 -topk8 -nocrypt -in ec256.pem -out ec256p8.pem
        q openssl ec -in ec256.pem -no_public -out ec256nopub.pem
        q openssl ec -in ec256.pem -conv_form compressed -out ec256comp.pem
        q openssl ecparam -name secp384r1 -genkey -noout -out ec384.pem
        q openssl pkcs8 -topk8 -nocrypt -in ec384.pem -out ec384p8.pem
        q openssl genpkey -algorithm ED25519 -out ed.pem
        for k in rsa8 ec256 ec384 ed; do
            q openssl req -x509 -new -key $k.pem -out $k.crt -days 1 -subj /CN=$k
        done",
    );
    let rsa = cert_key(d, "rsa8.crt");
    assert_eq!(rsa.kind(), "RSA");
    assert_eq!(key_of(d, "rsa8.pem"), Ok(rsa.clone()));
    assert_eq!(key_of(d, "rsa1.pem"), Ok(rsa.clone()));
    let ec = cert_key(d, "ec256.crt");
    assert_eq!(ec.kind(), "EC P-256");
    for f in [
        "ec256.pem",
        "ec256p8.pem",
        "ec256nopub.pem",
        "ec256comp.pem",
    ] {
        assert_eq!(key_of(d, f), Ok(ec.clone()), "{f}");
    }
    let ec384 = cert_key(d, "ec384.crt");
    assert_eq!(ec384.kind(), "EC P-384");
    assert_eq!(key_of(d, "ec384.pem"), Ok(ec384.clone()));
    assert_eq!(key_of(d, "ec384p8.pem"), Ok(ec384.clone()));
    let ed = cert_key(d, "ed.crt");
    assert_eq!(key_of(d, "ed.pem"), Ok(ed.clone()));
    // Mismatches.
    assert_ne!(key_of(d, "ec384.pem"), Ok(ec.clone()));
    assert_ne!(key_of(d, "rsa1.pem"), Ok(ed));
    assert_ne!(Ok(rsa), key_of(d, "ec256.pem"));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(from_private("PRIVATE KEY", b"\x30\x03\x02\x01").is_err());
    assert!(from_private("EC PRIVATE KEY", &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
    assert!(from_private("CERTIFICATE", b"").is_err());
    let e = from_private("ENCRYPTED PRIVATE KEY", b"").expect_err("encrypted");
    assert!(e.msg.contains("passphrase"));
    assert!(from_spki(&[0x30, 0x00]).is_err());
    for len in 0..40 {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
        let _ = from_private("RSA PRIVATE KEY", &bytes);
        let _ = from_spki(&bytes);
    }
}
