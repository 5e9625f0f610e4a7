//! `run`'s side of a staged key rollover across sites (issue 15): when
//! the certificate a `[[csr]]` line publishes (pub/<line>, as the trigger
//! verified it against allowed_signers) is for the staged next key
//! (keys/<line>/next/key.pem), that key becomes keys/<line>/key.pem
//! before the service's files are judged and its pre-flight runs; the
//! deployment then goes on as usual, and the next `csr` writes an outbox
//! without next.csr.pem. A certificate for neither key promotes nothing:
//! the key check refuses it as before (65).

use certdrop_core::certinfo;
use certdrop_core::error::Result;

use crate::config::Service;
use crate::csr::keys;
use crate::ctx::Ctx;
use crate::keymatch::{self, PublicKey};
use crate::manifest::Verified;
use crate::material::Overrides;

/// Files the published line may carry the leaf in, first found wins.
const LEAF_FILES: [&str; 2] = ["cert.pem", "fullchain.pem"];

/// Promote `svc`'s line's next key if the published leaf is for it.
/// With `-n`, say so and promote nothing: the returned contents stand
/// for key.pem while the files are judged, as they would be after it.
pub fn staged(ctx: &Ctx, svc: &Service, line: Option<&Verified>) -> Result<Overrides> {
    let mut judged = Overrides::new();
    let (Some(outbox), Some(name), Some(line)) = (&ctx.config.outbox, &svc.line, line) else {
        return Ok(judged);
    };
    if outbox.line(name).is_none() {
        return Ok(judged);
    }
    let next = outbox.next_key(name);
    if std::fs::symlink_metadata(&next).is_err() {
        return Ok(judged);
    }
    // What cannot be read here is the key check's to report, in its words.
    let Some(leaf) = published_leaf(line) else {
        return Ok(judged);
    };
    let Some(staged) = keys::load(&next)? else {
        return Ok(judged);
    };
    if !same(&staged.spki, &leaf) {
        return Ok(judged);
    }
    let key = outbox.key(name);
    if ctx.mode.check {
        ctx.out.print(&format!(
            "{}: would promote the next key {}: the published certificate is for it",
            svc.name,
            next.display()
        ));
        judged.insert(key, std::fs::read(&next).unwrap_or_default());
        return Ok(judged);
    }
    let old = keys::promote(outbox, name)?;
    ctx.out.action(&format!(
        "{}: promoted the next key to {}: the published certificate is for it; previous key kept as {}",
        svc.name,
        key.display(),
        old.display()
    ));
    Ok(judged)
}

/// The public key of the line's leaf, if a file of it holds one.
fn published_leaf(line: &Verified) -> Option<PublicKey> {
    let bytes = LEAF_FILES
        .iter()
        .find(|f| line.dir.join(f).exists())
        .and_then(|f| line.read(f).ok())?;
    let der = pem::parse_many(&bytes)
        .ok()?
        .into_iter()
        .find(|b| b.tag() == "CERTIFICATE")?
        .into_contents();
    let leaf = certinfo::parse_der(&der).ok()?;
    keymatch::from_spki(&leaf.spki).ok()
}

/// Whether `spki` (a key's SubjectPublicKeyInfo DER) is `leaf`'s key.
fn same(spki: &[u8], leaf: &PublicKey) -> bool {
    keymatch::from_spki(spki).is_ok_and(|k| k == *leaf)
}
