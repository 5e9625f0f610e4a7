//! One line of the outbox (issue 15): the CSRs of the current and the
//! staged next key (PKCS#10, RFC 2986; the names as subjectAltName, the
//! first as the subject's CN) and the signed `certdrop-outbox 1` manifest
//! (crates/manifest/src/outbox.rs), laid out as pub/ is (core::versions):
//! `<dir>/<line>` -> `.v/<line>.<stamp>/` {csr.pem, [next.csr.pem],
//! manifest, manifest.sig}. Only public material is written here: the
//! signing site pulls this tree.

use std::path::Path;

use certdrop_core::atomic::{self, MODE_PUBLIC, MODE_PUBLIC_DIR};
use certdrop_core::clock;
use certdrop_core::error::{Error, Result};
use certdrop_core::versions;
use certdrop_manifest::outbox::{CSR, NEXT_CSR};
use certdrop_manifest::{Outbox, SigningKey, MANIFEST, SIGNATURE};
use rcgen::{CertificateParams, DistinguishedName, DnType};

use crate::csr::keys::Key;
use crate::input;

/// Earlier versions of a line kept beside the current one, so that a
/// puller in the middle of a transfer still finds what it started from.
const KEEP_OLD: usize = 1;
/// Longest subject CN (RFC 5280 ub-common-name): a longer first name goes
/// in the subjectAltName only.
const MAX_CN: usize = 64;

/// The manifest `<dir>/<line>` holds now, if it holds one that parses.
/// Our own file, read as any other (bounded, regular file only).
pub fn held(dir: &Path, line: &str) -> Option<Outbox> {
    let bytes = input::local(&dir.join(line).join(MANIFEST)).ok()?;
    Outbox::parse(&bytes).ok()
}

/// The CSR for `key` asking for `names` (PEM).
pub fn request(names: &[String], key: &Key) -> Result<String> {
    let fail = |e: rcgen::Error| {
        Error::software(format!("{}: cannot make a CSR: {e}", key.path.display()))
    };
    let mut params = CertificateParams::new(names.to_vec()).map_err(fail)?;
    let mut subject = DistinguishedName::new();
    if let Some(first) = names.first().filter(|n| n.len() <= MAX_CN) {
        subject.push(DnType::CommonName, first.as_str());
    }
    params.distinguished_name = subject;
    params
        .serialize_request(&key.pair)
        .and_then(|r| r.pem())
        .map_err(fail)
}

/// Write a new version of `<dir>/<line>`: the CSRs, the manifest (its
/// `published` later than `previous`'s, so the receiver orders the two),
/// its signature by `signer`; then switch the link. Returns the manifest.
pub fn write(
    dir: &Path,
    line: &str,
    names: &[String],
    key: &Key,
    next: Option<&Key>,
    signer: &SigningKey,
    previous: Option<&Outbox>,
) -> Result<Outbox> {
    let mut files = vec![(CSR.to_string(), request(names, key)?)];
    if let Some(next) = next {
        files.push((NEXT_CSR.to_string(), request(names, next)?));
    }
    let manifest = Outbox {
        line: line.to_string(),
        names: certdrop_core::certinfo::name_set(names),
        spki: key.digest(),
        next_spki: next.map(Key::digest),
        published: published(previous),
        files: files
            .iter()
            .map(|(n, text)| (n.clone(), certdrop_manifest::digest(text.as_bytes())))
            .collect(),
    };
    let text = manifest.render();
    let sig = signer.sign(text.as_bytes())?;
    let out = dir.join(line);
    atomic::ensure_dir(dir, MODE_PUBLIC_DIR)
        .map_err(|e| Error::cantcreat(dir, "cannot create", &e))?;
    versions::install(dir, line, MODE_PUBLIC_DIR, KEEP_OLD, |v| {
        for (name, content) in &files {
            atomic::write(&v.join(name), content.as_bytes(), MODE_PUBLIC)?;
        }
        atomic::write(&v.join(MANIFEST), text.as_bytes(), MODE_PUBLIC)?;
        atomic::write(&v.join(SIGNATURE), sig.as_bytes(), MODE_PUBLIC)
    })
    .map_err(|e| Error::cantcreat(&out, "cannot write a new version", &e))?;
    Ok(manifest)
}

/// Now (RFC 3339), or one second after `previous` was published if that
/// is not earlier: two versions written within a second (or after the
/// clock stepped back) must still be ordered, as the receiver refuses an
/// outbox not newer than the one it holds.
fn published(previous: Option<&Outbox>) -> String {
    let now = clock::now();
    let Some(before) = previous.and_then(|p| seconds(&p.published)) else {
        return clock::rfc3339(now);
    };
    clock::rfc3339(now.max(before + 1))
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SSZ` (days from the civil
/// date, H. Hinnant's algorithm).
fn seconds(text: &str) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_times_read_back_and_always_advance() {
        for t in [0, 951_782_400, 1_795_488_574, 4_102_444_800] {
            assert_eq!(seconds(&clock::rfc3339(t)), Some(t));
        }
        let ahead = clock::rfc3339(clock::now() + 3600);
        let previous = Outbox {
            line: "www".into(),
            names: vec!["www.example.test".into()],
            spki: [0; 32],
            next_spki: None,
            published: ahead.clone(),
            files: Vec::new(),
        };
        let next = published(Some(&previous));
        assert!(next > ahead, "{next} after {ahead}");
        assert_eq!(seconds(&next), seconds(&ahead).map(|s| s + 1));
    }
}
