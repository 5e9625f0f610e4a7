//! The account (RFC 8555 §7.3): opened from its credentials or created on
//! first use ([`open`]), and the account verbs: `account show`, `account
//! deactivate`, `account rollover` (§7.3.5-7.3.6), and `revoke` (§7.6).
//!
//! Key rollover is crash-safe: instant-acme's `update_key` makes the new key
//! internally and hands it back only after the CA switched, so a crash in
//! between would lose the account. Instead we generate the key, store it
//! durably as `<account>.next`, and only then send our own keyChange request;
//! the next start that finds `<account>.next` asks the CA which key it knows
//! (newAccount with onlyReturnExisting) and keeps that one.

use std::path::PathBuf;

use base64::prelude::{Engine, BASE64_URL_SAFE_NO_PAD};
use bytes::Bytes;
use certdrop_core::exit::{Failure, Outcome};
use certdrop_core::output::Output;
use http::{Method, Request};
use instant_acme::{
    Account, AccountCredentials, BodyWrapper, ExternalAccountKey, NewAccount, RevocationReason,
    RevocationRequest,
};
use serde_json::{json, Value};

use crate::cli::Reason;
use crate::config::Config;
use crate::retry;
use crate::{acme, client};
use certdrop_core::error::{Error, Result};

/// `<account>.next`: the new key of an unfinished rollover.
pub fn next_path(config: &Config) -> PathBuf {
    let mut p = config.account.clone().into_os_string();
    p.push(".next");
    PathBuf::from(p)
}

/// The account: loaded from its credentials, or created on first use when
/// the terms are agreed in the configuration.
pub async fn open(config: &Config, out: &Output) -> Result<(Account, bool)> {
    let subject = format!("account {}", config.account.display());
    settle_rollover(config, out).await?;
    if let Some(creds) = acme::read_credentials(&config.account)? {
        if let Some(dir) = acme::credentials_directory(&creds) {
            if dir != config.directory {
                return Err(Error::config(format!(
                    "{subject}: made for {dir}, but the configuration says {}",
                    config.directory
                )));
            }
        }
        let account = retry!(
            out,
            &subject,
            Account::builder_with_http(client::http_client(config.ca_bundle.as_deref())?)
                .from_credentials(acme::clone_credentials(&creds))
        )?;
        published(config, account.id(), false, out)?;
        return Ok((account, false));
    }
    if !config.agree_terms {
        return Err(Error::config(format!(
            "{}: no account yet: read the CA's terms of service and set agree_terms = true",
            config.path.display()
        )));
    }
    let contact: Vec<&str> = config.contact.iter().map(String::as_str).collect();
    let new = NewAccount {
        contact: &contact,
        terms_of_service_agreed: true,
        only_return_existing: false,
    };
    // The binding's key is read here, once, and dropped with this scope:
    // it is never stored with the credentials nor written to any output.
    let eab = match &config.eab {
        Some(e) => Some(ExternalAccountKey::new(e.kid.clone(), &e.read_key()?)),
        None => None,
    };
    let (account, creds) = retry!(
        out,
        &format!("{subject}: create at {}", config.directory),
        Account::builder_with_http(client::http_client(config.ca_bundle.as_deref())?).create(
            &new,
            config.directory.clone(),
            eab.as_ref()
        )
    )
    .map_err(|e| eab_hint(config, e))?;
    acme::write_credentials(&config.account, &creds)?;
    out.action(&format!("account created: {}", account.id()));
    published(config, account.id(), true, out)?;
    Ok((account, true))
}

/// Publish the account URI in `<certs>/.accounts/<ca>.json`
/// (`accountfile.rs`), always with `force`, else when it changed.
fn published(config: &Config, uri: &str, force: bool, out: &Output) -> Result<()> {
    if crate::accountfile::note(config, uri, force)? {
        out.verbose(&format!(
            "account {uri} published in {}",
            crate::accountfile::path(config).display()
        ));
    }
    Ok(())
}

