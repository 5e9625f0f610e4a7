//! The gate a certificate set passes before it is published (DESIGN.md,
//! "Publication"; a reader never trusts a writer): the chain parses and is
//! in order (RFC 5280 §6.1: leaf first, each certificate issued by the next,
//! no self-signed root), fullchain.pem is cert.pem followed by chain.pem,
//! the leaf's dNSNames equal the line's configured names, it is within its
//! validity period, and pubkey.pem is its SubjectPublicKeyInfo. The
//! rollback rule (never replace a published certificate with an older one)
//! is [`order`], applied by the caller against what pub/ holds.

use std::cmp::Ordering;

use certdrop_core::certinfo::{self, CertInfo};
use certdrop_core::clock;
use certdrop_core::store::CertFiles;

/// PEM label of pubkey.pem (RFC 7468 §13).
const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";
/// PEM label of certificates (RFC 7468 §5).
const CERT_LABEL: &str = "CERTIFICATE";

/// Check `files` for a line configured with `names` (lowercase, sorted) at
/// time `now` (seconds since the epoch). Returns the parsed leaf, or the
/// reason for refusing, one line.
pub fn check(files: &CertFiles, names: &[String], now: i64) -> Result<CertInfo, String> {
    let cert = parse_all(&files.cert, "cert.pem")?;
    let [leaf] = cert.as_slice() else {
        return Err(format!(
            "cert.pem: holds {} certificates, expected 1",
            cert.len()
        ));
    };
    let chain = parse_all(&files.chain, "chain.pem")?;
    let full = parse_all(&files.fullchain, "fullchain.pem")?;
    let joined: Vec<&[u8]> = cert
        .iter()
        .chain(&chain)
        .map(|c| c.der.as_slice())
        .collect();
    let full_der: Vec<&[u8]> = full.iter().map(|c| c.der.as_slice()).collect();
    if joined != full_der {
        return Err("fullchain.pem is not cert.pem followed by chain.pem".into());
    }
    certinfo::check_chain_order(&full)?;
    let have = certinfo::name_set(&leaf.names);
    if have != names {
        return Err(format!(
            "names [{}] differ from [{}]",
            have.join(", "),
            names.join(", ")
        ));
    }
    if now < leaf.not_before {
        return Err(format!(
            "not valid before {}",
            clock::rfc3339(leaf.not_before)
        ));
    }
    if now > leaf.not_after {
        return Err(format!("expired on {}", clock::rfc3339(leaf.not_after)));
    }
    let keys = certinfo::pem_blocks(&files.pubkey, PUBLIC_KEY_LABEL)
        .map_err(|e| format!("pubkey.pem: {e}"))?;
    match keys.as_slice() {
        [spki] if *spki == leaf.spki => Ok(leaf.clone()),
        [_] => Err("pubkey.pem is not the certificate's public key".into()),
        _ => Err(format!(
            "pubkey.pem: holds {} public keys, expected 1",
            keys.len()
        )),
    }
}

/// Certificates of a PEM file (possibly none), each parsed.
fn parse_all(pem: &[u8], file: &str) -> Result<Vec<CertInfo>, String> {
    let ders = certinfo::pem_blocks(pem, CERT_LABEL).map_err(|e| format!("{file}: {e}"))?;
    if ders.is_empty() && file != "chain.pem" {
        return Err(format!("{file}: no certificate"));
    }
    ders.iter()
        .map(|d| certinfo::parse_der(d).map_err(|e| format!("{file}: {e}")))
        .collect()
}

/// Which of two certificates of a line is newer: by notBefore, then by
/// serial number as an unsigned integer (RFC 5280 §4.1.2.2). A CA issues a
/// renewal later than its predecessor, so publishing a certificate that
/// orders before the published one would be a rollback.
pub fn order(a: &CertInfo, b: &CertInfo) -> Ordering {
    a.not_before
        .cmp(&b.not_before)
        .then_with(|| serial_cmp(&a.serial, &b.serial))
}

/// Compare two serials in x509-parser's `0a:1b:..` hex form numerically.
fn serial_cmp(a: &str, b: &str) -> Ordering {
    let digits = |s: &str| -> String {
        let hex: String = s.chars().filter(|c| *c != ':').collect();
        hex.trim_start_matches('0').to_ascii_lowercase()
    };
    let (a, b) = (digits(a), digits(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(&b))
}

/// A serial as printed in messages and the manifest: `0A:1B:...`.
pub fn serial_text(info: &CertInfo) -> String {
    info.serial.to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(not_before: i64, serial: &str) -> CertInfo {
        CertInfo {
            der: Vec::new(),
            names: Vec::new(),
            not_before,
            not_after: not_before + 1,
            spki: Vec::new(),
            serial: serial.into(),
            subject_raw: Vec::new(),
            issuer_raw: Vec::new(),
            subject: String::new(),
            issuer: String::new(),
        }
    }

    #[test]
    fn newer_by_not_before_then_serial() {
        assert_eq!(order(&info(2, "01"), &info(1, "ff")), Ordering::Greater);
        assert_eq!(order(&info(1, "01:00"), &info(1, "ff")), Ordering::Greater);
        assert_eq!(order(&info(1, "00:ff"), &info(1, "ff")), Ordering::Equal);
        assert_eq!(order(&info(1, "0a"), &info(1, "0b")), Ordering::Less);
    }

    #[test]
    fn garbage_is_refused_with_the_file_named() {
        let files = CertFiles {
            cert: b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".to_vec(),
            chain: Vec::new(),
            fullchain: Vec::new(),
            pubkey: Vec::new(),
        };
        let e = check(&files, &[], 0).expect_err("garbage");
        assert!(e.starts_with("cert.pem: "), "{e}");
        let empty = CertFiles {
            cert: Vec::new(),
            ..files
        };
        assert_eq!(
            check(&empty, &[], 0).expect_err("empty"),
            "cert.pem: no certificate"
        );
    }
}
