//! What a zone is built from, fingerprinted by file metadata
//! (`certdrop_core::fingerprint`), so that a build with nothing new can stop
//! before reading anything: a no-op run from cron or watch costs a few
//! thousand stat calls (and the read of the issuer's small account files,
//! whose content counts, not their metadata), not a rebuild. The fingerprint is taken before the
//! inputs are read; a change during a build is seen by the next one.

use std::path::Path;

use certdrop_core::fingerprint::{lstat, stat};
use sha2::{Digest, Sha256};
use walkdir::WalkDir;

use crate::config::{Config, Signer, Zone};

/// Fingerprint of everything `zone` is built from.
pub fn fingerprint(config: &Config, zone: &Zone) -> String {
    let mut h = Sha256::new();
    lstat(&mut h, &config.path);
    lstat(&mut h, &zone.soa);
    for p in zone.primary.iter().chain(zone.tlsa_map.iter()) {
        lstat(&mut h, p);
    }
    if let Signer::OpenDnssec(s) = &zone.signer {
        // The enforcer rewrites it at each key event: a build must hand
        // the zone over again (sign::opendnssec::due).
        stat(&mut h, &s.signconf);
    }
    if let Signer::Ldns(keys) = &zone.signer {
        for k in keys {
            for ext in ["key", "private"] {
                lstat(&mut h, &k.with_extension_appended(ext));
            }
        }
    }
    if let (Some(map), Some(certs)) = (&zone.tlsa_map, &config.certs) {
        // Only the line names matter here (the map file's own metadata is
        // in the fingerprint), so take the second field of each line
        // without validating: a bad map fails the build itself.
        let text = std::fs::read_to_string(map).unwrap_or_default();
        let mut lines: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split('#').next()?.split_ascii_whitespace().nth(1))
            .collect();
        lines.sort_unstable();
        lines.dedup();
        for line in lines {
            let dir = certs.join(line);
            // The issuer switches a line by renaming a new symlink over it:
            // the link's own metadata says when anything inside changed.
            let is_link = lstat(&mut h, &dir);
            if !is_link {
                for file in ["cert.pem", "chain.pem", "next/pubkey.pem"] {
                    stat(&mut h, &dir.join(file));
                }
            }
        }
    }
    for p in &zone.persist {
        // The issuer rewrites its account file at every run (a new
        // `updated`), so its metadata would make every run after it a
        // rebuild: what counts is the URI list the records are made of
        // (or why the file is refused), read as the build reads it.
        if let crate::persist::Account::File(_) = &p.account {
            match crate::persist::uris(p, config.certs.as_deref()) {
                Ok(uris) => {
                    h.update(b"persist ok\0");
                    for u in uris {
                        h.update(u.as_bytes());
                        h.update(b"\n");
                    }
                }
                Err((_, why)) => {
                    h.update(b"persist refused\0");
                    h.update(why.as_bytes());
                    h.update(b"\n");
                }
            }
        }
    }
    if let Some(dir) = &config.dnsextra {
        tree(&mut h, dir, 1);
    }
    if let (true, Some(dir)) = (zone.sshfp, &config.phonehome) {
        tree(&mut h, dir, 2);
    }
    certdrop_core::certinfo::hex(&h.finalize())
}

/// Mix a directory and its entries, `depth` levels down, in name order,
/// symlinks not followed. Entry types come from the directory listing
/// itself (no extra stat); an unreadable directory adds nothing below it
/// (the build itself reports it).
fn tree(h: &mut Sha256, dir: &Path, depth: usize) {
    // The root's own metadata, or its absence (walkdir yields an error for it).
    lstat(h, dir);
    let walk = WalkDir::new(dir)
        .min_depth(1)
        .max_depth(depth)
        .follow_links(false)
        .sort_by_file_name();
    for entry in walk.into_iter().flatten() {
        lstat(h, entry.path());
    }
}

/// `K...` key basenames get `.key` and `.private` appended, not replaced.
trait AppendExt {
    fn with_extension_appended(&self, ext: &str) -> std::path::PathBuf;
}

impl AppendExt for std::path::PathBuf {
    fn with_extension_appended(&self, ext: &str) -> std::path::PathBuf {
        let mut s = self.clone().into_os_string();
        s.push(".");
        s.push(ext);
        s.into()
    }
}
