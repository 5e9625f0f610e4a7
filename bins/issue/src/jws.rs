//! JWS requests signed by keys instant-acme cannot hold (it signs with its
//! account's P-256 key only): an imported account key of another tool
//! (RSA, P-384) looking up its account and handing it over to a P-256 key
//! (RFC 8555 §7.3.1, §7.3.5), and a certificate's own key revoking it
//! (§7.6). Flattened JWS (RFC 7515 §7.2.2) with ES256, ES384 or RS256
//! (RFC 7518 §3), posted over the issuer's own HTTP client
//! ([`client::http_client`]) with the nonce handling of RFC 8555 §6.5.

use base64::prelude::{Engine, BASE64_URL_SAFE_NO_PAD};
use bytes::Bytes;
use certdrop_core::output::Output;
use http::{Method, Request, StatusCode};
use instant_acme::BodyWrapper;
use serde_json::{json, Value};

use aws_lc_rs::rsa::{KeyPairComponents, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};

use crate::config::Config;
use crate::{client, retry};
use certdrop_core::error::{Error, Result};

/// A private key that signs JWS: ECDSA P-256 or P-384, or RSA.
pub enum Signer {
    /// ES256 (P-256, SHA-256).
    P256(EcdsaKeyPair),
    /// ES384 (P-384, SHA-384).
    P384(EcdsaKeyPair),
    /// RS256 (RSASSA-PKCS1-v1_5, SHA-256).
    Rsa(RsaKeyPair),
}

impl Signer {
    /// A key from DER: PKCS#8, SEC1 (`EC PRIVATE KEY`) or PKCS#1
    /// (`RSA PRIVATE KEY`); `None` for any other kind of key.
    pub fn from_der(der: &[u8]) -> Option<Signer> {
        use signature::{ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING};
        if let Ok(k) = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            return Some(Signer::P256(k));
        }
        if let Ok(k) = EcdsaKeyPair::from_private_key_der(&ECDSA_P384_SHA384_FIXED_SIGNING, der) {
            return Some(Signer::P384(k));
        }
        RsaKeyPair::from_pkcs8(der)
            .or_else(|_| RsaKeyPair::from_der(der))
            .ok()
            .map(Signer::Rsa)
    }

    /// A key from a private JWK (RFC 7517; RFC 7518 §6.2.2, §6.3.2), as
    /// certbot stores its account key.
    pub fn from_jwk(jwk: &Value) -> std::result::Result<Signer, String> {
        let b64 = |name: &str| -> std::result::Result<Vec<u8>, String> {
            let text = jwk[name]
                .as_str()
                .ok_or_else(|| format!("JWK member '{name}' missing"))?;
            BASE64_URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|_| format!("JWK member '{name}' is not base64url"))
        };
        match (jwk["kty"].as_str(), jwk["crv"].as_str()) {
            (Some("RSA"), _) => {
                let parts = KeyPairComponents {
                    public_key: PublicKeyComponents {
                        n: b64("n")?,
                        e: b64("e")?,
                    },
                    d: b64("d")?,
                    p: b64("p")?,
                    q: b64("q")?,
                    dP: b64("dp")?,
                    dQ: b64("dq")?,
                    qInv: b64("qi")?,
                };
                RsaKeyPair::from_components(&parts)
                    .map(Signer::Rsa)
                    .map_err(|e| format!("RSA JWK rejected: {e}"))
            }
            (Some("EC"), Some(crv @ ("P-256" | "P-384"))) => {
                let mut point = vec![4u8];
                point.extend(b64("x")?);
                point.extend(b64("y")?);
                let (alg, wrap): (_, fn(EcdsaKeyPair) -> Signer) = match crv {
                    "P-256" => (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, Signer::P256),
                    _ => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, Signer::P384),
                };
                EcdsaKeyPair::from_private_key_and_public_key(alg, &b64("d")?, &point)
                    .map(wrap)
                    .map_err(|e| format!("EC JWK rejected: {e}"))
            }
            (kty, crv) => Err(format!(
                "JWK of kty {} crv {} is not an RSA, P-256 or P-384 key",
                kty.unwrap_or("?"),
                crv.unwrap_or("-")
            )),
        }
    }

    /// The JWS `alg` (RFC 7518 §3.1).
    pub fn alg(&self) -> &'static str {
        match self {
            Signer::P256(_) => "ES256",
            Signer::P384(_) => "ES384",
            Signer::Rsa(_) => "RS256",
        }
    }

    /// What it is, for messages ("RSA 2048", "ECDSA P-256").
    pub fn describe(&self) -> String {
        match self {
            Signer::P256(_) => "ECDSA P-256".into(),
            Signer::P384(_) => "ECDSA P-384".into(),
            Signer::Rsa(k) => format!("RSA {}", k.public_modulus_len() * 8),
        }
    }

    /// The public JWK (RFC 7518 §6.2.1, §6.3.1).
    pub fn jwk(&self) -> Value {
        let b64 = |b: &[u8]| BASE64_URL_SAFE_NO_PAD.encode(b);
        match self {
            Signer::P256(k) | Signer::P384(k) => {
                let point = &k.public_key().as_ref()[1..];
                let (x, y) = point.split_at(point.len() / 2);
                let crv = if matches!(self, Signer::P256(_)) {
                    "P-256"
                } else {
                    "P-384"
                };
                json!({"crv": crv, "kty": "EC", "x": b64(x), "y": b64(y)})
            }
            Signer::Rsa(k) => {
                let public = k.public_key();
                json!({
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                })
            }
        }
    }

    /// The SubjectPublicKeyInfo DER, to compare with a certificate's.
    pub fn spki(&self) -> Result<Vec<u8>> {
        use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
        let der: std::result::Result<PublicKeyX509Der<'static>, _> = match self {
            Signer::P256(k) | Signer::P384(k) => k.public_key().as_der(),
            Signer::Rsa(k) => k.public_key().as_der(),
        };
        der.map(|d| d.as_ref().to_vec())
            .map_err(|_| Error::software("public key encoding failed"))
    }

    /// The PKCS#8 DER of a P-256 key (what instant-acme's account holds).
    pub fn p256_pkcs8(&self) -> Option<Vec<u8>> {
        match self {
            Signer::P256(k) => k.to_pkcs8v1().ok().map(|d| d.as_ref().to_vec()),
            _ => None,
        }
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let failed = |_| Error::software("signing failed");
        match self {
            Signer::P256(k) | Signer::P384(k) => k
                .sign(&rng, data)
                .map(|s| s.as_ref().to_vec())
                .map_err(failed),
            Signer::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, data, &mut sig)
                    .map_err(failed)?;
                Ok(sig)
            }
        }
    }

    /// A flattened JWS (RFC 7515 §7.2.2) over `payload` with `protected`.
    pub fn jws(&self, protected: &Value, payload: &Value) -> Result<Value> {
        let protected = BASE64_URL_SAFE_NO_PAD.encode(protected.to_string());
        let payload = BASE64_URL_SAFE_NO_PAD.encode(payload.to_string());
        let sig = self.sign(format!("{protected}.{payload}").as_bytes())?;
        Ok(json!({
            "protected": protected,
            "payload": payload,
            "signature": BASE64_URL_SAFE_NO_PAD.encode(sig),
        }))
    }
}

