//! Private keys and CSRs: generation (ECDSA P-256/P-384, RSA 2048/3072/4096),
//! loading with a permission check, the public half (SPKI), and the PKCS#10
//! request (RFC 2986) sent to finalize an order (RFC 8555 §7.4).

use std::path::Path;

use rcgen::{CertificateParams, DistinguishedName, KeyPair, PublicKeyData, RsaKeySize};

use certdrop_core::error::{Error, Result};

/// Key algorithm and size of a certificate line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA on P-256 (the default: small, fast, universally accepted).
    EcdsaP256,
    /// ECDSA on P-384.
    EcdsaP384,
    /// RSA 2048.
    Rsa2048,
    /// RSA 3072.
    Rsa3072,
    /// RSA 4096.
    Rsa4096,
}

impl KeyType {
    /// Parse the configuration spelling.
    pub fn parse(text: &str) -> std::result::Result<KeyType, String> {
        Ok(match text {
            "ecdsa-p256" | "p256" | "ec256" => KeyType::EcdsaP256,
            "ecdsa-p384" | "p384" | "ec384" => KeyType::EcdsaP384,
            "rsa2048" => KeyType::Rsa2048,
            "rsa3072" => KeyType::Rsa3072,
            "rsa4096" => KeyType::Rsa4096,
            other => {
                return Err(format!(
                    "'{other}': expected ecdsa-p256, ecdsa-p384, rsa2048, rsa3072 or rsa4096"
                ))
            }
        })
    }

    /// Generate a key of this type.
    pub fn generate(self) -> Result<KeyPair> {
        let key = match self {
            KeyType::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyType::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            KeyType::Rsa2048 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048)
            }
            KeyType::Rsa3072 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072)
            }
            KeyType::Rsa4096 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096)
            }
        };
        key.map_err(|e| Error::software(format!("key generation failed: {e}")))
    }

    /// Whether `key` is of this type.
    pub fn matches(self, key: &KeyPair) -> bool {
        let alg = key.algorithm();
        match self {
            KeyType::EcdsaP256 => alg == &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => alg == &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
                alg == &rcgen::PKCS_RSA_SHA256 && rsa_bits(key) == Some(self.rsa_bits())
            }
        }
    }

    fn rsa_bits(self) -> usize {
        match self {
            KeyType::Rsa2048 => 2048,
            KeyType::Rsa3072 => 3072,
            _ => 4096,
        }
    }
}

/// Modulus size of an RSA key, from its SPKI.
fn rsa_bits(key: &KeyPair) -> Option<usize> {
    use x509_parser::prelude::FromDer;
    use x509_parser::public_key::PublicKey;
    let spki = key.subject_public_key_info();
    let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki).ok()?;
    match info.parsed().ok()? {
        PublicKey::RSA(rsa) => Some(rsa.key_size()),
        _ => None,
    }
}

/// Read a private key, refusing one that others can read or write; with
/// `group` (the line's `key_group`), that group alone may also read it
/// (the rule and its message are certdrop-core's, certdrop-trigger's too).
pub fn load(path: &Path, group: Option<u32>) -> Result<KeyPair> {
    certdrop_core::keymode::check_file(path, group)?;
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, "read key", &e))?;
    KeyPair::from_pem(&text)
        .map_err(|e| Error::data(format!("{}: not a usable private key: {e}", path.display())))
}

/// The SubjectPublicKeyInfo DER of a key.
pub fn spki(key: &KeyPair) -> Vec<u8> {
    key.subject_public_key_info()
}

/// The public key in PEM (`PUBLIC KEY`), as `openssl pkey -pubout` writes it.
pub fn public_pem(spki: &[u8]) -> String {
    certdrop_core::certinfo::to_pem("PUBLIC KEY", spki)
}

/// A DER CSR for `domains` signed by `key`, with an empty subject (the
/// names are in subjectAltName, as RFC 8555 §7.4 expects).
pub fn csr(key: &KeyPair, domains: &[String]) -> Result<Vec<u8>> {
    let mut params = CertificateParams::new(domains.to_vec())
        .map_err(|e| Error::data(format!("cannot build CSR: {e}")))?;
    params.distinguished_name = DistinguishedName::new();
    let csr = params
        .serialize_request(key)
        .map_err(|e| Error::data(format!("cannot sign CSR: {e}")))?;
    Ok(csr.der().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn key_types_generate_and_match() {
        for t in [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Rsa2048] {
            let k = t.generate().expect("generate");
            assert!(t.matches(&k), "{t:?}");
            let back = KeyPair::from_pem(&k.serialize_pem()).expect("reparse");
            assert_eq!(spki(&back), spki(&k));
        }
        let k = KeyType::Rsa2048.generate().expect("generate");
        assert!(!KeyType::Rsa3072.matches(&k));
        assert!(!KeyType::EcdsaP256.matches(&k));
    }

    #[test]
    fn csr_carries_names_and_key() {
        let k = KeyType::EcdsaP256.generate().expect("generate");
        let der = csr(&k, &["a.example.org".into(), "*.example.org".into()]).expect("csr");
        let pem = certdrop_core::certinfo::to_pem("CERTIFICATE REQUEST", &der);
        let info = certdrop_core::certinfo::parse_csr(pem.as_bytes()).expect("parse");
        assert_eq!(info.names, ["a.example.org", "*.example.org"]);
        assert_eq!(info.spki, spki(&k));
        // The same request in DER (`openssl req -outform DER`) reads alike.
        let from_der = certdrop_core::certinfo::parse_csr(&der).expect("parse DER");
        assert_eq!(from_der.names, info.names);
        assert_eq!(from_der.der, der);
        let mut long = der.clone();
        long.push(0);
        assert!(
            certdrop_core::certinfo::parse_csr(&long).is_err(),
            "trailing byte"
        );
    }

    #[test]
    fn csr_carries_ip_addresses_as_ip_sans() {
        let k = KeyType::EcdsaP256.generate().expect("generate");
        let der = csr(&k, &["192.0.2.7".into(), "2001:db8::7".into()]).expect("csr");
        let pem = certdrop_core::certinfo::to_pem("CERTIFICATE REQUEST", &der);
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("csr.pem"), &pem).expect("write");
        let text = certdrop_testkit::pki::openssl(
            &["req", "-noout", "-text", "-in"],
            &dir.path().join("csr.pem"),
        );
        assert!(text.contains("IP Address:192.0.2.7"), "{text}");
        assert!(text.contains("IP Address:2001:DB8:0:0:0:0:0:7"), "{text}");
        let info = certdrop_core::certinfo::parse_csr(pem.as_bytes()).expect("parse");
        assert_eq!(info.names, ["192.0.2.7", "2001:db8::7"]);
    }

    #[test]
    fn loose_permissions_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        let k = KeyType::EcdsaP256.generate().expect("generate");
        std::fs::write(&path, k.serialize_pem()).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let e = load(&path, None).expect_err("group-readable");
        assert!(
            e.msg.contains("readable or writable by group or others"),
            "{}",
            e.msg
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(load(&path, None).is_ok());
    }
}
