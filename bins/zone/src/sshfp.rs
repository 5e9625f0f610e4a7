//! SSHFP records (RFC 4255, SHA-256 by RFC 6594, Ed25519 by RFC 7479, Ed448
//! by RFC 8709) from the OpenSSH host keys collected in `phonehome/`
//! (DESIGN.md, "SSHFP sources"). That directory is written by another jail,
//! so everything in it is untrusted input.
//!
//! Layout, one directory per host, named by its fully qualified name:
//!
//! ```text
//! phonehome/<fqdn>/<anything>.pub     e.g. phonehome/www.example.org/ssh_host_ed25519_key.pub
//! ```
//!
//! Each `*.pub` file is a regular file (not a symlink, one link, at most
//! [`MAX_FILE`] bytes) holding exactly one line as `ssh-keygen` writes it:
//! `TYPE BASE64-BLOB [comment]`. No options, no `#` comment lines, no
//! OpenSSH certificates, no DSA. The type named in the line must equal the
//! type inside the decoded blob, and the blob must be well formed for that
//! type. Names starting with `.` (a writer's temporary files) are skipped
//! silently; anything else that is not a host directory or a `*.pub` file is
//! reported. A host is used only if its name is a valid domain name inside
//! the origin and, when an allow list is set, on it.
//!
//! The fingerprint is the digest of the decoded blob (RFC 4255 §3.1.3),
//! exactly what `ssh-keygen -r HOST -f key.pub` prints.

use std::collections::BTreeSet;
use std::path::Path;

use base64::Engine;
use certdrop_core::certinfo::hex;
use certdrop_core::name;
use certdrop_core::untrusted::{self, Rules};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use walkdir::WalkDir;

use crate::record::{RType, Record};

/// Largest `*.pub` file read; an RSA-16384 key line is about 2.8 KiB.
pub const MAX_FILE: u64 = 16 * 1024;
/// Most `*.pub` files read per host directory.
pub const MAX_FILES_PER_HOST: usize = 32;
/// Most host directories read.
pub const MAX_HOSTS: usize = 10_000;
/// Smallest RSA modulus accepted, as OpenSSH (`SSH_RSA_MINIMUM_MODULUS_SIZE`).
pub const MIN_RSA_BITS: usize = 1024;
/// SSHFP fingerprint type SHA-1 (RFC 4255 §3.1.2).
pub const FP_SHA1: u8 = 1;
/// SSHFP fingerprint type SHA-256 (RFC 6594).
pub const FP_SHA256: u8 = 2;

/// Which hosts and fingerprints to publish (RFC 4255 §3). Built from the
/// zone's configuration, whose default is both fingerprint types.
#[derive(Debug, Clone)]
pub struct SshfpPolicy {
    /// Zone the records go into; hosts outside it are refused.
    pub origin: String,
    /// If set, the only host names (exact, case-insensitive) published.
    pub allow: Option<Vec<String>>,
    /// Publish fingerprint type 1, SHA-1 (RFC 4255 §3.1.2).
    pub sha1: bool,
    /// Publish fingerprint type 2, SHA-256 (RFC 6594).
    pub sha256: bool,
    /// TTL of the records.
    pub ttl: u32,
}

impl SshfpPolicy {
    /// Check that this policy may speak for `host` (RFC 4255 §2.1: the owner is the host name).
    fn check_host(&self, host: &str) -> Result<String, String> {
        let host = name::domain(host, false)?;
        if !name::in_zone(&host, &self.origin) {
            return Err(format!("outside the zone {}", self.origin));
        }
        if let Some(allow) = &self.allow {
            let listed = allow
                .iter()
                .any(|a| a.trim_end_matches('.').eq_ignore_ascii_case(&host));
            if !listed {
                return Err("not on the allow list".into());
            }
        }
        Ok(host)
    }
}

/// SSHFP algorithm numbers of the key types published (RFC 4255 §3.1.1, RFC 6594, RFC 7479, RFC 8709).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    /// Curve name and coordinate length in bytes (RFC 5656 §3.1).
    Ecdsa(&'static str, usize),
    Ed25519,
    Ed448,
}

impl KeyType {
    fn from_name(name: &str) -> Result<KeyType, String> {
        Ok(match name {
            "ssh-rsa" => KeyType::Rsa,
            "ecdsa-sha2-nistp256" => KeyType::Ecdsa("nistp256", 32),
            "ecdsa-sha2-nistp384" => KeyType::Ecdsa("nistp384", 48),
            "ecdsa-sha2-nistp521" => KeyType::Ecdsa("nistp521", 66),
            "ssh-ed25519" => KeyType::Ed25519,
            "ssh-ed448" => KeyType::Ed448,
            "ssh-dss" => return Err("ssh-dss: DSA keys are too weak to publish".into()),
            t if t.ends_with("-cert-v01@openssh.com") => {
                return Err(format!("{t}: an OpenSSH certificate, not a plain host key"))
            }
            t if t.starts_with('#') => return Err("a comment line, not a key".into()),
            t if t.starts_with('@') || t.contains(['=', ',']) => {
                return Err(format!("{t}: options before the key type are not accepted"))
            }
            t => return Err(format!("{}: unknown key type", printable(t))),
        })
    }

