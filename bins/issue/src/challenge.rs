//! Challenge files in the drop directories: dns-01 fragments in `dnsextra/`
//! (format in certdrop-core's `fragment`) and http-01 tokens in `webroot/`
//! (RFC 8555 §8.3). Every file written is removed again when the
//! authorization is settled, by the guard even on an early return; what a
//! crashed run left behind is removed at the start of the next one.
//!
//! The challenge files themselves are never fsynced: they live minutes,
//! and one a crash loses is written again by the order's next run. Only
//! the journal is durable, and before the files it names are created, so
//! no crash leaves a file that no journal names. Removal: the files, then
//! one fsync of their directories, then the journal (a journal a crash
//! brings back names files that are gone, which is harmless).

use std::path::{Path, PathBuf};

use certdrop_core::atomic::{self, Durability};
use certdrop_core::fragment::{self, Fragment};

use certdrop_core::error::{Error, Result};

/// Directory of the journals inside the state directory.
pub const JOURNALS: &str = "challenges";

/// Longest token accepted as a file name.
const MAX_TOKEN: usize = 128;

/// The challenge files of one order; removes them when dropped. Each path
/// is recorded in a journal (`state/challenges/<line>`) before the file is
/// created, so the next run can remove exactly what a crashed run left —
/// and nothing else that happens to live in the webroot.
#[derive(Debug)]
pub struct ChallengeFiles {
    journal: PathBuf,
    files: Vec<PathBuf>,
}

impl ChallengeFiles {
    /// Files of one order, journaled in `journal`. The files an earlier
    /// run journaled there for the same line (its order in progress, kept
    /// by [`clean_leftovers`] so the CA could still validate) are taken
    /// over: removed with this order's files.
    pub fn new(journal: PathBuf) -> ChallengeFiles {
        let files = std::fs::read_to_string(&journal)
            .map(|text| text.lines().map(PathBuf::from).collect())
            .unwrap_or_default();
        ChallengeFiles { journal, files }
    }

    fn record(&mut self, path: PathBuf) -> Result<()> {
        if !self.files.contains(&path) {
            self.files.push(path);
        }
        let mut text = String::new();
        for f in &self.files {
            text.push_str(&f.to_string_lossy());
            text.push('\n');
        }
        if let Some(dir) = self.journal.parent() {
            atomic::ensure_dir(dir, atomic::MODE_SECRET_DIR)
                .map_err(|e| Error::io(dir, "create journal directory", &e))?;
        }
        atomic::write_with(
            &self.journal,
            text.as_bytes(),
            atomic::MODE_SECRET,
            None,
            Durability::Whole,
        )
        .map_err(|e| Error::io(&self.journal, "write journal", &e))?;
        // Durable (file and directory) before the file it names is created,
        // in a pass shared with the other lines' orders (syncer.rs).
        let paths = vec![
            self.journal.clone(),
            atomic::parent_of(&self.journal).to_path_buf(),
        ];
        crate::syncer::blocking(|| crate::syncer::sync(paths))
            .map_err(|e| Error::io(&self.journal, "sync journal", &e))
    }

    /// Write the dns-01 fragment for `owner` = `value` into `dir`.
    pub fn add_fragment(&mut self, dir: &Path, owner: &str, ttl: u32, value: &str) -> Result<()> {
        let fragment = Fragment::new(owner, ttl, value)
            .map_err(|why| Error::data(format!("{owner}: cannot write fragment: {why}")))?;
        let path = dir.join(fragment.file_name());
        self.record(path.clone())?;
        let text = fragment.render();
        atomic::write_with(
            &path,
            text.as_bytes(),
            atomic::MODE_PUBLIC,
            None,
            Durability::Whole,
        )
        .map_err(|e| Error::io(&path, "write fragment", &e))
    }

    /// Say that every dns-01 fragment of this order is in `dir`: rename
    /// the empty completion marker `.complete.<tag>` into place after them
    /// (certdrop-core's `fragment::MARKER_PREFIX`), so that a watching zone
    /// compiler builds at once instead of after a quiet spell. No fsync:
    /// the marker carries no data, and after a crash the journal removes
    /// it with the fragments.
    pub fn mark_complete(&mut self, dir: &Path, tag: &str) -> Result<()> {
        let path = dir.join(fragment::marker_name(tag));
        self.record(path.clone())?;
        atomic::write_with(&path, b"", atomic::MODE_PUBLIC, None, Durability::Whole)
            .map_err(|e| Error::io(&path, "write completion marker", &e))
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
        self.record(path.clone())?;
        let text = key_authorization.as_bytes();
        atomic::write_with(&path, text, atomic::MODE_PUBLIC, None, Durability::Whole)
            .map_err(|e| Error::io(&path, "write token", &e))
    }