/// A refused account creation, with what to do about a binding: the CA
/// wants one (externalAccountRequired) and none is configured, or it
/// refused the one configured (its own words are kept either way).
///
/// A binding the CA refuses is a configuration error (78) whichever problem
/// type the CA chose for it (Pebble says `unauthorized`; a CA may as well
/// say `malformed`): no retry and no other input fixes a wrong kid or key.
fn eab_hint(config: &Config, e: Error) -> Error {
    if !matches!(e.class, Failure::Config | Failure::Data) {
        return e;
    }
    let msg = match &config.eab {
        None if e.msg.contains("externalAccountRequired") => format!(
            "{}; this CA requires External Account Binding: set eab = {{ kid = \"...\", hmac_key_file = \"...\" }} in {} (the CA's key identifier and HMAC key)",
            e.msg,
            config.path.display()
        ),
        Some(eab) => format!(
            "{} (eab kid {} with the key in {}: check both against the CA's account page)",
            e.msg,
            eab.kid,
            eab.hmac_key_file.display()
        ),
        None => return e,
    };
    Error::config(msg)
}

/// `account show`.
pub async fn show(config: &Config, json: bool, out: &Output) -> Result<Outcome> {
    let creds = acme::read_credentials(&config.account)?.ok_or_else(|| {
        Error::noinput(format!(
            "{}: no account yet (created by the first run)",
            config.account.display()
        ))
    })?;
    let account = load(config, &creds, out).await?;
    // `show` reads; a store it cannot write to is said, not fatal.
    if let Err(e) = published(config, account.id(), true, out) {
        out.warn(&e.msg);
    }
    let v = json!({
        "account": account.id(),
        "directory": acme::credentials_directory(&creds),
        "thumbprint": account.key_thumbprint(),
        "credentials": config.account,
        "contact": config.contact,
    });
    if json {
        out.print(&serde_json::to_string_pretty(&v).expect("json"));
    } else {
        out.print(&format!(
            "account     {}\ndirectory   {}\nthumbprint  {}\ncredentials {}",
            account.id(),
            acme::credentials_directory(&creds).unwrap_or_default(),
            account.key_thumbprint(),
            config.account.display()
        ));
    }
    Ok(Outcome::Reported)
}

async fn load(config: &Config, creds: &AccountCredentials, out: &Output) -> Result<Account> {
    retry!(
        out,
        &format!("account {}", config.account.display()),
        Account::builder_with_http(client::http_client(config.ca_bundle.as_deref())?)
            .from_credentials(acme::clone_credentials(creds))
    )
}

/// `account deactivate --yes`.
pub async fn deactivate(config: &Config, yes: bool, out: &Output) -> Result<Outcome> {
    if !yes {
        return Err(Error::new(
            Failure::Usage,
            "account deactivate: irreversible; add --yes to confirm",
        ));
    }
    let creds = acme::read_credentials(&config.account)?
        .ok_or_else(|| Error::noinput(format!("{}: no account", config.account.display())))?;
    let account = load(config, &creds, out).await?;
    let id = account.id().to_owned();
    retry!(out, "account deactivate", account.clone().deactivate())?;
    // The URI stays the published one until a new account replaces it
    // (and sends it to `previous`).
    published(config, &id, true, out)?;
    // Keep the credentials for the record, out of the way of the next run.
    let mut gone = config.account.clone().into_os_string();
    gone.push(".deactivated");
    certdrop_core::atomic::rename(&config.account, &PathBuf::from(gone))
        .map_err(|e| Error::io(&config.account, "set aside", &e))?;
    out.action(&format!("account deactivated: {id}"));
    Ok(Outcome::Changed)
}

/// `revoke LINE --reason R [--with-cert-key]`: revoke the line's current
/// certificate with the account key, or with the certificate's own key
/// (RFC 8555 §7.6) when the account is gone; the next run replaces it.
pub async fn revoke(
    config: &Config,
    line: &str,
    reason: Reason,
    with_cert_key: bool,
    out: &Output,
) -> Result<Outcome> {
    let line = config.line(line)?;
    let cert = crate::lifecycle::current_cert(config, line)?
        .ok_or_else(|| Error::noinput(format!("{}: no certificate to revoke", line.name)))?;
    if with_cert_key {
        revoke_by_cert_key(config, line, &cert, reason, out).await?;
        return revoked(config, line, &cert, reason, out);
    }
    let (account, _) = open(config, out).await?;
    let der = rustls_pki_types::CertificateDer::from(cert.der.clone());
    retry!(
        out,
        &format!("{}: revoke", line.name),
        account.revoke(&RevocationRequest {
            certificate: &der,
            reason: revocation_reason(reason),
        })
    )?;
    revoked(config, line, &cert, reason, out)
}