/// Who signs a request: the key's JWK (newAccount, revokeCert by the
/// certificate's key) or an account URL (`kid`, RFC 8555 §6.2).
pub enum By<'a> {
    /// `jwk` in the protected header.
    Jwk(&'a Signer),
    /// `kid` in the protected header, signed by the account's key.
    Kid(&'a Signer, &'a str),
}

/// The CA's answer to a successful POST.
pub struct Answer {
    /// `Location`, where the CA sent one (newAccount: the account URL).
    pub location: Option<String>,
    /// The body.
    pub body: Bytes,
}

/// A session with one CA: its directory and a nonce to use next.
pub struct Session {
    http: Box<dyn instant_acme::HttpClient>,
    /// The directory (RFC 8555 §7.1.1).
    pub directory: Value,
    directory_url: String,
    nonce: Option<String>,
}

impl Session {
    /// Read the CA's directory (retried under the one policy: a GET
    /// changes nothing at the CA).
    pub async fn open(config: &Config, directory_url: &str, out: &Output) -> Result<Session> {
        let http = client::http_client(config.ca_bundle.as_deref())?;
        let (_, _, _, body) = retry!(
            out,
            &format!("{directory_url}: directory"),
            exchange(&*http, get(directory_url, Method::GET)?)
        )?;
        let directory: Value = serde_json::from_slice(&body)
            .map_err(|e| Error::temp(format!("{directory_url}: not an ACME directory: {e}")))?;
        Ok(Session {
            http,
            directory,
            directory_url: directory_url.to_owned(),
            nonce: None,
        })
    }

    /// The directory's URL for `name` (newAccount, revokeCert, keyChange).
    pub fn url(&self, name: &str) -> Result<String> {
        self.directory[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::data(format!("{}: the CA offers no {name}", self.directory_url)))
    }

