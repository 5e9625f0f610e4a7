//! The rules between the paths of publish.toml that no single key can
//! state: pub/ and certs/ are apart, and the signing key lies in neither.
//! Checked by [`Config::parse`](super::Config::parse), so `-n` and every
//! command refuse a configuration that could never work (78), each rule as
//! one line `file:line: key: why`. A pull's staging and into are kept
//! apart the same way ([`apart`]).
//!
//! Paths are compared as written and, where they exist, with symbolic
//! links resolved, so that a link cannot hide one tree inside the other.

use std::path::PathBuf;

use certdrop_core::paths::{through_links, within};
use certdrop_core::tomlcfg::Source;
use toml::Spanned;

/// `pub` and `certs` must not contain each other: the publisher would
/// publish into the issuer's store (or the store into every service jail),
/// and pruning one tree's versions would remove the other's.
/// `signing_key` lies outside both: inside `pub/` every service jail and
/// every receiver could read it; inside `certs/` the issuer could replace
/// it and the dns jail, which mounts certs/, could read it.
pub(super) fn paths(
    src: &Source,
    certs: &Spanned<PathBuf>,
    pub_dir: &Spanned<PathBuf>,
    signing_key: &Spanned<PathBuf>,
) -> Result<(), String> {
    let (c, p, k) = (
        src.abs(certs.get_ref()),
        src.abs(pub_dir.get_ref()),
        src.abs(signing_key.get_ref()),
    );
    apart(src, pub_dir, "pub", certs, "certs")?;
    for (tree, key, who) in [
        (&p, "pub", "which every service jail and receiver reads"),
        (
            &c,
            "certs",
            "which the issuer writes and the dns jail reads",
        ),
    ] {
        if within(tree, &k) {
            return Err(src.err(
                signing_key.span(),
                "signing_key",
                &format!(
                    "{} lies inside {key} ({}), {who}: keep the private key out of it{}",
                    k.display(),
                    tree.display(),
                    through_links(&[&k, tree])
                ),
            ));
        }
    }
    Ok(())
}

/// Two trees that must not contain each other (pub/ and certs/; a pull's
/// into and staging, where the transport would write into the verified
/// tree, or a switch into the transport's). The error is on `a`'s key.
pub(super) fn apart(
    src: &Source,
    a: &Spanned<PathBuf>,
    a_key: &str,
    b: &Spanned<PathBuf>,
    b_key: &str,
) -> Result<(), String> {
    let (a_path, b_path) = (src.abs(a.get_ref()), src.abs(b.get_ref()));
    if within(&a_path, &b_path) || within(&b_path, &a_path) {
        return Err(src.err(
            a.span(),
            a_key,
            &format!(
                "{} and {b_key} ({}) must not contain each other{}",
                a_path.display(),
                b_path.display(),
                through_links(&[&a_path, &b_path])
            ),
        ));
    }
    Ok(())
}