/// The reason code sent (RFC 5280 §5.3.1); none for "unspecified".
fn revocation_reason(reason: Reason) -> Option<RevocationReason> {
    match reason {
        Reason::Unspecified => None,
        Reason::KeyCompromise => Some(RevocationReason::KeyCompromise),
        Reason::AffiliationChanged => Some(RevocationReason::AffiliationChanged),
        Reason::Superseded => Some(RevocationReason::Superseded),
        Reason::CessationOfOperation => Some(RevocationReason::CessationOfOperation),
    }
}

/// POST revokeCert signed by the certificate's key with its JWK in the
/// header (RFC 8555 §7.6): no account involved. The key is the line's
/// current key, checked to be the certificate's before anything is sent.
async fn revoke_by_cert_key(
    config: &Config,
    line: &crate::config::Line,
    cert: &certdrop_core::certinfo::CertInfo,
    reason: Reason,
    out: &Output,
) -> Result<()> {
    if matches!(line.key_policy, crate::config::KeyPolicy::Csr(_)) {
        return Err(Error::config(format!(
            "{}: the key of a CSR line is not ours: revoke with the account key, or where the key is",
            line.name
        )));
    }
    let path = config.store.key_path(&line.name);
    let key = crate::keys::load(&path, line.key_group)?;
    let key = crate::jws::Signer::from_der(&key.serialize_der())
        .ok_or_else(|| Error::data(format!("{}: not a key that can sign", path.display())))?;
    if key.spki()? != cert.spki {
        return Err(Error::data(format!(
            "{}: not the key of certificate {} (a rollover since?)",
            path.display(),
            cert.serial
        )));
    }
    let mut ca = crate::jws::Session::open(config, &config.directory, out).await?;
    let url = ca.url("revokeCert")?;
    let mut payload = json!({"certificate": BASE64_URL_SAFE_NO_PAD.encode(&cert.der)});
    if let Some(r) = revocation_reason(reason) {
        payload["reason"] = json!(r as u8);
    }
    let what = format!("{}: revoke with the certificate's key", line.name);
    ca.post(&what, &url, crate::jws::By::Jwk(&key), &payload, out)
        .await?;
    Ok(())
}

/// Record a revocation in the line's state, so the next run replaces the
/// certificate (and its key, after a key compromise).
fn revoked(
    config: &Config,
    line: &crate::config::Line,
    cert: &certdrop_core::certinfo::CertInfo,
    reason: Reason,
    out: &Output,
) -> Result<Outcome> {
    let mut st = crate::state::load(&config.state, &line.name)?;
    st.revoked_serial = Some(cert.serial.clone());
    st.key_compromised |= matches!(reason, Reason::KeyCompromise);
    crate::state::save(&config.state, &line.name, &st)?;
    out.action(&format!(
        "{}: certificate {} revoked; the next run replaces it",
        line.name, cert.serial
    ));
    Ok(Outcome::Changed)
}