    fn algorithm(self) -> u8 {
        match self {
            KeyType::Rsa => 1,
            KeyType::Ecdsa(..) => 3,
            KeyType::Ed25519 => 4,
            KeyType::Ed448 => 6,
        }
    }

    /// Check the fields after the type string (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709 §4).
    fn check_body(self, r: &mut WireReader<'_>) -> Result<(), String> {
        match self {
            KeyType::Rsa => {
                let e = r.mpint("RSA exponent")?;
                let n = r.mpint("RSA modulus")?;
                if e.is_empty() || n.is_empty() {
                    return Err("RSA exponent or modulus is zero".into());
                }
                let bits = n.len() * 8 - n[0].leading_zeros() as usize;
                if bits < MIN_RSA_BITS {
                    return Err(format!(
                        "RSA modulus of {bits} bits, fewer than {MIN_RSA_BITS}"
                    ));
                }
            }
            KeyType::Ecdsa(curve, coord) => {
                let id = r.string("curve name")?;
                if id != curve.as_bytes() {
                    return Err(format!(
                        "curve {} inside a {curve} key",
                        printable(&String::from_utf8_lossy(id))
                    ));
                }
                let q = r.string("EC point")?;
                if q.len() != 1 + 2 * coord || q[0] != 0x04 {
                    return Err("EC point is not an uncompressed point of the curve".into());
                }
            }
            KeyType::Ed25519 => r.fixed("Ed25519 key", 32)?,
            KeyType::Ed448 => r.fixed("Ed448 key", 57)?,
        }
        if !r.buf.is_empty() {
            return Err(format!("{} bytes after the key", r.buf.len()));
        }
        Ok(())
    }
}

/// A reader of SSH wire strings (RFC 4251 §5).
struct WireReader<'a> {
    buf: &'a [u8],
}

impl<'a> WireReader<'a> {
    fn string(&mut self, what: &str) -> Result<&'a [u8], String> {
        let (len, rest) = self
            .buf
            .split_first_chunk::<4>()
            .ok_or_else(|| format!("key blob truncated before the {what}"))?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(format!("key blob truncated in the {what}"));
        }
        let (s, rest) = rest.split_at(len);
        self.buf = rest;
        Ok(s)
    }

    /// A positive mpint, without its sign byte.
    fn mpint(&mut self, what: &str) -> Result<&'a [u8], String> {
        let v = self.string(what)?;
        match v {
            [] => Ok(v),
            [b, ..] if *b & 0x80 != 0 => Err(format!("{what} is negative")),
            [0] => Err(format!("{what} has a needless leading zero")),
            [0, b, ..] if *b & 0x80 == 0 => Err(format!("{what} has a needless leading zero")),
            [0, rest @ ..] => Ok(rest),
            _ => Ok(v),
        }
    }

    fn fixed(&mut self, what: &str, len: usize) -> Result<(), String> {
        let v = self.string(what)?;
        if v.len() != len {
            return Err(format!("{what} of {} bytes, expected {len}", v.len()));
        }
        Ok(())
    }
}

/// SSHFP records for one OpenSSH public key line of `host` (RFC 4255 §3.1, RFC 6594).
pub fn records_for_key(
    host: &str,
    pub_line: &str,
    policy: &SshfpPolicy,
) -> Result<Vec<Record>, String> {
    let host = policy.check_host(host)?;
    let mut fields = pub_line.split_ascii_whitespace();
    let type_name = fields.next().ok_or("empty line, expected a key")?;
    let key_type = KeyType::from_name(type_name)?;
    let b64 = fields
        .next()
        .ok_or_else(|| format!("{type_name}: no key after the type"))?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("{type_name}: bad base64: {e}"))?;
    let mut r = WireReader { buf: &blob };
    let inner = r.string("key type")?;
    if inner != type_name.as_bytes() {
        return Err(format!(
            "line says {type_name} but the key is {}",
            printable(&String::from_utf8_lossy(inner))
        ));
    }
    key_type
        .check_body(&mut r)
        .map_err(|e| format!("{type_name}: {e}"))?;
    let alg = key_type.algorithm();
    let mut out = Vec::new();
    if policy.sha1 {
        let rdata = format!("{alg} {FP_SHA1} {}", hex(&Sha1::digest(&blob)));
        out.push(Record::new(&host, policy.ttl, RType::Sshfp, rdata));
    }
    if policy.sha256 {
        let rdata = format!("{alg} {FP_SHA256} {}", hex(&Sha256::digest(&blob)));
        out.push(Record::new(&host, policy.ttl, RType::Sshfp, rdata));
    }
    if out.is_empty() {
        return Err("the policy enables no fingerprint type".into());
    }
    Ok(out)
}

