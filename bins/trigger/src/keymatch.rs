//! Does a private key belong to a certificate? The public half is read from
//! the private key itself where the format carries it (RSA `n`, `e` in
//! PKCS#1, RFC 8017 §A.1.2; the EC `publicKey` field of SEC1, RFC 5915 §3;
//! the PKCS#8 v2 `publicKey`, RFC 5958 §2) and compared with the
//! certificate's SubjectPublicKeyInfo (RFC 5280 §4.1.2.7). Only when it is
//! absent (or a compressed point) is it derived with p256/p384 or
//! ed25519-dalek. No signature is made: the comparison is exact. A key or
//! certificate that cannot be read so is bad data (65).

use certdrop_core::error::{Error, Result};

use crate::der;

/// rsaEncryption, 1.2.840.113549.1.1.1 (RFC 8017 §A.1).
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1 (RFC 5480 §2.1.1).
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// secp256r1, 1.2.840.10045.3.1.7 (RFC 5480 §2.1.1.1).
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, 1.3.132.0.34 (RFC 5480 §2.1.1.1).
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// id-Ed25519, 1.3.101.112 (RFC 8410 §3).
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A public key in comparable form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An EC point on a named curve (OID content bytes), uncompressed.
    Ec { curve: Vec<u8>, point: Vec<u8> },
    /// An Ed25519 public key.
    Ed25519(Vec<u8>),
}

impl PublicKey {
    /// A short name for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            PublicKey::Rsa { .. } => "RSA",
            PublicKey::Ec { curve, .. } if curve == OID_P256 => "EC P-256",
            PublicKey::Ec { curve, .. } if curve == OID_P384 => "EC P-384",
            PublicKey::Ec { .. } => "EC",
            PublicKey::Ed25519(_) => "Ed25519",
        }
    }
}

/// The public key of a certificate's SubjectPublicKeyInfo DER (RFC 5280 §4.1).
pub fn from_spki(spki: &[u8]) -> Result<PublicKey> {
    let mut seq = der::sequence(spki)?;
    let mut alg = der::sequence_of(&seq.next_tlv()?)?;
    let oid = alg.want(der::OID)?;
    let bits = der::bit_string(&seq.want(der::BIT_STRING)?)?;
    match oid.content {
        OID_RSA => {
            let mut rsa = der::sequence(bits)?;
            Ok(PublicKey::Rsa {
                n: der::unsigned(&rsa.want(der::INTEGER)?),
                e: der::unsigned(&rsa.want(der::INTEGER)?),
            })
        }
        OID_EC => {
            let curve = alg.want(der::OID)?.content.to_vec();
            ec_point(curve, bits)
        }
        OID_ED25519 => Ok(PublicKey::Ed25519(bits.to_vec())),
        _ => Err(Error::data(
            "certificate key algorithm is not RSA, EC or Ed25519",
        )),
    }
}

/// The public key of a PEM private key: `PRIVATE KEY` (PKCS#8, RFC 5208 /
/// 5958), `RSA PRIVATE KEY` (PKCS#1), `EC PRIVATE KEY` (SEC1, RFC 5915).
pub fn from_private(label: &str, der_bytes: &[u8]) -> Result<PublicKey> {
    match label {
        "RSA PRIVATE KEY" => rsa_private(der_bytes),
        "EC PRIVATE KEY" => ec_private(der_bytes, None),
        "PRIVATE KEY" => pkcs8(der_bytes),
        "ENCRYPTED PRIVATE KEY" => Err(Error::data("the key is encrypted with a passphrase")),
        other => Err(Error::data(format!("'{other}' is not a private key"))),
    }
}

/// RSAPrivateKey ::= SEQUENCE { version, modulus, publicExponent, ... }.
fn rsa_private(der_bytes: &[u8]) -> Result<PublicKey> {
    let mut seq = der::sequence(der_bytes)?;
    seq.want(der::INTEGER)?;
    Ok(PublicKey::Rsa {
        n: der::unsigned(&seq.want(der::INTEGER)?),
        e: der::unsigned(&seq.want(der::INTEGER)?),
    })
}

/// ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING,
/// parameters [0] OID OPTIONAL, publicKey [1] BIT STRING OPTIONAL }; the
/// curve comes from `parameters` or, inside PKCS#8, from the outer
/// algorithm identifier.
fn ec_private(der_bytes: &[u8], outer_curve: Option<&[u8]>) -> Result<PublicKey> {
    let mut seq = der::sequence(der_bytes)?;
    seq.want(der::INTEGER)?;
    let secret = seq.want(der::OCTET_STRING)?.content.to_vec();
    let mut curve = outer_curve.map(<[u8]>::to_vec);
    let mut public = None;
    while let Some(tlv) = seq.next_opt()? {
        match tlv.tag {
            der::CONTEXT_0 => curve = Some(der::parse(tlv.content, der::OID)?.content.to_vec()),
            der::CONTEXT_1 => {
                public = Some(der::bit_string(&der::parse(tlv.content, der::BIT_STRING)?)?.to_vec())
            }
            _ => {}
        }
    }
    let curve = curve.ok_or_else(|| Error::data("EC key names no curve"))?;
    match public {
        Some(point) => ec_point(curve, &point),
        None => derive_ec(curve, &secret),
    }
}

/// PrivateKeyInfo / OneAsymmetricKey ::= SEQUENCE { version, algorithm,
/// privateKey OCTET STRING, attributes [0] OPTIONAL, publicKey [1] OPTIONAL }.
fn pkcs8(der_bytes: &[u8]) -> Result<PublicKey> {
    let mut seq = der::sequence(der_bytes)?;
    seq.want(der::INTEGER)?;
    let mut alg = der::sequence_of(&seq.next_tlv()?)?;
    let oid = alg.want(der::OID)?.content.to_vec();
    let inner = seq.want(der::OCTET_STRING)?.content.to_vec();
    let mut public = None;
    while let Some(tlv) = seq.next_opt()? {
        if tlv.tag == der::CONTEXT_1_PRIMITIVE {
            public = Some(tlv.content.get(1..).unwrap_or_default().to_vec());
        }
    }
    match oid.as_slice() {
        OID_RSA => rsa_private(&inner),
        OID_EC => {
            let curve = alg.want(der::OID)?.content.to_vec();
            ec_private(&inner, Some(&curve))
        }
        OID_ED25519 => match public {
            Some(p) => Ok(PublicKey::Ed25519(p)),
            None => {
                // CurvePrivateKey ::= OCTET STRING (RFC 8410 §7).
                let seed = der::parse(&inner, der::OCTET_STRING)?.content;
                let seed: [u8; 32] = seed
                    .try_into()
                    .map_err(|_| Error::data("Ed25519 key is not 32 bytes"))?;
                let key = ed25519_dalek::SigningKey::from_bytes(&seed);
                Ok(PublicKey::Ed25519(key.verifying_key().to_bytes().to_vec()))
            }
        },
        _ => Err(Error::data("key algorithm is not RSA, EC or Ed25519")),
    }
}

/// An EC point as given, made uncompressed (SEC 1 §2.3.3) if it is not.
fn ec_point(curve: Vec<u8>, point: &[u8]) -> Result<PublicKey> {
    let point = if point.first() == Some(&4) {
        point.to_vec()
    } else {
        decompress(&curve, point)?
    };
    Ok(PublicKey::Ec { curve, point })
}

fn decompress(curve: &[u8], point: &[u8]) -> Result<Vec<u8>> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let bad = |_| Error::data("bad EC point");
    match curve {
        OID_P256 => Ok(p256::PublicKey::from_sec1_bytes(point)
            .map_err(bad)?
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()),
        OID_P384 => Ok(p384::PublicKey::from_sec1_bytes(point)
            .map_err(bad)?
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()),
        _ => Err(Error::data("EC curve is not P-256 or P-384")),
    }
}

/// The public point of an EC secret scalar: for keys written without it.
fn derive_ec(curve: Vec<u8>, secret: &[u8]) -> Result<PublicKey> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let bad = |_| Error::data("bad EC private key");
    let point = match curve.as_slice() {
        OID_P256 => p256::SecretKey::from_slice(secret)
            .map_err(bad)?
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
        OID_P384 => p384::SecretKey::from_slice(secret)
            .map_err(bad)?
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
        _ => return Err(Error::data("EC curve is not P-256 or P-384")),
    };
    Ok(PublicKey::Ec { curve, point })
}

#[cfg(test)]
mod tests;