/// `account rollover`.
pub async fn rollover(config: &Config, out: &Output) -> Result<Outcome> {
    settle_rollover(config, out).await?;
    let creds = acme::read_credentials(&config.account)?
        .ok_or_else(|| Error::noinput(format!("{}: no account", config.account.display())))?;
    let account = load(config, &creds, out).await?;
    let directory = acme::credentials_directory(&creds)
        .ok_or_else(|| Error::data("account credentials name no directory"))?;

    // 1. The new key, durably on disk before anything is sent.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .map_err(|_| Error::software("account key generation failed"))?;
    let mut next: Value = serde_json::to_value(&creds).expect("credentials serialize");
    next["key_pkcs8"] = Value::String(BASE64_URL_SAFE_NO_PAD.encode(pkcs8.as_ref()));
    let next_creds: AccountCredentials = serde_json::from_value(next)
        .map_err(|e| Error::software(format!("new credentials: {e}")))?;
    let next_file = next_path(config);
    acme::write_credentials(&next_file, &next_creds)?;

    // 2. Tell the CA: outer JWS by the old key, inner JWS by the new one.
    let old = key_pair(&creds)?;
    let new = key_pair(&next_creds)?;
    let result = key_change(config, &directory, account.id(), &old, &new, out).await;
    match result {
        Ok(()) => {
            // 3. The CA knows the new key: make it the account's.
            certdrop_core::atomic::rename(&next_file, &config.account)
                .map_err(|e| Error::io(&config.account, "install new account key", &e))?;
            let account = load(config, &next_creds, out).await?;
            // The URI is the same (RFC 8555 §7.3.5): the records stand.
            published(config, account.id(), true, out)?;
            out.action(&format!(
                "account key replaced: {} (thumbprint {})",
                account.id(),
                account.key_thumbprint()
            ));
            Ok(Outcome::Changed)
        }
        Err(e) if e.class == Failure::Data || e.class == Failure::Config => {
            // The CA refused: the old key stays.
            let _ = certdrop_core::atomic::remove(&next_file);
            Err(e)
        }
        Err(e) => Err(e), // unknown: settled by the next start
    }
}

/// Finish or undo a rollover a crash interrupted: keep whichever key the
/// CA recognises for the account.
pub async fn settle_rollover(config: &Config, out: &Output) -> Result<()> {
    let next_file = next_path(config);
    let Some(next_creds) = acme::read_credentials(&next_file)? else {
        return Ok(());
    };
    let directory = acme::credentials_directory(&next_creds)
        .ok_or_else(|| Error::data("account credentials name no directory"))?;
    let pkcs8 = next_creds.private_key().clone_key();
    let key = instant_acme::Key::from_pkcs8_der(pkcs8.clone_key())
        .map_err(|e| Error::data(format!("{}: {e}", next_file.display())))?;
    let found = Account::builder_with_http(client::http_client(config.ca_bundle.as_deref())?)
        .from_key(
            (key, rustls_pki_types::PrivateKeyDer::Pkcs8(pkcs8)),
            directory,
        )
        .await;
    match found {
        Ok(_) => {
            certdrop_core::atomic::rename(&next_file, &config.account)
                .map_err(|e| Error::io(&config.account, "install new account key", &e))?;
            out.action("account: finished an interrupted key rollover");
        }
        Err(instant_acme::Error::Api(p))
            if p.r#type
                .as_deref()
                .is_some_and(|t| t.ends_with(":accountDoesNotExist")) =>
        {
            certdrop_core::atomic::remove(&next_file)
                .map_err(|e| Error::io(&next_file, "remove", &e))?;
            out.verbose("account: an interrupted key rollover never reached the CA; old key kept");
        }
        Err(e) => return Err(acme::error("account: settling an interrupted rollover", &e)),
    }
    Ok(())
}

fn key_pair(creds: &AccountCredentials) -> Result<aws_lc_rs::signature::EcdsaKeyPair> {
    aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        creds.private_key().secret_pkcs8_der(),
    )
    .map_err(|_| Error::data("account key is not an ECDSA P-256 PKCS#8 key"))
}

/// The JWK of a P-256 key (RFC 7518 §6.2.1).
fn jwk(key: &aws_lc_rs::signature::EcdsaKeyPair) -> Value {
    use aws_lc_rs::signature::KeyPair;
    let point = key.public_key().as_ref();
    let (x, y) = point[1..].split_at(32);
    json!({"crv": "P-256", "kty": "EC", "x": BASE64_URL_SAFE_NO_PAD.encode(x), "y": BASE64_URL_SAFE_NO_PAD.encode(y)})
}

