//! The rules between the paths of publish.toml that no single key can
//! state: pub/ and certs/ are apart, and the signing key lies in neither.
//! Checked by [`Config::parse`](super::Config::parse), so `-n` and every
//! command refuse a configuration that could never work (78), each rule as
//! one line `file:line: key: why`. A pull's staging and into are kept
//! apart the same way ([`apart`]).
//!
//! Paths are compared as written and, where they exist, with symbolic
//! links resolved, so that a link cannot hide one tree inside the other.

use std::path::{Component, Path, PathBuf};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_as_written_and_through_links() {
        assert!(nested(Path::new("/a/b"), Path::new("/a/b/./c")));
        assert!(!nested(Path::new("/a/b"), Path::new("/a/bc")));
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dir.path().join("certs");
        std::fs::create_dir(&certs).expect("mkdir");
        std::os::unix::fs::symlink(certs.join("p"), dir.path().join("pub")).expect("link");
        let pub_dir = dir.path().join("pub");
        assert!(!nested(&certs, &pub_dir));
        assert!(within(&certs, &pub_dir), "a link into certs/ is inside it");
        assert!(through_links(&[&pub_dir]).contains("pub -> "));
        assert_eq!(
            resolved(&dir.path().join("none/x")),
            std::fs::canonicalize(dir.path())
                .expect("real")
                .join("none/x")
        );
    }
}
