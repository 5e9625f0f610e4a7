//! Certificate profiles (the ACME profiles extension that Let's Encrypt
//! serves: `classic`, `tlsserver`, `shortlived`): the directory lists them
//! under `meta.profiles`, and a newOrder names one in its `profile` field.
//! A line's profile is checked against that list before anything is
//! ordered: a profile the CA does not offer is a configuration error
//! (78) naming the ones it does, not an order the CA refuses later.

use std::collections::BTreeMap;

use certdrop_core::error::{Error, Result};
use instant_acme::{Account, BodyWrapper};

use crate::config::{Config, Line};

/// The profiles a CA offers: name → the CA's description.
pub type Offered = BTreeMap<String, String>;

/// The profiles in the directory `account` was made from (instant-acme
/// reads `meta.profiles`; a directory without it offers none).
pub fn of_account(account: &Account) -> Offered {
    account
        .profiles()
        .map(|p| (p.name.to_owned(), p.description.to_owned()))
        .collect()
}

/// The profiles the configured directory offers, fetched for `-n`
/// (no account needed: the directory is a plain GET, RFC 8555 §7.1.1).
pub async fn of_directory(config: &Config) -> Result<Offered> {
    let what = format!("{}: directory", config.directory);
    let http = crate::client::http_client(config.ca_bundle.as_deref())?;
    let req = http::Request::builder()
        .method(http::Method::GET)
        .uri(&config.directory)
        .body(BodyWrapper::default())
        .map_err(|e| Error::software(format!("{what}: request: {e}")))?;
    let mut rsp = http
        .request(req)
        .await
        .map_err(|e| crate::acme::error(&what, &e))?;
    let status = rsp.parts.status.as_u16();
    let body = rsp
        .body
        .into_bytes()
        .await
        .map_err(|e| Error::unavailable(format!("{what}: read: {e}")))?;
    if status != 200 {
        return Err(Error::unavailable(format!("{what}: HTTP {status}")));
    }
    parse(&body).map_err(|why| Error::unavailable(format!("{what}: {why}")))
}

/// `meta.profiles` of a directory document; none when it has no such
/// object.
fn parse(body: &[u8]) -> std::result::Result<Offered, String> {
    let dir: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let Some(profiles) = dir.pointer("/meta/profiles").and_then(|p| p.as_object()) else {
        return Ok(Offered::new());
    };
    Ok(profiles
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect())
}

/// Is the line's profile (if any) one the CA offers? A configuration
/// error (78) otherwise, naming the profiles the CA has.
pub fn check(config: &Config, line: &Line, offered: &Offered) -> Result<()> {
    let Some(profile) = &line.profile else {
        return Ok(());
    };
    if offered.contains_key(profile) {
        return Ok(());
    }
    let ca = &config.directory;
    let why = match offered.is_empty() {
        true => format!(
            "the CA ({ca}) offers no profiles (its directory has no meta.profiles): remove the key or choose a CA that has them"
        ),
        false => format!(
            "the CA ({ca}) offers {}",
            offered.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    };
    Err(Error::config(format!(
        "{}: line '{}': profile '{profile}': {why}",
        config.path.display(),
        line.name
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_profiles_are_read_from_a_directory_and_absent_is_none() {
        let le = br#"{"newOrder": "x", "meta": {"profiles": {"classic": "c", "shortlived": "s"}}}"#;
        let got = parse(le).expect("parse");
        assert_eq!(got.keys().collect::<Vec<_>>(), ["classic", "shortlived"]);
        assert!(parse(br#"{"newOrder": "x", "meta": {}}"#)
            .expect("parse")
            .is_empty());
        assert!(parse(br#"{"newOrder": "x"}"#).expect("parse").is_empty());
        assert!(parse(b"<html>").is_err());
    }
}
