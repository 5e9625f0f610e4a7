//! The certificate and key files a service will load, read and judged
//! before anything is deployed (DESIGN.md: "A certificate that does not
//! match its key, has expired, or lacks a configured name is never
//! deployed"): the chain parses and is in order (RFC 5280), the key is the
//! leaf's (src/keymatch.rs), the leaf is valid now and covers every
//! configured name (RFC 6125 §6.4.3 for wildcards), and the file holding
//! the key is not open to others (certdrop-core's key-mode rule, the one
//! certdrop-issue applies). Files are read
//! through src/input.rs (no FIFO, no device, bounded size).
//!
//! Exit classes, chosen here: 66 a file is missing or unreadable, 65 it is
//! refused (not a regular file) or would not be deployed.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use certdrop_core::certinfo::{self, CertInfo};
use certdrop_core::clock;
use certdrop_core::error::{Error, Result};
use certdrop_core::keymode;

use crate::definition::Pair;
use crate::input;
use crate::keymatch;

/// A bad file (65): `<file>: <why>`.
fn bad(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::data(format!("{}: {why}", path.display()))
}

/// Contents that replace files on disk: what `install` would write.
pub type Overrides = HashMap<PathBuf, Vec<u8>>;

/// One pair, read.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The paths.
    pub pair: Pair,
    /// The certificate file's bytes.
    pub cert_bytes: Vec<u8>,
    /// The key file's bytes (when separate).
    pub key_bytes: Option<Vec<u8>>,
    /// The chain, leaf first.
    pub chain: Vec<CertInfo>,
}

impl Loaded {
    /// The leaf.
    pub fn leaf(&self) -> &CertInfo {
        &self.chain[0]
    }
}

/// Read a file (strictly under `pub_dir`, see src/input.rs), or its
/// replacement from `overrides`.
pub fn content(path: &Path, overrides: &Overrides, pub_dir: &Path) -> Result<Vec<u8>> {
    if let Some(bytes) = overrides.get(path) {
        return Ok(bytes.clone());
    }
    input::read(path, pub_dir)
}

/// Read `pair` (through `overrides`; files under `pub_dir` strictly),
/// check it against `names` at `now`.
pub fn load_and_check(
    pair: &Pair,
    overrides: &Overrides,
    pub_dir: &Path,
    names: &[String],
    now: i64,
) -> Result<Loaded> {
    let cert_bytes = content(&pair.cert, overrides, pub_dir)?;
    let key_bytes = match &pair.key {
        Some(k) => Some(content(k, overrides, pub_dir)?),
        None => None,
    };
    let blocks =
        pem::parse_many(&cert_bytes).map_err(|e| bad(&pair.cert, format!("bad PEM: {e}")))?;
    let mut ders = Vec::new();
    let mut keys = Vec::new();
    for b in blocks {
        if b.tag() == "CERTIFICATE" {
            ders.push(b.into_contents());
        } else if b.tag().ends_with("PRIVATE KEY") {
            keys.push((pair.cert.clone(), b));
        }
    }
    if ders.is_empty() {
        return Err(bad(&pair.cert, "no certificate in it"));
    }
    let chain: Vec<CertInfo> = ders
        .iter()
        .map(|d| certinfo::parse_der(d))
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&pair.cert, e))?;
    certinfo::check_chain_order(&chain).map_err(|e| bad(&pair.cert, e))?;
    if let (Some(path), Some(bytes)) = (&pair.key, &key_bytes) {
        keys.clear();
        for b in pem::parse_many(bytes).map_err(|e| bad(path, format!("bad PEM: {e}")))? {
            if b.tag().ends_with("PRIVATE KEY") {
                keys.push((path.clone(), b));
            }
        }
    }
    let key_path = pair.key.as_deref().unwrap_or(&pair.cert);
    let [(_, key)] = keys.as_slice() else {
        return Err(bad(
            key_path,
            format!("expected one private key, found {}", keys.len()),
        ));
    };
    if !overrides.contains_key(key_path) {
        // The file the key is in, as the service will read it: others
        // may not read it (issue 12). Which group the service reads it as
        // is the service's business, so the file's own group may.
        let meta = std::fs::metadata(key_path)
            .map_err(|e| Error::unreadable(key_path, "cannot read", &e))?;
        keymode::check(key_path, &meta, Some(meta.gid()))?;
    }
    let leaf = &chain[0];
    let have = keymatch::from_private(key.tag(), key.contents()).map_err(|e| bad(key_path, e))?;
    let want = keymatch::from_spki(&leaf.spki).map_err(|e| bad(&pair.cert, e))?;
    if have != want {
        return Err(bad(
            key_path,
            format!(
                "the key ({}) does not match the certificate {} ({})",
                have.kind(),
                pair.cert.display(),
                want.kind()
            ),
        ));
    }
    if now < leaf.not_before {
        return Err(bad(
            &pair.cert,
            format!("not valid before {}", clock::rfc3339(leaf.not_before)),
        ));
    }
    if now > leaf.not_after {
        return Err(bad(
            &pair.cert,
            format!("expired on {}", clock::rfc3339(leaf.not_after)),
        ));
    }
    if let Some(missing) = names.iter().find(|n| !covers(&leaf.names, n)) {
        return Err(bad(
            &pair.cert,
            format!("does not cover {missing} (names: {})", leaf.names.join(" ")),
        ));
    }
    Ok(Loaded {
        pair: pair.clone(),
        cert_bytes,
        key_bytes,
        chain,
    })
}

/// Whether the certificate's dNSNames cover `name`: the same name, or a
/// wildcard standing for exactly its first label (RFC 6125 §6.4.3).
pub fn covers(cert_names: &[String], name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    cert_names.iter().any(|c| {
        *c == name
            || c.strip_prefix("*.").is_some_and(|parent| {
                !name.starts_with("*.")
                    && name.split_once('.').is_some_and(|(_, rest)| rest == parent)
            })
    })
}

/// The leaf among `loaded` to expect from a server asked for `sni`: the
/// first that covers it, else the first.
pub fn leaf_for<'a>(loaded: &'a [Loaded], sni: &str) -> Option<&'a CertInfo> {
    loaded
        .iter()
        .map(Loaded::leaf)
        .find(|l| covers(&l.names, sni))
        .or_else(|| loaded.first().map(Loaded::leaf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_wildcards() {
        let names = vec!["example.org".to_string(), "*.example.org".to_string()];
        assert!(covers(&names, "example.org"));
        assert!(covers(&names, "WWW.example.org"));
        assert!(!covers(&names, "a.b.example.org"));
        assert!(!covers(&names, "example.net"));
        assert!(covers(&names, "*.example.org"));
        assert!(!covers(&["*.example.org".to_string()], "example.org"));
    }
}
