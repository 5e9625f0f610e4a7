//! The no-op fast path. A service found with nothing to do is remembered
//! with a fingerprint of everything that decision rested on: its definition
//! and settings, the configuration and allowed_signers files, `pub/<line>`
//! and every file of the version it points to, the service's certificate,
//! key and install paths, its pid file and its deployment record — by
//! metadata (`certdrop_core::fingerprint`). The next pass with the same
//! fingerprint stops before verifying a signature or reading a file: the
//! checks would see exactly what they saw. Services whose files are discovered from their own
//! configuration (a command's output) are always checked in full.

use std::collections::HashMap;
use std::path::Path;

use certdrop_core::fingerprint::{lstat, meta, mix_meta};
use sha2::{Digest, Sha256};

use crate::config::Service;
use crate::ctx::Ctx;
use crate::definition::{Files, Rule};

/// `<state>/quiet`: one line per service found with nothing to do,
/// `<service> <fingerprint> <until>`. One file read per pass, not one per service
/// (a file per service cost five system calls of a no-op pass's twenty).
const FILE: &str = "quiet";

/// The records of one pass: read once, changed in memory, written back
/// once at its end ([`Records::flush`]) if anything changed.
#[derive(Debug, Default)]
pub struct Records {
    map: std::cell::RefCell<Option<HashMap<String, String>>>,
    dirty: std::cell::Cell<bool>,
}

impl Records {
    /// The map, read from `<state>/quiet` on first use; an unreadable or
    /// malformed line counts as no record (a full check).
    fn with<R>(&self, ctx: &Ctx, f: impl FnOnce(&mut HashMap<String, String>) -> R) -> R {
        let mut map = self.map.borrow_mut();
        let map = map.get_or_insert_with(|| {
            let text = std::fs::read_to_string(ctx.config.state.join(FILE)).unwrap_or_default();
            text.lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(n, fp)| (n.to_string(), fp.trim().to_string()))
                .collect()
        });
        f(map)
    }

    /// Write the records back if the pass changed them (best effort, as
    /// [`remember`] says; sorted, so the file reads the same every time).
    pub fn flush(&self, ctx: &Ctx) {
        if !self.dirty.get() {
            return;
        }
        let map = self.map.borrow();
        let Some(map) = map.as_ref() else {
            return;
        };
        let mut lines: Vec<String> = map.iter().map(|(n, fp)| format!("{n} {fp}\n")).collect();
        lines.sort();
        let _ = certdrop_core::atomic::write_with(
            &ctx.config.state.join(FILE),
            lines.concat().as_bytes(),
            certdrop_core::atomic::MODE_SECRET,
            None,
            certdrop_core::atomic::Durability::Whole,
        );
        self.dirty.set(false);
    }
}

/// A hash that text is written into.
struct Hashing<'a>(&'a mut Sha256);

impl std::fmt::Write for Hashing<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