/// A flattened JWS (RFC 7515 §7.2.2) signed with ES256.
fn jws(
    key: &aws_lc_rs::signature::EcdsaKeyPair,
    protected: &Value,
    payload: &Value,
) -> Result<Value> {
    let protected = BASE64_URL_SAFE_NO_PAD.encode(protected.to_string());
    let payload = BASE64_URL_SAFE_NO_PAD.encode(payload.to_string());
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let sig = key
        .sign(&rng, format!("{protected}.{payload}").as_bytes())
        .map_err(|_| Error::software("signing failed"))?;
    Ok(
        json!({"protected": protected, "payload": payload, "signature": BASE64_URL_SAFE_NO_PAD.encode(sig.as_ref())}),
    )
}

/// POST keyChange (RFC 8555 §7.3.5), retrying a rejected nonce and the
/// other transient faults under the one policy (`retry.rs`).
async fn key_change(
    config: &Config,
    directory: &str,
    account_url: &str,
    old: &aws_lc_rs::signature::EcdsaKeyPair,
    new: &aws_lc_rs::signature::EcdsaKeyPair,
    out: &Output,
) -> Result<()> {
    let http = client::http_client(config.ca_bundle.as_deref())?;
    // Each exchange is bounded by the client's request timeout; a stall
    // names its endpoint.
    let send = |req: Request<BodyWrapper<Bytes>>| {
        let fut = http.request(req);
        async move {
            let rsp = fut.await?;
            let status = rsp.parts.status;
            let nonce = rsp
                .parts
                .headers
                .get("replay-nonce")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut body = rsp.body;
            let bytes: Bytes = body
                .into_bytes()
                .await
                .map_err(instant_acme::Error::Other)?;
            Ok::<_, instant_acme::Error>((status, nonce, bytes))
        }
    };
    let get = |uri: &str, method: Method| {
        Request::builder()
            .method(method)
            .uri(uri)
            .body(BodyWrapper::default())
            .map_err(|e| Error::config(format!("{uri}: {e}")))
    };
    // Reading the directory and fetching a nonce change nothing at the CA:
    // they are retried under the policy. The keyChange POST is not (after
    // a lost answer the CA may know the new key already: the next start
    // settles that, `settle_rollover`), except for a rejected nonce.
    let (_, _, dir) = retry!(
        out,
        "account rollover: directory",
        send(get(directory, Method::GET)?)
    )?;
    let dir: Value = serde_json::from_slice(&dir)
        .map_err(|e| Error::temp(format!("{directory}: not an ACME directory: {e}")))?;
    let (Some(new_nonce), Some(key_change)) = (dir["newNonce"].as_str(), dir["keyChange"].as_str())
    else {
        return Err(Error::data(format!(
            "{directory}: the CA offers no keyChange"
        )));
    };
    let inner = jws(
        new,
        &json!({"alg": "ES256", "jwk": jwk(new), "url": key_change}),
        &json!({"account": account_url, "oldKey": jwk(old)}),
    )?;
    let mut nonce = None;
    let mut attempts = retry::Attempts::new("account rollover", out);
    loop {
        let n = match nonce.take() {
            Some(n) => n,
            None => retry!(
                out,
                "account rollover: new nonce",
                send(get(new_nonce, Method::HEAD)?)
            )?
            .1
            .ok_or_else(|| Error::temp("account rollover: no nonce from the CA"))?,
        };
        let outer = jws(
            old,
            &json!({"alg": "ES256", "kid": account_url, "nonce": n, "url": key_change}),
            &inner,
        )?;
        let req = Request::builder()
            .method(Method::POST)
            .uri(key_change)
            .header("content-type", "application/jose+json")
            .body(BodyWrapper::from(outer.to_string().into_bytes()))
            .map_err(|e| Error::config(format!("{key_change}: {e}")))?;
        let (status, next_nonce, body) = send(req)
            .await
            .map_err(|e| acme::error("account rollover", &e))?;
        if status.is_success() {
            return Ok(());
        }
        let problem: instant_acme::Problem = serde_json::from_slice(&body).map_err(|_| {
            Error::temp(format!(
                "account rollover: HTTP {status} without a problem document"
            ))
        })?;
        // A rejected nonce comes with the next one to use.
        attempts
            .wait_after(&instant_acme::Error::Api(problem))
            .await?;
        nonce = next_nonce;
    }
}
