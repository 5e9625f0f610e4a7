//! Certificate and CSR inspection with x509-parser (RFC 5280): the names a
//! certificate covers, its validity window, its public key (SPKI) and the
//! order of a chain. Used by every stage that must not trust what it reads.

use sha2::{Digest, Sha256};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

/// One parsed certificate, owned.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// DER encoding.
    pub der: Vec<u8>,
    /// dNSName entries of the subjectAltName extension, lowercase.
    pub names: Vec<String>,
    /// notBefore, seconds since the epoch.
    pub not_before: i64,
    /// notAfter, seconds since the epoch.
    pub not_after: i64,
    /// DER of the SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// Serial number, lowercase hex with colons as x509-parser prints it.
    pub serial: String,
    /// Raw DER of the subject name.
    pub subject_raw: Vec<u8>,
    /// Raw DER of the issuer name.
    pub issuer_raw: Vec<u8>,
    /// Subject in RFC 4514-like text, for messages.
    pub subject: String,
    /// Issuer in text, for messages.
    pub issuer: String,
}

/// A parsed certificate signing request (RFC 2986).
#[derive(Debug, Clone)]
pub struct CsrInfo {
    /// DER encoding.
    pub der: Vec<u8>,
    /// dNSName entries of the requested subjectAltName, lowercase.
    pub names: Vec<String>,
    /// DER of the SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
}

/// Split PEM text into the DER of its blocks with the given label.
pub fn pem_blocks(text: &[u8], label: &str) -> Result<Vec<Vec<u8>>, String> {
    let blocks = pem::parse_many(text).map_err(|e| format!("bad PEM: {e}"))?;
    let mut out = Vec::new();
    for block in blocks {
        if block.tag() != label {
            return Err(format!("unexpected PEM block {}", block.tag()));
        }
        out.push(block.into_contents());
    }
    Ok(out)
}

/// Encode DER as PEM with the given label.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// A subjectAltName entry as the name certdrop compares: a dNSName in
/// lowercase, an iPAddress (RFC 8738 §3) in its canonical text form
/// (`192.0.2.1`, `2001:db8::1`, as [`crate::name::identifier`] gives it).
/// Other kinds are no name of ours.
fn san_name(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::DNSName(n) => Some(n.to_ascii_lowercase()),
        GeneralName::IPAddress(octets) => match octets.len() {
            4 => <[u8; 4]>::try_from(*octets)
                .ok()
                .map(|a| std::net::Ipv4Addr::from(a).to_string()),
            16 => <[u8; 16]>::try_from(*octets)
                .ok()
                .map(|a| std::net::Ipv6Addr::from(a).to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// Parse one DER certificate.
pub fn parse_der(der: &[u8]) -> Result<CertInfo, String> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("bad certificate: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after certificate".into());
    }
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        names.extend(san.value.general_names.iter().filter_map(san_name));
    }
    Ok(CertInfo {
        der: der.to_vec(),
        names,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        spki: cert.public_key().raw.to_vec(),
        serial: cert.raw_serial_as_string(),
        subject_raw: cert.subject().as_raw().to_vec(),
        issuer_raw: cert.issuer().as_raw().to_vec(),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
    })
}

/// Parse a PEM chain (leaf first). Errors if empty or not a certificate.
pub fn parse_chain(pem_text: &[u8]) -> Result<Vec<CertInfo>, String> {
    let ders = pem_blocks(pem_text, "CERTIFICATE")?;
    if ders.is_empty() {
        return Err("no certificate in PEM".into());
    }
    ders.iter().map(|d| parse_der(d)).collect()
}

/// Check that each certificate was issued by the next one (by name) and that
/// no self-issued root is included.
pub fn check_chain_order(chain: &[CertInfo]) -> Result<(), String> {
    for (i, pair) in chain.windows(2).enumerate() {
        if pair[0].issuer_raw != pair[1].subject_raw {
            return Err(format!(
                "chain out of order: certificate {} was issued by '{}', next is '{}'",
                i, pair[0].issuer, pair[1].subject
            ));
        }
    }
    if chain.len() > 1 {
        if let Some(last) = chain.last() {
            if last.issuer_raw == last.subject_raw {
                return Err("chain includes a self-signed root".into());
            }
        }
    }
    Ok(())
}

/// Parse a certificate signing request, PEM or DER.
pub fn parse_csr(pem_text: &[u8]) -> Result<CsrInfo, String> {
    // DER as `openssl req -outform DER` writes it: a SEQUENCE, where PEM
    // text starts with a dash or a blank.
    let ders = match pem_text.first() {
        Some(0x30) => vec![pem_text.to_vec()],
        _ => pem_blocks(pem_text, "CERTIFICATE REQUEST")?,
    };
    let [der] = ders.as_slice() else {
        return Err("expected exactly one CERTIFICATE REQUEST block".into());
    };
    let (rest, csr) =
        X509CertificationRequest::from_der(der).map_err(|e| format!("bad CSR: {e}"))?;
    if !rest.is_empty() {
        return Err("bad CSR: data after its end".into());
    }
    let mut names = Vec::new();
    if let Some(exts) = csr.requested_extensions() {
        for ext in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                names.extend(san.general_names.iter().filter_map(san_name));
            }
        }
    }
    Ok(CsrInfo {
        der: der.clone(),
        names,
        spki: csr.certification_request_info.subject_pki.raw.to_vec(),
    })
}

/// SHA-256 of a SubjectPublicKeyInfo: the TLSA `3 1 1` association data
/// (RFC 6698 §2.1).
pub fn spki_sha256(spki: &[u8]) -> [u8; 32] {
    Sha256::digest(spki).into()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Names as a sorted, de-duplicated set, for comparing a certificate with
/// the configured names.
pub fn name_set(names: &[String]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    v.sort();
    v.dedup();
    v
}
