//! Checking a published line (`pub/<line>/`) before anything from it is
//! deployed: `manifest.sig` is an SSHSIG signature (OpenSSH
//! PROTOCOL.sshsig) over `manifest` by a key of the allowed_signers file
//! (ssh-keygen(1) ALLOWED SIGNERS: principals, `namespaces=`,
//! `valid-after=`, `valid-before=`; `cert-authority` is refused) in the
//! namespace `certdrop-manifest@certdrop`, as `ssh-keygen -Y verify` would
//! check it; the manifest names this line; and every file it lists has the
//! SHA-256 it gives.
//!
//! The manifest format is certdrop-publish's (bins/publish/src/manifest.rs,
//! version 1): `certdrop-manifest 1`, then `line`, `names`, `serial`,
//! `not-before`, `not-after`, `published`, each once, then `sha256
//! <hex>  <file>` lines. Read strictly here too: a reader never trusts a
//! writer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use ssh_key::{PublicKey, SshSig};

/// The manifest's file name in a line directory.
pub const MANIFEST: &str = "manifest";
/// Its signature's.
pub const SIGNATURE: &str = "manifest.sig";
/// The SSHSIG namespace certdrop-publish signs in.
pub const NAMESPACE: &str = "certdrop-manifest@certdrop";
/// First line of a version 1 manifest.
const MAGIC: &str = "certdrop-manifest 1";
/// Single-valued keywords, in their order.
const FIELDS: [&str; 6] = [
    "line",
    "names",
    "serial",
    "not-before",
    "not-after",
    "published",
];

/// A published line: its directory (the symlink resolved once, so every
/// file comes from one version) and, when its manifest was verified, the
/// digests the manifest gives.
#[derive(Debug, Clone)]
pub struct Verified {
    /// `pub/.v/<line>.<stamp>`.
    pub dir: PathBuf,
    /// File name -> SHA-256; `None` when no allowed_signers is configured.
    pub files: Option<HashMap<String, [u8; 32]>>,
}

impl Verified {
    /// A line read without a manifest check (no allowed_signers configured).
    pub fn unsigned(pub_dir: &Path, line: &str) -> Result<Verified, String> {
        let link = pub_dir.join(line);
        let dir = std::fs::canonicalize(&link).map_err(|e| format!("{}: {e}", link.display()))?;
        Ok(Verified { dir, files: None })
    }

    /// A file's content, checked against the manifest when there is one
    /// (a file it does not list is refused).
    pub fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        let path = self.dir.join(name);
        let bytes =
            std::fs::read(&path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        self.check(name, &path, &bytes)?;
        Ok(bytes)
    }

    /// `bytes`, read from `path`, are what the manifest lists as `name`.
    pub fn check(&self, name: &str, path: &Path, bytes: &[u8]) -> Result<(), String> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let want = files
            .get(name)
            .ok_or_else(|| format!("{}: not listed in the manifest", path.display()))?;
        if Sha256::digest(bytes).as_slice() != want {
            return Err(format!(
                "{}: SHA-256 differs from the signed manifest",
                path.display()
            ));
        }
        Ok(())
    }

    /// The file name under this line's directory that `path` is, if any
    /// (the service reads it from pub/ directly).
    pub fn holds(&self, pub_dir: &Path, line: &str, path: &Path) -> Option<String> {
        let name = path.file_name()?.to_str()?.to_string();
        let parent = path.parent()?;
        let inside = parent == pub_dir.join(line)
            || parent == self.dir
            || std::fs::canonicalize(parent).is_ok_and(|p| p == self.dir);
        inside.then_some(name)
    }
}

/// Resolve `pub/<line>` once and verify its manifest with `signers`
/// (the allowed_signers text) and, if given, the principal `identity`.
pub fn verify(
    pub_dir: &Path,
    line: &str,
    signers: &str,
    identity: Option<&str>,
    now: i64,
) -> Result<Verified, String> {
    let link = pub_dir.join(line);
    let dir = std::fs::canonicalize(&link).map_err(|e| format!("{}: {e}", link.display()))?;
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read(&p).map_err(|e| format!("{}: cannot read: {e}", p.display()))
    };
    let text = read(MANIFEST)?;
    let sig = read(SIGNATURE)?;
    let sig = SshSig::from_pem(&sig)
        .map_err(|e| format!("{}/{SIGNATURE}: not an SSH signature: {e}", link.display()))?;
    check_signature(&text, &sig, signers, identity, now)
        .map_err(|e| format!("{}/{SIGNATURE}: {e}", link.display()))?;
    let (named, files) = parse(&text).map_err(|e| format!("{}/{MANIFEST}: {e}", link.display()))?;
    if named != line {
        return Err(format!(
            "{}/{MANIFEST}: is the manifest of line '{named}', not '{line}'",
            link.display()
        ));
    }
    let names: Vec<String> = files.keys().cloned().collect();
    let verified = Verified {
        dir,
        files: Some(files),
    };
    for name in names {
        verified.read(&name)?;
    }
    Ok(verified)
}