    /// POST `payload` to `url` signed as `by`; a rejected nonce is retried
    /// with the next one, as are the other faults the policy retries
    /// (`retry.rs`); a refusal is the CA's problem document, classified.
    pub async fn post(
        &mut self,
        what: &str,
        url: &str,
        by: By<'_>,
        payload: &Value,
        out: &Output,
    ) -> Result<Answer> {
        let mut attempts = retry::Attempts::new(what, out);
        loop {
            let nonce = match self.nonce.take() {
                Some(n) => n,
                None => {
                    let new_nonce = self.url("newNonce")?;
                    let (_, nonce, _, _) = retry!(
                        out,
                        &format!("{what}: new nonce"),
                        exchange(&*self.http, get(&new_nonce, Method::HEAD)?)
                    )?;
                    nonce.ok_or_else(|| Error::temp(format!("{what}: no nonce from the CA")))?
                }
            };
            let (signer, mut protected) = match by {
                By::Jwk(k) => (k, json!({"jwk": k.jwk()})),
                By::Kid(k, kid) => (k, json!({"kid": kid})),
            };
            protected["alg"] = signer.alg().into();
            protected["nonce"] = nonce.into();
            protected["url"] = url.into();
            let body = signer.jws(&protected, payload)?;
            let req = Request::builder()
                .method(Method::POST)
                .uri(url)
                .header("content-type", "application/jose+json")
                .body(BodyWrapper::from(body.to_string().into_bytes()))
                .map_err(|e| Error::config(format!("{url}: {e}")))?;
            let result = exchange(&*self.http, req).await;
            let (status, next_nonce, location, body) = match result {
                Ok(answer) => answer,
                Err(e) => {
                    attempts.wait_after(&e).await?;
                    continue;
                }
            };
            self.nonce = next_nonce;
            if status.is_success() {
                return Ok(Answer { location, body });
            }
            let problem: instant_acme::Problem = serde_json::from_slice(&body).map_err(|_| {
                Error::temp(format!("{what}: HTTP {status} without a problem document"))
            })?;
            // A rejected nonce comes with the next one to use; a refusal
            // no retry can change ends here, classified (`acme::classify`).
            attempts
                .wait_after(&instant_acme::Error::Api(problem))
                .await?;
        }
    }
}

fn get(uri: &str, method: Method) -> Result<Request<BodyWrapper<Bytes>>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(BodyWrapper::default())
        .map_err(|e| Error::config(format!("{uri}: {e}")))
}

/// One exchange, bounded by the client's request timeout: status,
/// `Replay-Nonce`, `Location` and the whole body.
async fn exchange(
    http: &dyn instant_acme::HttpClient,
    req: Request<BodyWrapper<Bytes>>,
) -> std::result::Result<(StatusCode, Option<String>, Option<String>, Bytes), instant_acme::Error> {
    let rsp = http.request(req).await?;
    let header = |name: &str| {
        rsp.parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (status, nonce, location) = (rsp.parts.status, header("replay-nonce"), header("location"));
    let mut body = rsp.body;
    let bytes: Bytes = body
        .into_bytes()
        .await
        .map_err(instant_acme::Error::Other)?;
    Ok((status, nonce, location, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_each_kind_sign_and_give_their_jwk() {
        let p256 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("p256");
        let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("p384");
        for (key, alg, crv) in [(&p256, "ES256", "P-256"), (&p384, "ES384", "P-384")] {
            let s = Signer::from_der(&key.serialize_der()).expect("ec key");
            assert_eq!(s.alg(), alg);
            assert_eq!(s.jwk()["crv"], crv);
            assert_eq!(s.spki().expect("spki"), crate::keys::spki(key));
            let jws = s.jws(&json!({"alg": alg}), &json!({})).expect("jws");
            assert!(jws["signature"].as_str().expect("sig").len() > 80);
        }
        let back = Signer::from_der(
            &Signer::from_der(&p256.serialize_der())
                .expect("p256")
                .p256_pkcs8()
                .expect("pkcs8"),
        )
        .expect("again");
        assert_eq!(
            back.jwk(),
            Signer::from_der(&p256.serialize_der()).expect("p256").jwk()
        );
        assert!(Signer::from_der(b"\x30\x03\x02\x01\x00").is_none());
    }

    #[test]
    fn an_ec_jwk_reads_as_the_same_key() {
        use aws_lc_rs::encoding::AsBigEndian;
        let p256 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("p256");
        let signer = Signer::from_der(&p256.serialize_der()).expect("p256");
        let Signer::P256(k) = &signer else {
            panic!("not P-256")
        };
        let d = k.private_key().as_be_bytes().expect("scalar");
        let mut jwk = signer.jwk();
        jwk["d"] = BASE64_URL_SAFE_NO_PAD.encode(d.as_ref()).into();
        let back = Signer::from_jwk(&jwk).expect("EC JWK");
        assert_eq!(back.jwk(), signer.jwk());
        assert_eq!(back.alg(), "ES256");
    }

    #[test]
    fn a_jwk_without_its_private_parts_is_refused() {
        let p256 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("p256");
        let public = Signer::from_der(&p256.serialize_der()).expect("p256").jwk();
        let e = Signer::from_jwk(&public).err().expect("no d");
        assert_eq!(e, "JWK member 'd' missing");
        let e = Signer::from_jwk(&json!({"kty": "OKP", "crv": "Ed25519"}))
            .err()
            .expect("okp");
        assert!(e.contains("kty OKP"), "{e}");
    }
}
