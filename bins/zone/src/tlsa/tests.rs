//! Tests of the TLSA records: the map format, and RDATA compared with
//! ldns-dane and the openssl pipeline on certificates made by openssl.
use super::*;
use certdrop_testkit::pki::{public_key, KeyType, Pki};
use std::fs;
use std::process::Command;

const OWNER: &str = "_443._tcp.www.example.org";

fn run(dir: &Path, cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).current_dir(dir).output();
    let out = out.unwrap_or_else(|e| panic!("{cmd} is needed for this test: {e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd} {args:?}: {err}");
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

/// A throwaway openssl PKI: store lines `certs/rsa` (RSA 2048) and
/// `certs/ec` (P-384) for www.example.org, signed by the kit's intermediate,
/// and `next.pem`, a spare public key for the key-rollover test.
fn pki() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let certs = tmp.path().join("certs");
    for (line, kind) in [("rsa", KeyType::Rsa2048), ("ec", KeyType::P384)] {
        let key = pki.key_of(&tmp.path().join(format!("{line}.key")), kind);
        pki.line(&certs, line, &key, &["www.example.org"]);
    }
    let next = pki.key(&tmp.path().join("next.key"));
    fs::write(tmp.path().join("next.pem"), public_key(&next)).unwrap();
    tmp
}

fn entry(line: &str, usage: u8, selector: u8, matching: u8) -> MapEntry {
    let source_line = 1;
    let (owner, line) = (OWNER.to_string(), line.to_string());
    MapEntry {
        owner,
        line,
        usage,
        selector,
        matching,
        source_line,
    }
}

fn rdata(map: &[MapEntry], certs: &Path) -> Vec<String> {
    let (recs, problems) = records(map, certs, 3600);
    assert!(problems.is_empty(), "{problems:?}");
    recs.into_iter().map(|r| r.rdata).collect()
}

/// SHA-256 of the DER SPKI, by the openssl pipeline.
fn openssl_spki_sha256(dir: &Path, pubkey_cmd: &str) -> String {
    let script = format!("{pubkey_cmd} | openssl pkey -pubin -outform DER | sha256sum");
    run(dir, "sh", &["-ec", &script])[..64].to_string()
}

#[test]
fn same_as_ldns_dane_and_openssl() {
    let tmp = pki();
    let certs = tmp.path().join("certs");
    let ee = ["3 1 1", "3 0 1", "3 1 2", "3 1 0", "3 0 2", "3 0 0"];
    let ta = ["2 1 1", "2 0 1", "2 1 2", "2 0 0"];
    for line in ["rsa", "ec"] {
        let dir = certs.join(line);
        for usm in ee.into_iter().chain(ta) {
            let n: Vec<u8> = usm.split(' ').map(|n| n.parse().unwrap()).collect();
            let (recs, problems) = records(&[entry(line, n[0], n[1], n[2])], &certs, 3600);
            assert!(problems.is_empty(), "{problems:?}");
            // -n: no check of the name in the certificate (and no DNS).
            // -o 0: the last certificate of the chain given: the intermediate.
            let cert = if n[0] == USAGE_DANE_TA {
                "-o 0 -c fullchain.pem"
            } else {
                "-c cert.pem"
            };
            let cmd = format!("ldns-dane -n {cert} create www.example.org 443 {usm}");
            let want = run(&dir, "sh", &["-ec", &cmd]);
            assert_eq!(recs.len(), 1);
            assert_eq!(recs[0].to_string(), want, "{line} {usm}");
        }
        let want = openssl_spki_sha256(&dir, "openssl x509 -in cert.pem -noout -pubkey");
        let (recs, _) = records(&[entry(line, 3, 1, 1)], &certs, 300);
        assert_eq!(
            recs[0].to_string(),
            format!("{OWNER}.\t300\tIN\tTLSA\t3 1 1 {want}")
        );
    }
}

#[test]
fn next_key_is_published_beside_the_current_one() {
    let tmp = pki();
    let certs = tmp.path().join("certs");
    let next_pub = certs.join("ec").join(NEXT).join(PUBKEY);
    fs::create_dir(certs.join("ec").join(NEXT)).unwrap();
    fs::copy(tmp.path().join("next.pem"), &next_pub).unwrap();
    let current = openssl_spki_sha256(
        &certs.join("ec"),
        "openssl x509 -in cert.pem -noout -pubkey",
    );
    let next = openssl_spki_sha256(tmp.path(), "cat next.pem");
    assert_ne!(current, next);
    let mut want = vec![format!("3 1 1 {current}"), format!("3 1 1 {next}")];
    want.sort();
    assert_eq!(rdata(&[entry("ec", 3, 1, 1)], &certs), want);
    // 3 0 x and 2 x x do not follow the key, nor a line without a next key; 3 1 0/2 do.
    for (e, n) in [
        (entry("ec", 3, 0, 1), 1),
        (entry("ec", 2, 1, 1), 1),
        (entry("rsa", 3, 1, 1), 1),
        (entry("ec", 3, 1, 0), 2),
        (entry("ec", 3, 1, 2), 2),
    ] {
        assert_eq!(rdata(&[e], &certs).len(), n);
    }
    // The next key equal to the current one: one record.
    fs::copy(certs.join("ec").join(PUBKEY), &next_pub).unwrap();
    assert_eq!(
        rdata(&[entry("ec", 3, 1, 1)], &certs),
        [format!("3 1 1 {current}")]
    );
    // A broken next key: reported, the current record still goes out.
    let bad = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    fs::write(&next_pub, bad).unwrap();
    let (recs, problems) = records(&[entry("ec", 3, 1, 1)], &certs, 3600);
    assert_eq!(recs[0].rdata, format!("3 1 1 {current}"));
    assert_eq!(recs.len(), 1);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].contains("next/pubkey.pem: bad public key"),
        "{problems:?}"
    );
    assert!(
        problems[0].ends_with(", next key not published"),
        "{problems:?}"
    );
}