/// The signature is by an allowed signer, for this namespace, now.
fn check_signature(
    msg: &[u8],
    sig: &SshSig,
    signers: &str,
    identity: Option<&str>,
    now: i64,
) -> Result<(), String> {
    if sig.namespace() != NAMESPACE {
        return Err(format!(
            "signed for namespace '{}', not {NAMESPACE}",
            sig.namespace()
        ));
    }
    let mut why = "made by a key that is not in allowed_signers".to_string();
    for (n, line) in signers.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let signer = match Signer::parse(line) {
            Ok(s) => s,
            Err(e) => return Err(format!("allowed_signers line {}: {e}", n + 1)),
        };
        if signer.cert_authority || signer.key.key_data() != sig.public_key() {
            continue;
        }
        if let Some(id) = identity {
            if !pattern_list(&signer.principals, id) {
                why = format!("signer key is not allowed for principal '{id}'");
                continue;
            }
        }
        if let Some(ns) = &signer.namespaces {
            if !pattern_list(ns, NAMESPACE) {
                why = format!("signer key is not allowed for namespace {NAMESPACE}");
                continue;
            }
        }
        if signer.valid_after.is_some_and(|t| now < t)
            || signer.valid_before.is_some_and(|t| now >= t)
        {
            why = "signer key is outside its validity (valid-after/valid-before)".to_string();
            continue;
        }
        return signer
            .key
            .verify(NAMESPACE, msg, sig)
            .map_err(|e| format!("bad signature: {e}"));
    }
    Err(why)
}

/// One allowed_signers line.
struct Signer {
    principals: Vec<String>,
    cert_authority: bool,
    namespaces: Option<Vec<String>>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
    key: PublicKey,
}

impl Signer {
    /// `principals [options] keytype base64 [comment]`.
    fn parse(line: &str) -> Result<Signer, String> {
        let (principals, rest) = line
            .split_once(char::is_whitespace)
            .ok_or("expected principals, options and a key")?;
        let rest = rest.trim_start();
        let (options, key_text) =
            if rest.starts_with("ssh-") || rest.starts_with("ecdsa-") || rest.starts_with("sk-") {
                ("", rest)
            } else {
                split_options(rest)?
            };
        let mut s = Signer {
            principals: principals
                .trim_matches('"')
                .split(',')
                .map(str::to_string)
                .collect(),
            cert_authority: false,
            namespaces: None,
            valid_after: None,
            valid_before: None,
            key: PublicKey::from_openssh(key_text.trim()).map_err(|e| format!("bad key: {e}"))?,
        };
        for opt in options_list(options) {
            let (name, value) = opt.split_once('=').unwrap_or((opt.as_str(), ""));
            let value = value.trim_matches('"');
            match name.to_ascii_lowercase().as_str() {
                "namespaces" => s.namespaces = Some(value.split(',').map(str::to_string).collect()),
                "valid-after" => s.valid_after = Some(time(value)?),
                "valid-before" => s.valid_before = Some(time(value)?),
                // Trusted for certificates only, which a manifest signature never
                // is: the entry never matches (as with ssh-keygen).
                "cert-authority" => s.cert_authority = true,
                other => return Err(format!("unknown option '{other}'")),
            }
        }
        Ok(s)
    }
}

/// Split `opts key...` at the first blank outside quotes.
fn split_options(text: &str) -> Result<(&str, &str), String> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return Ok((&text[..i], &text[i..])),
            _ => {}
        }
    }
    Err("expected a key after the options".into())
}

/// Options split at commas outside quotes.
fn options_list(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `YYYYMMDD[HHMM[SS]]Z`, UTC. ssh-keygen also reads the form without `Z`
/// as local time; that is refused rather than guessed (as certdrop-publish
/// `verify` does).
fn time(text: &str) -> Result<i64, String> {
    let bad = || format!("'{text}': expected YYYYMMDD[HHMM[SS]]Z (UTC)");
    let digits = text.strip_suffix('Z').ok_or_else(bad)?;
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| {
        digits
            .get(r)
            .map_or(Ok(0), |s| s.parse::<i64>().map_err(|_| bad()))
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(8..10)?, num(10..12)?, num(12..14)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    // Days from civil (proleptic Gregorian), the inverse of core::clock.
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// An ssh_config(5) pattern list: no negated pattern (`!p`) may match,
/// and some plain one must.
fn pattern_list(patterns: &[String], text: &str) -> bool {
    let (negated, plain): (Vec<&String>, Vec<&String>) =
        patterns.iter().partition(|p| p.starts_with('!'));
    !negated.iter().any(|p| glob(&p[1..], text)) && plain.iter().any(|p| glob(p, text))
}

/// `*` and `?` patterns, as ssh-keygen matches principals and namespaces.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The line a manifest names and its file digests; anything outside the
/// format is refused.
pub fn parse(bytes: &[u8]) -> Result<(String, HashMap<String, [u8; 32]>), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let body = text
        .strip_suffix('\n')
        .ok_or("does not end with a newline")?;
    let mut lines = body.split('\n').enumerate().map(|(i, l)| (i + 1, l));
    if lines.next().map(|(_, l)| l) != Some(MAGIC) {
        return Err(format!("first line is not '{MAGIC}'"));
    }
    let mut line = String::new();
    for key in FIELDS {
        let (n, l) = lines.next().ok_or(format!("missing '{key}'"))?;
        let value = l
            .strip_prefix(key)
            .and_then(|v| v.strip_prefix(' '))
            .filter(|v| !v.is_empty() && !v.contains(['\r', '\t']))
            .ok_or(format!("line {n}: expected '{key} <value>'"))?;
        if key == "line" {
            line = value.to_string();
        }
    }
    let mut files = HashMap::new();
    for (n, l) in lines {
        let (digest, name) = l
            .strip_prefix("sha256 ")
            .and_then(|v| v.split_once("  "))
            .ok_or(format!("line {n}: expected 'sha256 <digest>  <file>'"))?;
        let digest = unhex(digest).ok_or(format!("line {n}: bad SHA-256 digest"))?;
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !plain || name == MANIFEST || name == SIGNATURE {
            return Err(format!(
                "line {n}: '{name}' is not a file name a manifest may list"
            ));
        }
        if files.insert(name.to_string(), digest).is_some() {
            return Err(format!("line {n}: '{name}' listed twice"));
        }
    }
    if files.is_empty() {
        return Err("lists no file".into());
    }
    Ok((line, files))
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests;
