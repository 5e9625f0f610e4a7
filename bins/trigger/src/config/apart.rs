//! `[outbox]`'s paths kept apart from each other and from `pub` (issue 15:
//! private keys never travel). The signing site pulls `dir`, every service
//! jail reads `pub` and a pull replaces it, so neither may hold `keys` or
//! `signing_key`, and `dir` lies in neither `pub` nor `keys`. Each rule is
//! one line `file:line: key: why` (78), as certdrop-publish states its own
//! (bins/publish/src/config/checks.rs).
//!
//! Paths are compared as written and, where they exist, with symbolic
//! links resolved, so that a link cannot hide one tree inside the other.

use std::path::{Path, PathBuf};

use certdrop_core::paths::{through_links, within};
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
