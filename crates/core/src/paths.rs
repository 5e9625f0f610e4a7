//! Whether one configured tree lies inside another, as written and with
//! the symbolic links of the parts that exist resolved, so a link cannot
//! hide one tree inside the other; and the words that explain it when a
//! link was what made it so. certdrop-publish keeps certs/, pub/ and its
//! pull's staging apart with it; certdrop-trigger keeps private keys out of
//! its outbox and pub/.

use std::path::{Component, Path, PathBuf};

/// Whether `inner` is `outer` or lies below it, as written or with the
/// links of their existing parts resolved.
pub fn within(outer: &Path, inner: &Path) -> bool {
    nested(outer, inner) || nested(&resolved(outer), &resolved(inner))
}

/// " (through symbolic links: a -> a', ...)" when resolving links changed
/// one of `paths`, so the message explains a rule the written paths hide.
pub fn through_links(paths: &[&Path]) -> String {
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
pub fn resolved(p: &Path) -> PathBuf {
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
