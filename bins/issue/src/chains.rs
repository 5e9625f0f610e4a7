//! Alternate certificate chains (RFC 8555 §7.4.2): a CA may offer the same
//! certificate under other chains, named by `Link: rel="alternate"` headers
//! on the certificate download. A line's `preferred_chain` names the issuer
//! (its common name) of the chain's top certificate; the chain that matches
//! is kept, and the CA's default when none does. instant-acme returns only
//! the body of the download, so the HTTP client notes the links
//! (`client::take_alternates`) and the alternates are fetched here with our
//! own POST-as-GET (RFC 8555 §6.3), signed with the account's key.

use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use certdrop_core::error::{Error, Result};
use certdrop_core::output::Output;
use http::{HeaderMap, Method, Request};
use instant_acme::{BodyWrapper, HttpClient};
use serde_json::{json, Value};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::config::{Config, Line};
use crate::{acme, client, retry};

/// The chain to keep of a certificate just downloaded from `cert_url`:
/// `default` (the CA's default chain) unless the line prefers a chain whose
/// top certificate another issuer issued and the CA offers one; `-v` says
/// which was chosen and why.
pub async fn choose(
    config: &Config,
    line: &Line,
    cert_url: Option<&str>,
    default: String,
    out: &Output,
) -> Result<String> {
    // Taken in any case, so that no note outlives its download.
    let alternates = cert_url.map(client::take_alternates).unwrap_or_default();
    let Some(want) = line.preferred_chain.as_deref() else {
        return Ok(default);
    };
    let subject = line.name.as_str();
    let default_top = top_issuer(default.as_bytes()).unwrap_or_default();
    if default_top == want {
        out.verbose(&format!(
            "{subject}: chain: the CA's default chain, its top certificate issued by '{want}' as preferred"
        ));
        return Ok(default);
    }
    let mut seen = vec![format!("'{default_top}' (default)")];
    if !alternates.is_empty() {
        let signer = Signer::load(config)?;
        for url in &alternates {
            let pem = signer.post_as_get(config, url, out).await?;
            let top = top_issuer(pem.as_bytes()).unwrap_or_default();
            if top == want {
                out.verbose(&format!(
                    "{subject}: chain: the alternate {url}, its top certificate issued by '{want}' as preferred"
                ));
                return Ok(pem);
            }
            seen.push(format!("'{top}'"));
        }
    }
    out.verbose(&format!(
        "{subject}: chain: none of the {} chain(s) the CA offers has a top certificate issued by '{want}' (issuers: {}): the CA's default chain is kept",
        seen.len(),
        seen.join(", ")
    ));
    Ok(default)
}

/// The issuer's common name of the last certificate of a PEM chain (the
/// top one, as the CA sent it), if there is one.
pub fn top_issuer(pem: &[u8]) -> Option<String> {
    let ders = certdrop_core::certinfo::pem_blocks(pem, "CERTIFICATE").ok()?;
    let (_, cert) = X509Certificate::from_der(ders.last()?).ok()?;
    let cn = cert.issuer().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// The `rel="alternate"` targets among the `Link` headers of an answer to
/// `base` (RFC 8288 §3), made absolute against it.
pub fn alternate_links(base: &str, headers: &HeaderMap) -> Vec<String> {
    let mut found = Vec::new();
    for value in headers.get_all(http::header::LINK) {
        let Ok(value) = value.to_str() else { continue };
        let mut rest = value;
        while let Some(open) = rest.find('<') {
            let Some(close) = rest[open..].find('>') else {
                break;
            };
            let target = &rest[open + 1..open + close];
            rest = &rest[open + close + 1..];
            // The parameters run up to the next link.
            let params = &rest[..rest.find('<').unwrap_or(rest.len())];
            if is_alternate(params) {
                found.push(absolute(base, target));
            }
        }
    }
    found
}

/// Does a link's parameter list hold `rel="alternate"` (`rel` may list
/// several relation types, and may be unquoted)?
fn is_alternate(params: &str) -> bool {
    params.split(';').any(|p| {
        let Some((key, value)) = p.split_once('=') else {
            return false;
        };
        key.trim().eq_ignore_ascii_case("rel")
            && value
                .trim()
                .trim_end_matches(',')
                .trim()
                .trim_matches('"')
                .split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("alternate"))
    })
}

/// A link target made absolute: as it is when it names its scheme, else
/// on `base`'s origin (a path; the CA's own links are absolute).
fn absolute(base: &str, target: &str) -> String {
    if target.contains("://") {
        return target.to_owned();
    }
    let origin_end = base
        .find("://")
        .and_then(|s| base[s + 3..].find('/').map(|p| s + 3 + p))
        .unwrap_or(base.len());
    format!("{}/{}", &base[..origin_end], target.trim_start_matches('/'))
}

/// The account's key and URL, for our own signed requests.
struct Signer {
    key: EcdsaKeyPair,
    kid: String,
}

