//! `account import FILE`: take over the account of another ACME client
//! (acme.sh, dehydrated, uacme, lego: a PEM key; certbot: a JWK) without
//! registering anew. The key finds its account URL with newAccount and
//! `onlyReturnExisting` (RFC 8555 §7.3.1); the credentials are then stored
//! as certdrop's own account.
//!
//! instant-acme signs with ECDSA P-256 only. A P-256 key is kept as it is
//! (the other client keeps working alongside); any other key (RSA, as
//! certbot, dehydrated and uacme make by default; P-384) hands the account
//! over to a fresh P-256 key with keyChange (§7.3.5), stored before the CA
//! is told, as `account rollover` does: from then on the old key no longer
//! speaks for the account.

use std::path::Path;

use base64::prelude::{Engine, BASE64_URL_SAFE_NO_PAD};
use certdrop_core::exit::{Failure, Outcome};
use certdrop_core::output::Output;
use instant_acme::AccountCredentials;
use serde_json::{json, Value};

use crate::cli::KeyFormat;
use crate::config::Config;
use crate::jws::{By, Session, Signer};
use crate::{account, acme};
use certdrop_core::error::{Error, Result};

/// Longest key file read (an RSA 8192 key in PEM is under 7 kB).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// `account import FILE --format F`.
pub async fn import(
    config: &Config,
    file: &Path,
    format: KeyFormat,
    out: &Output,
) -> Result<Outcome> {
    if config.account.exists() {
        return Err(Error::new(
            Failure::CantCreate,
            format!(
                "{}: an account is stored already; move it aside to import another",
                config.account.display()
            ),
        ));
    }
    let key = read_key(file, format)?;
    let mut ca = Session::open(config, &config.directory, out).await?;
    let new_account = ca.url("newAccount")?;
    let what = format!("account import {}", file.display());
    let found = ca
        .post(
            &what,
            &new_account,
            By::Jwk(&key),
            &json!({"onlyReturnExisting": true}),
            out,
        )
        .await
        .map_err(|e| match e.msg.contains("accountDoesNotExist") {
            true => Error::config(format!(
                "{}: {} has no account for this key",
                file.display(),
                config.directory
            )),
            false => e,
        })?;
    let id = found
        .location
        .ok_or_else(|| Error::data(format!("{what}: the CA named no account URL")))?;
    let status = serde_json::from_slice::<Value>(&found.body)
        .ok()
        .and_then(|v| v["status"].as_str().map(str::to_owned));
    if status.as_deref().is_some_and(|s| s != "valid") {
        return Err(Error::config(format!(
            "{}: the account {id} is {}: it cannot be used",
            file.display(),
            status.unwrap_or_default()
        )));
    }

    if let Some(pkcs8) = key.p256_pkcs8() {
        acme::write_credentials(&config.account, &credentials(&id, &pkcs8, config)?)?;
        out.action(&format!("account imported: {id}"));
        return Ok(Outcome::Changed);
    }

    // Another kind of key: the new P-256 key is on disk before the CA
    // learns of it; a crash after that is settled by the next start
    // (`account::settle_rollover`), a refusal removes it.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .map_err(|_| Error::software("account key generation failed"))?;
    let new = Signer::from_der(pkcs8.as_ref())
        .ok_or_else(|| Error::software("generated account key unreadable"))?;
    let next_file = account::next_path(config);
    acme::write_credentials(&next_file, &credentials(&id, pkcs8.as_ref(), config)?)?;
    let key_change = ca.url("keyChange")?;
    let inner = new.jws(
        &json!({"alg": new.alg(), "jwk": new.jwk(), "url": key_change}),
        &json!({"account": id, "oldKey": key.jwk()}),
    )?;
    let told = ca
        .post(
            &format!("{what}: keyChange"),
            &key_change,
            By::Kid(&key, &id),
            &inner,
            out,
        )
        .await;
    match told {
        Ok(_) => {}
        Err(e) if e.class == Failure::Data || e.class == Failure::Config => {
            let _ = certdrop_core::atomic::remove(&next_file);
            return Err(e);
        }
        Err(e) => return Err(e),
    }
    certdrop_core::atomic::rename(&next_file, &config.account)
        .map_err(|e| Error::io(&config.account, "install imported account", &e))?;
    out.action(&format!(
        "account imported: {id} (its {} key replaced by a new ECDSA P-256 key; {} no longer speaks for it)",
        key.describe(),
        file.display()
    ));
    Ok(Outcome::Changed)
}

/// instant-acme's credentials: account URL, PKCS#8 key, directory.
fn credentials(id: &str, pkcs8: &[u8], config: &Config) -> Result<AccountCredentials> {
    serde_json::from_value(json!({
        "id": id,
        "key_pkcs8": BASE64_URL_SAFE_NO_PAD.encode(pkcs8),
        "directory": config.directory,
    }))
    .map_err(|e| Error::software(format!("account credentials: {e}")))
}

/// The key file: refused when others may read it (like every private key),
/// then read as PEM (any private-key block: PKCS#8, SEC1, PKCS#1; acme.sh's
/// `EC PARAMETERS` block before it is skipped) or JWK.
fn read_key(file: &Path, format: KeyFormat) -> Result<Signer> {
    let io = |e: &std::io::Error| Error::io(file, "read account key", e);
    let f = std::fs::File::open(file).map_err(|e| io(&e))?;
    let meta = f.metadata().map_err(|e| io(&e))?;
    certdrop_core::keymode::check(file, &meta, None)?;
    if meta.len() > MAX_KEY_FILE {
        return Err(Error::data(format!(
            "{}: larger than {MAX_KEY_FILE} bytes: not an account key",
            file.display()
        )));
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_KEY_FILE), &mut bytes)
        .map_err(|e| io(&e))?;
    let looks_jwk = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let format = match format {
        KeyFormat::Auto if looks_jwk => KeyFormat::Jwk,
        KeyFormat::Auto => KeyFormat::Pem,
        f => f,
    };
    let bad = |why: String| Error::data(format!("{}: {why}", file.display()));
    match format {
        KeyFormat::Jwk => {
            let v: Value =
                serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a JWK: {e}")))?;
            Signer::from_jwk(&v).map_err(bad)
        }
        _ => {
            use rustls_pki_types::pem::PemObject;
            let der = rustls_pki_types::PrivateKeyDer::from_pem_slice(&bytes)
                .map_err(|e| bad(format!("no PEM private key: {e}")))?;
            Signer::from_der(der.secret_der())
                .ok_or_else(|| bad("not an RSA, ECDSA P-256 or P-384 private key".into()))
        }
    }
}