/// SSHFP records (RFC 4255 §3) for every host directory in `dir`, sorted by
/// owner, algorithm and fingerprint type, without duplicates; and the files
/// refused, each with its reason. A refused file never stops the others.
pub fn from_dir(dir: &Path, policy: &SshfpPolicy) -> (Vec<Record>, Vec<(String, String)>) {
    let mut records = BTreeSet::new();
    let mut rejected = Vec::new();
    // Two levels (host, key file), in name order, symlinks never followed
    // (a link is refused as what it is), hidden names (a writer's
    // temporary files) skipped with whatever lies below them.
    let mut walk = WalkDir::new(dir)
        .min_depth(1)
        .max_depth(2)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().as_encoded_bytes().starts_with(b"."));
    let mut hosts = 0usize;
    // The host being read, if accepted, and how many keys it has given.
    let mut host: Option<String> = None;
    let mut used = 0usize;
    while let Some(entry) = walk.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let shown = match e.path() {
                    Some(p) if e.depth() > 0 => shown_name(dir, p),
                    _ => dir.display().to_string(),
                };
                let why = e.io_error().map_or(e.to_string(), |io| io.to_string());
                rejected.push((shown, format!("cannot read directory: {why}")));
                continue;
            }
        };
        let shown = shown_name(dir, entry.path());
        if entry.depth() == 1 {
            // A new host entry ends the previous host, whatever it is: the
            // keys below a refused entry must never count for the host
            // listed before it.
            host = None;
        }
        let Some(name) = entry.file_name().to_str() else {
            rejected.push((shown, "name is not UTF-8".into()));
            // That entry alone is lost: not what lies below it, nothing else.
            if entry.depth() == 1 && entry.file_type().is_dir() {
                walk.skip_current_dir();
            }
            continue;
        };
        if entry.depth() == 1 {
            hosts += 1;
            let accepted = if hosts > MAX_HOSTS {
                Err(format!("more than {MAX_HOSTS} entries, ignored"))
            } else if !entry.file_type().is_dir() {
                // Not descended into: a file, or a symlink (not followed).
                rejected.push((shown, "not a host directory".into()));
                continue;
            } else {
                policy.check_host(name)
            };
            match accepted {
                Ok(_) => {
                    host = Some(name.to_owned());
                    used = 0;
                }
                Err(e) => {
                    rejected.push((shown, e));
                    // The keys of a refused host are not even listed (only
                    // a directory is skipped: for a file, the directory
                    // last yielded would be phonehome/ itself).
                    if entry.file_type().is_dir() {
                        walk.skip_current_dir();
                    }
                }
            }
            continue;
        }
        let Some(host) = &host else { continue };
        if !name.ends_with(".pub") {
            rejected.push((shown, "not a *.pub file".into()));
            continue;
        }
        if used >= MAX_FILES_PER_HOST {
            rejected.push((
                shown,
                format!("more than {MAX_FILES_PER_HOST} keys for {host}"),
            ));
            continue;
        }
        used += 1;
        let result =
            read_key_file(entry.path()).and_then(|line| records_for_key(host, &line, policy));
        match result {
            Ok(rs) => records.extend(rs),
            Err(e) => rejected.push((shown, e)),
        }
    }
    // rdata starts with two one-digit numbers, so text order is (algorithm, type) order.
    let rejected = rejected
        .into_iter()
        .map(|(file, why)| (file, one_line(&why)))
        .collect();
    (records.into_iter().collect(), rejected)
}

/// A reason that may quote a hostile name, on one line: control
/// characters escaped (`\n`), so a name cannot forge log lines.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect()
}
/// `path` as shown in messages: relative to the phonehome directory, on
/// one line (bytes that are not UTF-8 as `\xNN`, control characters
/// escaped), whatever the name holds.
fn shown_name(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    rel.as_os_str()
        .as_encoded_bytes()
        .escape_ascii()
        .to_string()
}

/// Read a key file through the one reader of untrusted files (a small
/// regular file with one link, never a symlink or a FIFO). Returns its one
/// line.
fn read_key_file(path: &Path) -> Result<String, String> {
    let rules = Rules::new(MAX_FILE).one_link();
    let text = untrusted::read_text(path, &rules).map_err(|why| why.to_string())?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    if line.contains('\n') {
        return Err("more than one line, expected one key line".into());
    }
    if line.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err("control characters in the key line".into());
    }
    Ok(line.to_string())
}

/// `text` cut short and stripped of control characters, for messages.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests;