impl Signer {
    /// From the account's credentials file (the key instant-acme signs with).
    fn load(config: &Config) -> Result<Signer> {
        let subject = format!("account {}", config.account.display());
        let creds = acme::read_credentials(&config.account)?
            .ok_or_else(|| Error::software(format!("{subject}: no credentials")))?;
        let kid = serde_json::to_value(&creds)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned))
            .ok_or_else(|| Error::data(format!("{subject}: no account URL")))?;
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            creds.private_key().secret_pkcs8_der(),
        )
        .map_err(|_| Error::data(format!("{subject}: not an ECDSA P-256 PKCS#8 key")))?;
        Ok(Signer { key, kid })
    }

    /// A flattened JWS (RFC 7515 §7.2.2) with an empty payload: a
    /// POST-as-GET of `url` (RFC 8555 §6.3).
    fn post_as_get_body(&self, url: &str, nonce: &str) -> Result<Vec<u8>> {
        let protected = URL_SAFE_NO_PAD.encode(
            json!({"alg": "ES256", "kid": self.kid, "nonce": nonce, "url": url}).to_string(),
        );
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = self
            .key
            .sign(&rng, format!("{protected}.").as_bytes())
            .map_err(|_| Error::software("alternate chain: signing failed"))?;
        let jws = json!({"protected": protected, "payload": "", "signature": URL_SAFE_NO_PAD.encode(sig.as_ref())});
        Ok(jws.to_string().into_bytes())
    }

    /// Fetch the chain at `url`: a nonce first (newNonce from the
    /// directory), then the signed request, again with the CA's next nonce
    /// after a `badNonce`; other faults under the one retry policy.
    async fn post_as_get(&self, config: &Config, url: &str, out: &Output) -> Result<String> {
        let what = format!("alternate chain {url}");
        let http = client::http_client(config.ca_bundle.as_deref())?;
        let (_, _, dir) = retry!(
            out,
            &format!("{what}: directory"),
            send(
                http.as_ref(),
                request(&config.directory, Method::GET, None)?
            )
        )?;
        let dir: Value = serde_json::from_slice(&dir).map_err(|e| {
            Error::temp(format!("{}: not an ACME directory: {e}", config.directory))
        })?;
        let new_nonce = dir["newNonce"].as_str().ok_or_else(|| {
            Error::data(format!(
                "{}: the directory has no newNonce",
                config.directory
            ))
        })?;
        let mut nonce = None;
        let mut attempts = retry::Attempts::new(&what, out);
        loop {
            let n = match nonce.take() {
                Some(n) => n,
                None => retry!(
                    out,
                    &format!("{what}: new nonce"),
                    send(http.as_ref(), request(new_nonce, Method::HEAD, None)?)
                )?
                .1
                .ok_or_else(|| Error::temp(format!("{what}: no nonce from the CA")))?,
            };
            let body = self.post_as_get_body(url, &n)?;
            let (status, next, bytes) =
                match send(http.as_ref(), request(url, Method::POST, Some(body))?).await {
                    Ok(answer) => answer,
                    Err(e) => {
                        attempts.wait_after(&e).await?;
                        continue;
                    }
                };
            if status.is_success() {
                return String::from_utf8(bytes.to_vec())
                    .map_err(|_| Error::data(format!("{what}: not a PEM chain")));
            }
            let problem: instant_acme::Problem = serde_json::from_slice(&bytes).map_err(|_| {
                Error::temp(format!("{what}: HTTP {status} without a problem document"))
            })?;
            // A rejected nonce comes with the next one to use.
            attempts
                .wait_after(&instant_acme::Error::Api(problem))
                .await?;
            nonce = next;
        }
    }
}

/// A request to the CA; `body` makes it a JOSE POST.
fn request(
    url: &str,
    method: Method,
    body: Option<Vec<u8>>,
) -> Result<Request<BodyWrapper<Bytes>>> {
    let mut req = Request::builder().method(method).uri(url);
    let body = match body {
        Some(b) => {
            req = req.header(http::header::CONTENT_TYPE, "application/jose+json");
            BodyWrapper::from(b)
        }
        None => BodyWrapper::default(),
    };
    req.body(body)
        .map_err(|e| Error::data(format!("{url}: {e}")))
}

/// One exchange: status, Replay-Nonce, body.
async fn send(
    http: &dyn HttpClient,
    req: Request<BodyWrapper<Bytes>>,
) -> std::result::Result<(http::StatusCode, Option<String>, Bytes), instant_acme::Error> {
    let rsp = http.request(req).await?;
    let nonce = rsp
        .parts
        .headers
        .get("replay-nonce")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = rsp.body;
    let bytes = body
        .into_bytes()
        .await
        .map_err(instant_acme::Error::Other)?;
    Ok((rsp.parts.status, nonce, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(values: &[&str]) -> Vec<String> {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(http::header::LINK, v.parse().expect("header"));
        }
        alternate_links("https://ca.test:14000/certZ/abc", &h)
    }

    #[test]
    fn alternate_links_are_read_from_every_link_header() {
        // As Pebble sends them: one header per link, the directory's `up` too.
        assert_eq!(
            links(&[
                "<https://ca.test:14000/dir>;rel=\"index\"",
                "<https://ca.test:14000/certZ/abc/1>;rel=\"alternate\"",
                "<https://ca.test:14000/certZ/abc/2>;rel=\"alternate\"",
            ]),
            [
                "https://ca.test:14000/certZ/abc/1",
                "https://ca.test:14000/certZ/abc/2"
            ]
        );
        // Several in one header, unquoted, several relation types, a path.
        assert_eq!(
            links(&["<https://x.test/a/1>; rel=alternate, </a/2>; title=\"x\"; rel=\"up alternate\", <https://x.test/u>; rel=up"]),
            ["https://x.test/a/1", "https://ca.test:14000/a/2"]
        );
        assert!(links(&[]).is_empty());
        assert!(links(&["<https://x.test/a>;rel=\"alternates\""]).is_empty());
    }
}