/// The fingerprint, or None when the service cannot take the fast path.
pub fn fingerprint(ctx: &Ctx, svc: &Service) -> Option<String> {
    let Files::Listed(pairs) = &svc.def.files else {
        return None;
    };
    let mut h = Sha256::new();
    // Streamed into the hash: the same bytes as `format!("{svc:?}")`
    // without building a string of every setting for every service.
    let _ = std::fmt::Write::write_fmt(&mut Hashing(&mut h), format_args!("{svc:?}"));
    // What every service shares is looked at once per pass: the
    // configuration file and the allowed signers as read for this pass.
    h.update(ctx.shared.get_or_init(|| {
        let mut g = Sha256::new();
        lstat(&mut g, &ctx.config.path);
        g.update(ctx.signers.as_deref().unwrap_or("-").as_bytes());
        g.finalize().into()
    }));
    // Each path's metadata goes into the hash and to the pass's plan
    // (src/plan.rs), looked at once for both.
    // A symlink (a key linked into a service's directory, a pid file)
    // counts with its target too: replacing the target does not touch the
    // link.
    let look = |h: &mut Sha256, path: &Path, m: std::io::Result<std::fs::Metadata>| {
        let link = m.as_ref().is_ok_and(|m| m.file_type().is_symlink());
        let m = meta(&m);
        mix_meta(h, path, &m);
        ctx.plan.note(path, false, &m);
        if link {
            let t = meta(&std::fs::metadata(path));
            h.update(b"target");
            mix_meta(h, path, &t);
            ctx.plan.note(path, true, &t);
        }
    };
    if let Some(line) = &svc.line {
        let link = ctx.config.pub_dir.join(line);
        mix_meta(&mut h, &link, &meta(&std::fs::symlink_metadata(&link)));
        // One readlink, not a canonicalize (a readlink per component).
        let dir = match std::fs::read_link(&link) {
            Ok(target) => ctx.config.pub_dir.join(target),
            Err(_) => link.clone(),
        };
        // The version directory's own metadata moves when a file is
        // added, removed or renamed in it. The plan looks through the
        // link: at the directory it points to then (another version is
        // another directory) and at the files in it.
        let m = meta(&std::fs::symlink_metadata(&dir));
        mix_meta(&mut h, &dir, &m);
        ctx.plan.note(&link, true, &m);
        let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(&dir).ok()?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in &entries {
            let m = meta(&e.metadata());
            mix_meta(&mut h, &e.path(), &m);
            ctx.plan.note(&link.join(e.file_name()), false, &m);
        }
    }
    for pair in pairs {
        look(&mut h, &pair.cert, std::fs::symlink_metadata(&pair.cert));
        if let Some(k) = &pair.key {
            look(&mut h, k, std::fs::symlink_metadata(k));
        }
    }
    for i in &svc.install {
        look(&mut h, &i.to, std::fs::symlink_metadata(&i.to));
    }
    if let Some(p) = &svc.def.pidfile {
        look(&mut h, p, std::fs::symlink_metadata(p));
    }
    // The content-changed rule compares with what was last deployed; the
    // other rule never reads that record.
    if svc.def.rule == Rule::ContentChanged {
        let record = crate::state::path(&ctx.config.state, &svc.name);
        look(&mut h, &record, std::fs::symlink_metadata(&record));
    }
    Some(certdrop_core::certinfo::hex(&h.finalize()))
}

/// Whether the service was found with nothing to do at this fingerprint,
/// and that finding still stands at `now`: Some(the end of the earliest
/// certificate's validity it rested on). A certificate that expired since
/// is looked at again (the full check refuses it: the run says so).
pub fn unchanged(ctx: &Ctx, svc: &Service, fp: &str, now: i64) -> Option<i64> {
    ctx.quiet.with(ctx, |m| {
        let (f, until) = m.get(&svc.name)?.split_once(' ')?;
        let until: i64 = until.parse().ok()?;
        (f == fp && now <= until).then_some(until)
    })
}

/// Remember that nothing was to do at this fingerprint until `until` (the
/// end of the earliest validity among its certificates). Best effort: a
/// missing record only costs a full check next time. Written whole at the
/// end of the pass but not fsynced: a crash may lose it (a full check next
/// time), and an old one that comes back after a crash holds an old
/// fingerprint, which matches only if nothing the decision rests on
/// changed (the deployment record included).
pub fn remember(ctx: &Ctx, svc: &Service, fp: &str, until: i64) {
    let value = format!("{fp} {until}");
    ctx.quiet.with(ctx, |m| {
        if m.get(&svc.name) != Some(&value) {
            m.insert(svc.name.clone(), value);
            ctx.quiet.dirty.set(true);
        }
    });
}

/// The earliest `valid-before` of an allowed_signers entry still valid at
/// `now`, if any: a record resting on a verified manifest stands no
/// longer (any entry, not only the one that signed: conservative, and the
/// file is read once a pass).
pub fn signers_until(ctx: &Ctx, now: i64) -> Option<i64> {
    let text = ctx.signers.as_deref()?;
    *ctx.signers_until.get_or_init(|| {
        certdrop_manifest::signers::parse(text)
            .ok()?
            .iter()
            .filter_map(|s| s.valid_before)
            .filter(|t| *t >= now)
            .min()
    })
}

/// Forget it (before acting or failing).
pub fn forget(ctx: &Ctx, svc: &Service) {
    ctx.quiet.with(ctx, |m| {
        if m.remove(&svc.name).is_some() {
            ctx.quiet.dirty.set(true);
        }
    });
}
