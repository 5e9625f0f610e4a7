//! The no-op fast path. A service found with nothing to do is remembered
//! with a fingerprint of everything that decision rested on: its definition
//! and settings, the configuration and allowed_signers files, `pub/<line>`
//! and every file of the version it points to, the service's certificate,
//! key and install paths, its pid file and its deployment record — by
//! metadata (`certdrop_core::fingerprint`). The next pass with the same
//! fingerprint stops before verifying a signature or reading a file: the
//! checks would see exactly what they saw. Services whose files are discovered from their own
//! configuration (a command's output) are always checked in full.

use std::path::PathBuf;

use certdrop_core::fingerprint::lstat;
use sha2::{Digest, Sha256};

use crate::config::Service;
use crate::ctx::Ctx;
use crate::definition::Files;

/// `<state>/<service>.quiet`.
fn path(ctx: &Ctx, svc: &Service) -> PathBuf {
    ctx.config.state.join(format!("{}.quiet", svc.name))
}

/// The fingerprint, or None when the service cannot take the fast path.
pub fn fingerprint(ctx: &Ctx, svc: &Service) -> Option<String> {
    let Files::Listed(pairs) = &svc.def.files else {
        return None;
    };
    let mut h = Sha256::new();
    h.update(format!("{svc:?}").as_bytes());
    // What every service shares is looked at once per pass: the
    // configuration file and the allowed signers as read for this pass.
    h.update(ctx.shared.get_or_init(|| {
        let mut g = Sha256::new();
        lstat(&mut g, &ctx.config.path);
        g.update(ctx.signers.as_deref().unwrap_or("-").as_bytes());
        g.finalize().into()
    }));
    if let Some(line) = &svc.line {
        let link = ctx.config.pub_dir.join(line);
        lstat(&mut h, &link);
        // One readlink, not a canonicalize (a readlink per component).
        let dir = match std::fs::read_link(&link) {
            Ok(target) => ctx.config.pub_dir.join(target),
            Err(_) => link.clone(),
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            lstat(&mut h, &e);
        }
    }
    for pair in pairs {
        lstat(&mut h, &pair.cert);
        if let Some(k) = &pair.key {
            lstat(&mut h, k);
        }
    }
    for i in &svc.install {
        lstat(&mut h, &i.to);
    }
    if let Some(p) = &svc.def.pidfile {
        lstat(&mut h, p);
    }
    // The content-changed rule compares with what was last deployed.
    lstat(&mut h, &crate::state::path(&ctx.config.state, &svc.name));
    Some(certdrop_core::certinfo::hex(&h.finalize()))
}

/// Whether the service was found with nothing to do at this fingerprint.
pub fn unchanged(ctx: &Ctx, svc: &Service, fp: &str) -> bool {
    std::fs::read_to_string(path(ctx, svc)).is_ok_and(|t| t.trim() == fp)
}

/// Remember that nothing was to do at this fingerprint (best effort: a
/// missing record only costs a full check next time).
pub fn remember(ctx: &Ctx, svc: &Service, fp: &str) {
    let _ = certdrop_core::atomic::write(
        &path(ctx, svc),
        format!("{fp}\n").as_bytes(),
        certdrop_core::atomic::MODE_SECRET,
    );
}

/// Forget it (after acting or failing).
pub fn forget(ctx: &Ctx, svc: &Service) {
    let _ = certdrop_core::atomic::remove(&path(ctx, svc));
}