#[test]
fn problems_and_fallbacks() {
    let tmp = pki();
    let certs = tmp.path().join("certs");
    // Two entries giving the same RDATA for one owner: published once.
    assert_eq!(
        rdata(&[entry("ec", 3, 1, 1), entry("ec", 3, 1, 1)], &certs).len(),
        1
    );
    // A line without a certificate: a problem, no record, others unharmed.
    let missing = MapEntry {
        source_line: 7,
        ..entry("gone", 3, 1, 1)
    };
    let (recs, problems) = records(&[missing, entry("rsa", 3, 1, 1)], &certs, 3600);
    assert_eq!(recs.len(), 1);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("map line 7 (_443._tcp.www.example.org gone): "),
        "{problems:?}"
    );
    assert!(
        problems[0].ends_with("gone/cert.pem: not found, no record"),
        "{problems:?}"
    );
    // The issuer from fullchain.pem without chain.pem; none at all is a problem.
    let want = rdata(&[entry("rsa", 2, 1, 1)], &certs);
    fs::remove_file(certs.join("rsa").join(CHAIN)).unwrap();
    assert_eq!(rdata(&[entry("rsa", 2, 1, 1)], &certs), want);
    fs::copy(
        certs.join("rsa").join(CERT),
        certs.join("rsa").join(FULLCHAIN),
    )
    .unwrap();
    let (recs, problems) = records(
        &[entry("rsa", 2, 1, 1), entry("rsa", 3, 1, 1)],
        &certs,
        3600,
    );
    assert_eq!(recs.len(), 1);
    assert!(recs[0].rdata.starts_with("3 1 1 "));
    assert!(problems[0].contains("no issuer certificate in chain.pem or fullchain.pem"));
    // A cert.pem holding a chain is refused.
    fs::copy(
        certs.join("ec").join(FULLCHAIN),
        certs.join("ec").join(CERT),
    )
    .unwrap();
    let (recs, problems) = records(&[entry("ec", 3, 1, 1)], &certs, 3600);
    assert!(recs.is_empty());
    assert!(
        problems[0].contains("2 certificates, expected the leaf alone"),
        "{problems:?}"
    );
}

#[test]
fn map_format() {
    let map = parse_map(
        Path::new("tlsa.map"),
        include_str!("../../tests/data/tlsa.map"),
    )
    .unwrap();
    let got: Vec<String> = map
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {} {} {}",
                e.source_line, e.owner, e.line, e.usage, e.selector, e.matching
            )
        })
        .collect();
    let want = [
        "2 _443._tcp.www.example.org www 3 1 1",
        "3 _25._tcp.mail.example.org mail 2 1 2",
        "5 _853._udp.dns.example.org dns 3 1 1",
        "6 _5061._sctp.sip.example.org sip 3 0 0",
    ];
    assert_eq!(got, want);
    assert_eq!(parse_map(Path::new("m"), "").unwrap(), vec![]);
    assert!(parse_map(
        Path::new("m"),
        "_65535._tcp.a.example.org a\n_1._udp.a.example.org a 2 0 0"
    )
    .is_ok());
    for (line, why) in [
        ("_443._tcp.www.example.org", "found 1 fields"),
        ("_443._tcp.www.example.org www 3 1", "found 4 fields"),
        ("_443._tcp.www.example.org www 3 1 1 1", "found 6 fields"),
        ("_443._tcp.www.example.org www 1 1 1", "PKIX"),
        ("_443._tcp.www.example.org www PKIX-EE 1 1", "PKIX"),
        ("_443._tcp.www.example.org www 4 1 1", "usage '4'"),
        ("_443._tcp.www.example.org www 3 2 1", "selector '2'"),
        ("_443._tcp.www.example.org www 3 1 3", "matching type '3'"),
        ("_0._tcp.www.example.org www", "port 1-65535"),
        ("_65536._tcp.www.example.org www", "port 1-65535"),
        ("_0443._tcp.www.example.org www", "port 1-65535"),
        ("_https._tcp.www.example.org www", "port 1-65535"),
        ("443._tcp.www.example.org www", "port 1-65535"),
        ("_443._quic.www.example.org www", "_tcp, _udp or _sctp"),
        ("_443.tcp.www.example.org www", "_tcp, _udp or _sctp"),
        ("_443._tcp www", "expected _<port>"),
        ("_443._tcp.org www", "not a fully qualified name"),
        ("_443._tcp.*.example.org www", "wildcard"),
        ("_443._tcp.w_w.example.org www", "character outside"),
        ("_443._tcp.www.example.org ../www", "line name"),
        ("_443._tcp.a.example.org. a 3 1 1", "same entry as line 2"),
    ] {
        let text = format!("# ok\n_443._tcp.a.example.org a\n{line}\n");
        let e = parse_map(Path::new("conf/tlsa.map"), &text).unwrap_err();
        assert!(
            e.starts_with("conf/tlsa.map:3: ") && e.contains(why),
            "{line}: {e}"
        );
    }
}

#[test]
fn association_data() {
    let abc256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(association(MATCH_FULL, &[0, 0xab]), "00ab");
    assert_eq!(association(MATCH_SHA256, b"abc"), abc256);
    assert!(association(MATCH_SHA512, b"abc").starts_with("ddaf35a193617aba"));
    assert_eq!(association(MATCH_SHA512, b"abc").len(), 128);
}