    /// Remove every file written so far, then the journal.
    pub fn remove_all(&mut self) -> Result<()> {
        let mut first_error = None;
        let mut dirs: Vec<PathBuf> = Vec::new();
        for path in self.files.drain(..) {
            match atomic::remove_volatile(&path) {
                Ok(true) => {
                    let dir = atomic::parent_of(&path).to_path_buf();
                    if !dirs.contains(&dir) {
                        dirs.push(dir);
                    }
                }
                Ok(false) => {}
                Err(e) => {
                    first_error.get_or_insert(Error::io(&path, "remove challenge file", &e));
                }
            }
        }
        // The removals are on disk before the journal naming them goes.
        if let Err(e) = crate::syncer::blocking(|| crate::syncer::sync(dirs.clone())) {
            first_error.get_or_insert(Error::io(&dirs[0], "sync", &e));
        }
        if first_error.is_none() {
            if let Err(e) = atomic::remove_volatile(&self.journal) {
                first_error = Some(Error::io(&self.journal, "remove journal", &e));
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

/// Remove what a crashed run left: the files named in the journals of
/// `journal_dir` (only inside the drop directories), and temporary files
/// in the drop directories. The journals of the lines `spare` names are
/// left alone: those lines have an order in progress whose challenges the
/// CA may be validating right now (the order's next run takes the files
/// over, [`ChallengeFiles::new`]). Runs under the state lock, so no other
/// issuer is writing.
pub fn clean_leftovers(
    journal_dir: &Path,
    drops: &[&Path],
    spare: &dyn Fn(&str) -> bool,
) -> Result<usize> {
    let mut removed = 0;
    let journals = match std::fs::read_dir(journal_dir) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect::<Vec<_>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(journal_dir, "read journals", &e)),
    };
    for journal in journals {
        if journal
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(spare)
        {
            continue;
        }
        let text = std::fs::read_to_string(&journal)
            .map_err(|e| Error::io(&journal, "read journal", &e))?;
        for line in text.lines() {
            let path = Path::new(line);
            let inside = path.parent().is_some_and(|p| drops.contains(&p));
            if inside && path.exists() {
                atomic::remove(path).map_err(|e| Error::io(path, "remove leftover", &e))?;
                removed += 1;
            }
        }
        atomic::remove(&journal).map_err(|e| Error::io(&journal, "remove journal", &e))?;
    }
    for dir in drops {
        removed +=
            atomic::clean_temp(dir).map_err(|e| Error::io(dir, "remove temporary files", &e))?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "xKyfkr_Vt1jySkWEasJE_mI7IEkKQ-CnJIrVTqcldVA";

    #[test]
    fn files_go_away_with_the_guard() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal = dir.path().join("j/www");
        {
            let mut files = ChallengeFiles::new(journal.clone());
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
            files.mark_complete(dir.path(), "www").expect("marker");
            let marker = dir.path().join(".complete.www");
            assert_eq!(std::fs::read(&marker).expect("marker"), b"");
            assert_eq!(
                std::fs::read_to_string(&journal)
                    .expect("journal")
                    .lines()
                    .count(),
                3
            );
        }
        assert!(!journal.exists());
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("rd")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, ["j"]);
    }

    #[test]
    fn hostile_tokens_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut files = ChallengeFiles::new(dir.path().join("journal"));
        assert!(files
            .add_token(dir.path(), "../../etc/passwd", "x")
            .is_err());
        assert!(files.add_token(dir.path(), "", "x").is_err());
        assert!(files
            .add_token(dir.path(), "abc_DEF-123", "abc_DEF-123.thumb")
            .is_ok());
    }

    #[test]
    fn leftovers_named_in_journals_are_cleaned_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (web, journals) = (dir.path().join("webroot"), dir.path().join("journals"));
        std::fs::create_dir_all(&web).expect("mkdir");
        let mut files = ChallengeFiles::new(journals.join("www"));
        files.add_token(&web, "tok_1", "x").expect("token");
        std::mem::forget(files); // a crash: nothing cleaned up
        std::fs::write(web.join("README"), "not ours").expect("write");
        std::fs::write(web.join("robots_txt"), "not ours either").expect("write");
        std::fs::write(web.join(".tmp.x.1.1"), "partial").expect("write");
        assert_eq!(
            clean_leftovers(&journals, &[web.as_path()], &|_| false).expect("clean"),
            2
        );
        let mut left: Vec<_> = std::fs::read_dir(&web)
            .expect("rd")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["README", "robots_txt"]);
    }

    #[test]
    fn an_order_in_progress_keeps_its_files_and_the_next_run_takes_them_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (web, journals) = (dir.path().join("webroot"), dir.path().join("journals"));
        std::fs::create_dir_all(&web).expect("mkdir");
        let mut files = ChallengeFiles::new(journals.join("www"));
        files.add_token(&web, "tok_1", "x").expect("token");
        std::mem::forget(files); // killed after answering
        let spare = |line: &str| line == "www";
        assert_eq!(
            clean_leftovers(&journals, &[web.as_path()], &spare).expect("clean"),
            0
        );
        assert!(web.join("tok_1").exists(), "the CA may be validating it");
        // The order's next run writes its files again and removes the
        // earlier run's with its own.
        let mut files = ChallengeFiles::new(journals.join("www"));
        files.add_token(&web, "tok_2", "y").expect("token");
        files.remove_all().expect("remove");
        assert!(!web.join("tok_1").exists());
        assert!(!web.join("tok_2").exists());
        assert!(!journals.join("www").exists());
    }
}
