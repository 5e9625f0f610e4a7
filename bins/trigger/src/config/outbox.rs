//! trigger.toml's `[outbox]` table and `[[csr]]` lines: what `csr` makes
//! and publishes on a service site whose keys never leave it (issue 15).
//! Raw structures as serde reads them, then the validated [`Outbox`].
//!
//! ```toml
//! [outbox]
//! dir = "/var/db/certdrop/outbox"        # written here; the signing site pulls it
//! keys = "/var/db/certdrop/keys"         # <line>/key.pem, <line>/next/key.pem
//! signing_key = "/usr/local/etc/certdrop/outbox_ed25519"
//!
//! [[csr]]
//! line = "www-site3"
//! names = ["www.site3.example.test"]
//! key = "ecdsa-p256"                     # or ecdsa-p384
//! max_key_age = "180d"                   # optional: then a next key is staged
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use certdrop_core::duration;
use certdrop_core::tomlcfg::Source;
use serde::Deserialize;
use toml::Spanned;

/// The raw `[outbox]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutbox {
    dir: Spanned<PathBuf>,
    keys: Spanned<PathBuf>,
    signing_key: Spanned<PathBuf>,
}

/// One raw `[[csr]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCsr {
    line: Spanned<String>,
    names: Spanned<Vec<String>>,
    key: Spanned<String>,
    max_key_age: Option<Spanned<String>>,
}

/// A key type `csr` can make. ECDSA only: the trigger's crypto library
/// (ring, through rcgen) cannot generate RSA keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA on P-256 with SHA-256 (RFC 5480).
    P256,
    /// ECDSA on P-384 with SHA-384 (RFC 5480).
    P384,
}

impl KeyKind {
    /// The name trigger.toml uses.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::P256 => "ecdsa-p256",
            KeyKind::P384 => "ecdsa-p384",
        }
    }

    /// rcgen's signature algorithm for keys of this kind.
    pub fn algorithm(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            KeyKind::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyKind::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        }
    }
}

/// One line whose key this site keeps and whose CSR it publishes.
#[derive(Debug, Clone)]
pub struct CsrLine {
    /// The certificate line (`keys/<line>/`, `outbox/<line>`).
    pub line: String,
    /// The names asked for, lowercase, unique, in the configured order
    /// (the first is the CSR's CN).
    pub names: Vec<String>,
    /// The type of a key made for it.
    pub key: KeyKind,
    /// Past this age the key gets a successor (a staged next key).
    pub max_key_age: Option<Duration>,
}

/// The validated `[outbox]` with its `[[csr]]` lines.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// Where the outbox versions are written (`<dir>/<line>` links).
    pub dir: PathBuf,
    /// The keys directory: `<line>/key.pem`, `<line>/next/key.pem`,
    /// `<line>/old/<stamp>.pem`.
    pub keys: PathBuf,
    /// This site's OpenSSH ed25519 key that signs the outbox manifests.
    pub signing_key: PathBuf,
    /// The lines.
    pub lines: Vec<CsrLine>,
}

impl Outbox {
    /// The line `name`, if this site makes its key.
    pub fn line(&self, name: &str) -> Option<&CsrLine> {
        self.lines.iter().find(|l| l.line == name)
    }

    /// `keys/<line>/key.pem`: the key the service uses (a stable path).
    pub fn key(&self, line: &str) -> PathBuf {
        self.keys.join(line).join("key.pem")
    }

    /// `keys/<line>/next/key.pem`: the staged successor.
    pub fn next_key(&self, line: &str) -> PathBuf {
        self.keys.join(line).join("next").join("key.pem")
    }

    /// `keys/<line>/old/`: keys replaced by their successor.
    pub fn old_keys(&self, line: &str) -> PathBuf {
        self.keys.join(line).join("old")
    }
}

/// Validate `[outbox]` and `[[csr]]`: a `[[csr]]` needs an `[outbox]`;
/// lines are line names, each once; names valid identifiers, at least
/// one; the key type one ring can make; max_key_age more than zero; the
/// private keys outside the outbox and `pub_dir` (src/config/apart.rs).
pub fn validate(
    src: &Source,
    pub_dir: &Path,
    raw: Option<RawOutbox>,
    csr: Vec<RawCsr>,
) -> Result<Option<Outbox>, String> {
    let Some(raw) = raw else {
        return match csr.first() {
            Some(c) => Err(src.err(
                c.line.span(),
                "csr",
                "needs an [outbox] (dir, keys, signing_key)",
            )),
            None => Ok(None),
        };
    };
    super::apart::check(src, &raw.dir, &raw.keys, &raw.signing_key, pub_dir)?;
    let abs = |p: &Spanned<PathBuf>| src.abs(p.get_ref());
    let mut lines: Vec<CsrLine> = Vec::new();
    for c in csr {
        let line = c.line.get_ref().clone();
        certdrop_core::name::line_name(&line)
            .map_err(|why| src.err(c.line.span(), "line", &why))?;
        if lines.iter().any(|l| l.line == line) {
            return Err(src.err(
                c.line.span(),
                "line",
                &format!("'{line}': a second [[csr]] for it"),
            ));
        }
        let mut names: Vec<String> = Vec::new();
        for n in c.names.get_ref() {
            let n = certdrop_core::name::identifier(n, true)
                .map_err(|why| src.err(c.names.span(), "names", &why))?;
            if !names.contains(&n) {
                names.push(n);
            }
        }
        if names.is_empty() {
            return Err(src.err(c.names.span(), "names", "at least one name"));
        }
        let key = match c.key.get_ref().as_str() {
            "ecdsa-p256" => KeyKind::P256,
            "ecdsa-p384" => KeyKind::P384,
            other => {
                return Err(src.err(
                    c.key.span(),
                    "key",
                    &format!("'{other}': expected ecdsa-p256 or ecdsa-p384 (no RSA: keys are made with ring, which cannot make RSA keys)"),
                ))
            }
        };
        let max_key_age = match &c.max_key_age {
            None => None,
            Some(v) => {
                let d = duration::parse(v.get_ref())
                    .map_err(|why| src.err(v.span(), "max_key_age", &why))?;
                if d.is_zero() {
                    return Err(src.err(v.span(), "max_key_age", "must be more than 0s"));
                }
                Some(d)
            }
        };
        lines.push(CsrLine {
            line,
            names,
            key,
            max_key_age,
        });
    }
    Ok(Some(Outbox {
        dir: abs(&raw.dir),
        keys: abs(&raw.keys),
        signing_key: abs(&raw.signing_key),
        lines,
    }))
}
