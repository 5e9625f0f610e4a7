//! `[outbox]`'s paths kept apart from each other and from `pub` (issue 15:
//! private keys never travel). The signing site pulls `dir`, every service
//! jail reads `pub` and a pull replaces it, so neither may hold `keys` or
//! `signing_key`, and `dir` lies in neither `pub` nor `keys`. Each rule is
//! one line `file:line: key: why` (78), as certdrop-publish states its own
//! (bins/publish/src/config/checks.rs).
//!
//! Paths are compared as written and, where they exist, with symbolic
//! links resolved, so that a link cannot hide one tree inside the other.

use std::path::{Component, Path, PathBuf};

use certdrop_core::tomlcfg::Source;
use toml::Spanned;

/// What lives in each tree, said when a rule refuses it.
const DIR: &str = "which the signing site pulls";
const PUB: &str = "which every service jail reads and a pull replaces";

/// Check `[outbox]`'s `dir`, `keys` and `signing_key` against each other
/// and against `pub_dir` (absolute).
pub(super) fn check(
    src: &Source,
    dir: &Spanned<PathBuf>,
    keys: &Spanned<PathBuf>,
    signing_key: &Spanned<PathBuf>,
    pub_dir: &Path,
) -> Result<(), String> {
    let (d, k, s) = (
        src.abs(dir.get_ref()),
        src.abs(keys.get_ref()),
        src.abs(signing_key.get_ref()),
    );
    let trees = [(d.as_path(), "dir", DIR), (pub_dir, "pub", PUB)];
    for (tree, name, who) in trees {
        if within(tree, &k) || within(&k, tree) {
            return Err(src.err(
                keys.span(),
                "keys",
                &format!(
                    "{} and {name} ({}), {who}, must not contain each other: \
                     keep the private keys out of it{}",
                    k.display(),
                    tree.display(),
                    through_links(&[&k, tree])
                ),
            ));
        }
        if within(tree, &s) {
            return Err(src.err(
                signing_key.span(),
                "signing_key",
                &format!(
                    "{} lies inside {name} ({}), {who}: keep the private key out of it{}",
                    s.display(),
                    tree.display(),
                    through_links(&[&s, tree])
                ),
            ));
        }
    }
    if within(pub_dir, &d) || within(&d, pub_dir) {
        return Err(src.err(
            dir.span(),
            "dir",
            &format!(
                "{} and pub ({}) must not contain each other: a pull would replace \
                 one with the other's files{}",
                d.display(),
                pub_dir.display(),
                through_links(&[&d, pub_dir])
            ),
        ));
    }
    Ok(())
}

/// Whether `inner` is `outer` or lies below it, as written or with the
/// links of their existing parts resolved.
fn within(outer: &Path, inner: &Path) -> bool {
    nested(outer, inner) || nested(&resolved(outer), &resolved(inner))
}

/// " (through symbolic links: a -> a', ...)" when resolving links changed
/// one of `paths`, so the message explains a rule the written paths hide.
fn through_links(paths: &[&Path]) -> String {
    let changed: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            let r = resolved(p);
            (clean(&r) != clean(p)).then(|| format!("{} -> {}", p.display(), r.display()))
        })
        .collect();
    if changed.is_empty() {
        return String::new();
    }
    format!(" (through symbolic links: {})", changed.join(", "))
}

/// `p` with the symbolic links of its longest existing ancestor resolved
/// and the rest (not yet created) appended as written; a dangling link is
/// followed to where it points, since a run would create that directory.
fn resolved(p: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut at = p.to_path_buf();
    // Bounded as the kernel bounds link chains (ELOOP).
    for _ in 0..40 {
        if let Ok(real) = std::fs::canonicalize(&at) {
            return rest
                .iter()
                .rev()
                .fold(real, |acc, c: &std::ffi::OsString| acc.join(c));
        }
        if let Ok(target) = std::fs::read_link(&at) {
            at = match at.parent() {
                Some(parent) => parent.join(target),
                None => target,
            };
            continue;
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                at = parent.to_path_buf();
            }
            _ => break,
        }
    }
    p.to_path_buf()
}

fn clean(p: &Path) -> Vec<Component<'_>> {
    p.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// Whether `inner` is `outer` or lies below it, lexically.
fn nested(outer: &Path, inner: &Path) -> bool {
    let (outer, inner) = (clean(outer), clean(inner));
    inner.len() >= outer.len() && inner[..outer.len()] == outer[..]
}
