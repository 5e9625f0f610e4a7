//! The public account information file `<certs>/.accounts/<ca>.json`
//! (`<ca>`: `default` for the top-level account, else the `[[ca]]`
//! name): which account URI this issuer uses at that CA, for
//! certdrop-zone's `[[zone.persist]]` to bind names to it in
//! `_validation-persist` records (draft-ietf-acme-dns-persist §4 item 3).
//! Mode 0644, written atomically and durably; it holds no secret.
//!
//! ```json
//! {"ca": "default", "directory": "https://...", "account": "https://.../acct/1",
//!  "previous": ["https://.../acct/0"], "updated": "2026-12-05T12:00:00Z"}
//! ```
//!
//! `previous` keeps the URIs of accounts this one replaced (a
//! deactivation, a new account after a change of CA), so that the zone
//! publishes the new binding beside the old one; the first certificate
//! issued with the new account empties it. A key rollover keeps the URI
//! (RFC 8555 §7.3.5), so nothing changes. The file is rewritten only when
//! what it says changes (its `updated` is then that moment), except by
//! the account verbs, which always write it.

use std::path::PathBuf;

use certdrop_core::atomic;
use certdrop_core::error::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// The directory of `certs/` holding the files.
pub const DIR: &str = ".accounts";
/// The name of the top-level CA's file.
pub const DEFAULT: &str = "default";
/// Most previous URIs kept (certdrop-zone refuses a file with more).
pub const MAX_PREVIOUS: usize = 16;

/// The file's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// `default` or the `[[ca]]` name (the file's name).
    pub ca: String,
    /// The CA's directory URL.
    pub directory: String,
    /// The account URI (RFC 8555 §7.3: the newAccount Location).
    pub account: String,
    /// Account URIs this one replaced, oldest first.
    #[serde(default)]
    pub previous: Vec<String>,
    /// When the file last changed (RFC 3339, UTC).
    pub updated: String,
}

/// The CA's name in the file: `default` or the `[[ca]]` in use.
pub fn ca_name(config: &Config) -> &str {
    config.ca_in_use.as_deref().unwrap_or(DEFAULT)
}

/// `<certs>/.accounts/<ca>.json`.
pub fn path(config: &Config) -> PathBuf {
    config
        .store
        .certs
        .join(DIR)
        .join(format!("{}.json", ca_name(config)))
}

/// What the file says now, if it can be read (our own output: a file
/// that does not parse is rewritten, its URIs lost).
pub fn read(config: &Config) -> Option<Info> {
    let bytes = std::fs::read(path(config)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Note that `account` is this CA's account: a new URI sends the one
/// before it to `previous`. Written when something changed, or always
/// with `force` (the account verbs).
pub fn note(config: &Config, account: &str, force: bool) -> Result<bool> {
    let old = read(config);
    let mut previous: Vec<String> = old.as_ref().map(|o| o.previous.clone()).unwrap_or_default();
    if let Some(o) = old.as_ref().filter(|o| o.account != account) {
        previous.push(o.account.clone());
    }
    previous.retain(|p| p != account && !p.is_empty());
    let mut seen = Vec::new();
    previous.retain(|p| {
        let fresh = !seen.contains(p);
        seen.push(p.clone());
        fresh
    });
    if previous.len() > MAX_PREVIOUS {
        previous.drain(..previous.len() - MAX_PREVIOUS);
    }
    write(config, account, previous, old.as_ref(), force)
}

/// After a certificate issued with `account`: the older bindings are no
/// longer needed (the zone drops their records).
pub fn issued_with(config: &Config, account: &str) -> Result<bool> {
    match read(config) {
        Some(o) if o.account == account && !o.previous.is_empty() => {
            write(config, account, Vec::new(), Some(&o), false)
        }
        _ => Ok(false),
    }
}

fn write(
    config: &Config,
    account: &str,
    previous: Vec<String>,
    old: Option<&Info>,
    force: bool,
) -> Result<bool> {
    let info = Info {
        ca: ca_name(config).to_owned(),
        directory: config.directory.clone(),
        account: account.to_owned(),
        previous,
        updated: certdrop_core::clock::rfc3339(certdrop_core::clock::now()),
    };
    let same = old.is_some_and(|o| {
        o.ca == info.ca
            && o.directory == info.directory
            && o.account == info.account
            && o.previous == info.previous
    });
    if same && !force {
        return Ok(false);
    }
    let file = path(config);
    let dir = atomic::parent_of(&file);
    atomic::ensure_dir(dir, atomic::MODE_PUBLIC_DIR)
        .map_err(|e| Error::io(dir, "create directory", &e))?;
    let mut json = serde_json::to_vec_pretty(&info).expect("account info serializes");
    json.push(b'\n');
    atomic::write(&file, &json, atomic::MODE_PUBLIC)
        .map_err(|e| Error::io(&file, "write account information", &e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path, ca: Option<&str>) -> Config {
        let mut c = crate::config::tests::config_in(dir);
        c.ca_in_use = ca.map(str::to_owned);
        c
    }

    #[test]
    fn a_new_account_keeps_the_old_one_until_an_issuance() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = config(dir.path(), None);
        assert!(note(&c, "https://ca/acct/1", false).expect("write"));
        let file = dir.path().join("certs/.accounts/default.json");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        // Unchanged: not written again.
        assert!(!note(&c, "https://ca/acct/1", false).expect("same"));
        assert!(note(&c, "https://ca/acct/1", true).expect("forced"));
        assert!(note(&c, "https://ca/acct/2", false).expect("new"));
        let info = read(&c).expect("info");
        assert_eq!(info.ca, "default");
        assert_eq!(info.account, "https://ca/acct/2");
        assert_eq!(info.previous, ["https://ca/acct/1"]);
        // An issuance with an older account changes nothing.
        assert!(!issued_with(&c, "https://ca/acct/1").expect("old"));
        assert!(issued_with(&c, "https://ca/acct/2").expect("new"));
        assert!(read(&c).expect("info").previous.is_empty());
        // A named CA has its own file.
        let z = config(dir.path(), Some("zerossl"));
        note(&z, "https://z/acct/9", false).expect("write");
        assert_eq!(read(&z).expect("info").ca, "zerossl");
        assert!(dir.path().join("certs/.accounts/zerossl.json").exists());
    }

    #[test]
    fn previous_accounts_are_kept_once_and_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = config(dir.path(), None);
        for i in 0..20 {
            note(&c, &format!("https://ca/acct/{}", i % 18), false).expect("write");
        }
        let info = read(&c).expect("info");
        assert_eq!(info.account, "https://ca/acct/1");
        assert_eq!(info.previous.len(), MAX_PREVIOUS);
        assert!(!info.previous.contains(&info.account));
    }
}
