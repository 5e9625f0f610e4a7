//! Challenge files in the drop directories: dns-01 fragments in `dnsextra/`
//! (format in certdrop-core's `fragment`) and http-01 tokens in `webroot/`
//! (RFC 8555 §8.3). Every file written is removed again when the
//! authorization is settled, by the guard even on an early return; what a
//! crashed run left behind is removed at the start of the next one.

use std::path::{Path, PathBuf};

use certdrop_core::atomic;
use certdrop_core::fragment::Fragment;

use crate::error::{Error, Result};

/// Longest token accepted as a file name.
const MAX_TOKEN: usize = 128;

/// The challenge files of one order; removes them when dropped.
#[derive(Debug, Default)]
pub struct ChallengeFiles {
    files: Vec<PathBuf>,
}

impl ChallengeFiles {
    /// Write the dns-01 fragment for `owner` = `value` into `dir`.
    pub fn add_fragment(&mut self, dir: &Path, owner: &str, ttl: u32, value: &str) -> Result<()> {
        let fragment = Fragment::new(owner, ttl, value)
            .map_err(|why| Error::data(format!("{owner}: cannot write fragment: {why}")))?;
        let path = dir.join(fragment.file_name());
        atomic::write(&path, fragment.render().as_bytes(), atomic::MODE_PUBLIC)
            .map_err(|e| Error::io(&path, "write fragment", &e))?;
        self.files.push(path);
        Ok(())
    }

    /// Write the http-01 token file into `dir`, after checking that the
    /// token is a plain base64url string (it becomes a file name).
    pub fn add_token(&mut self, dir: &Path, token: &str, key_authorization: &str) -> Result<()> {
        if !is_token(token) {
            return Err(Error::data(format!(
                "http-01 token from the CA is not base64url: refused as a file name: {:?}",
                token.chars().take(40).collect::<String>()
            )));
        }
        let path = dir.join(token);
        atomic::write(&path, key_authorization.as_bytes(), atomic::MODE_PUBLIC)
            .map_err(|e| Error::io(&path, "write token", &e))?;
        self.files.push(path);
        Ok(())
    }

    /// Remove every file written so far.
    pub fn remove_all(&mut self) -> Result<()> {
        let mut first_error = None;
        for path in self.files.drain(..) {
            if let Err(e) = atomic::remove(&path) {
                first_error.get_or_insert(Error::io(&path, "remove challenge file", &e));
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for ChallengeFiles {
    fn drop(&mut self) {
        let _ = self.remove_all();
    }
}

/// Whether `token` is safe as a file name: base64url, bounded length.
pub fn is_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Remove what a crashed run left: fragments and temporary files in
/// `dnsextra/`, token and temporary files in `webroot/`. Runs under the
/// state lock, so no other issuer is writing.
pub fn clean_leftovers(dnsextra: Option<&Path>, webroot: Option<&Path>) -> Result<usize> {
    let mut removed = 0;
    for (dir, is_ours) in [
        (dnsextra, &is_fragment as &dyn Fn(&Path, &str) -> bool),
        (webroot, &|_: &Path, name: &str| is_token(name)),
    ] {
        let Some(dir) = dir else { continue };
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(dir, "read drop directory", &e)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
            if is_file && (name.starts_with(atomic::TEMP_PREFIX) || is_ours(&path, &name)) {
                atomic::remove(&path).map_err(|e| Error::io(&path, "remove leftover", &e))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

fn is_fragment(path: &Path, name: &str) -> bool {
    name.starts_with(certdrop_core::fragment::PREFIX)
        && std::fs::read_to_string(path)
            .ok()
            .and_then(|t| Fragment::parse(&t).ok())
            .is_some_and(|f| f.file_name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "xKyfkr_Vt1jySkWEasJE_mI7IEkKQ-CnJIrVTqcldVA";

    #[test]
    fn files_go_away_with_the_guard() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut files = ChallengeFiles::default();
            files
                .add_fragment(dir.path(), "_acme-challenge.example.org.", 60, V)
                .expect("write");
            files
                .add_fragment(
                    dir.path(),
                    "_acme-challenge.example.org.",
                    60,
                    &V.replace('x', "y"),
                )
                .expect("write");
            assert_eq!(std::fs::read_dir(dir.path()).expect("rd").count(), 2);
        }
        assert_eq!(std::fs::read_dir(dir.path()).expect("rd").count(), 0);
    }

    #[test]
    fn hostile_tokens_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut files = ChallengeFiles::default();
        assert!(files
            .add_token(dir.path(), "../../etc/passwd", "x")
            .is_err());
        assert!(files.add_token(dir.path(), "", "x").is_err());
        assert!(files
            .add_token(dir.path(), "abc_DEF-123", "abc_DEF-123.thumb")
            .is_ok());
    }

    #[test]
    fn leftovers_are_cleaned_but_not_foreign_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = Fragment::new("_acme-challenge.example.org", 60, V).expect("fragment");
        std::fs::write(dir.path().join(f.file_name()), f.render()).expect("write");
        std::fs::write(dir.path().join(".tmp.x.1.1"), "partial").expect("write");
        std::fs::write(dir.path().join("README"), "not ours").expect("write");
        assert_eq!(clean_leftovers(Some(dir.path()), None).expect("clean"), 2);
        assert!(dir.path().join("README").exists());
    }
}
