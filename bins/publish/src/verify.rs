//! `verify DIR`: check a pub/ tree where it is received (over nullfs, rsync
//! or git) before anything uses it. For each line directory: the manifest's
//! SSHSIG signature (OpenSSH PROTOCOL.sshsig, namespace
//! [`certdrop_manifest::NAMESPACE`]) by a key of the allowed_signers file, the
//! manifest naming this line, every listed file's SHA-256, and no file the
//! manifest does not list. One line per problem; exit 65 if any.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use certdrop_core::error::Error;
use certdrop_core::exit::{Failure, Outcome};
use certdrop_core::output::Output;
use certdrop_core::untrusted::{self, Refused, Rules};
use certdrop_manifest::{manifest, signers, sshsig, Manifest, Signer, MANIFEST, SIGNATURE};
use walkdir::WalkDir;

/// What `verify` was asked.
#[derive(Debug, Clone)]
pub struct Request {
    /// The received tree.
    pub dir: PathBuf,
    /// ssh-keygen(1) allowed_signers file.
    pub allowed_signers: PathBuf,
    /// Required principal, as `ssh-keygen -Y verify -I`.
    pub identity: Option<String>,
}

/// Run `verify`: 0 when every line is good, 65 when any is not (one line
/// per problem, printed here), 66 for no tree or no line in it, 78 for a
/// bad allowed_signers file.
pub fn run(req: &Request, out: &Output) -> Result<Outcome, Error> {
    let shown = req.allowed_signers.display();
    // The administrator's file, read with the same care (no FIFO to block
    // on, a bounded size): unreadable is 66, not text 78.
    let text =
        untrusted::read_text(&req.allowed_signers, &Rules::default()).map_err(|r| match r {
            Refused::NotText => Error::config(format!("{shown}: not UTF-8")),
            r => Error::noinput(format!("{shown}: {r}")),
        })?;
    let allowed = signers::parse(&text).map_err(|e| Error::config(format!("{shown}: {e}")))?;
    if allowed.is_empty() {
        return Err(Error::config(format!("{shown}: no signer")));
    }
    let root =
        fs::canonicalize(&req.dir).map_err(|e| Error::unreadable(&req.dir, "cannot open", &e))?;
    let entries = listing(&root).map_err(|e| Error::unreadable(&req.dir, "cannot list", &e))?;
    let now = certdrop_core::clock::now();
    let mut problems = Vec::new();
    let mut lines = 0;
    // Versions (.v), the lock, temporary files, a .git directory.
    for name in entries.iter().filter(|n| !n.starts_with('.')) {
        let shown = req.dir.join(name);
        let dir = match fs::canonicalize(root.join(name)) {
            Ok(d) if d.starts_with(&root) && d != root && d.is_dir() => d,
            Ok(d) if d.is_dir() => {
                problems.push(format!("{}: points outside the tree", shown.display()));
                continue;
            }
            Ok(_) => {
                problems.push(format!("{}: not a line directory", shown.display()));
                continue;
            }
            Err(e) => {
                problems.push(format!("{}: {e}", shown.display()));
                continue;
            }
        };
        lines += 1;
        let ctx = Line {
            name,
            dir: &dir,
            shown: &shown,
            allowed: &allowed,
            identity: req.identity.as_deref(),
            now,
        };
        match ctx.check(&mut problems) {
            Some((m, signer)) => out.verbose(&format!(
                "{name}: good: serial {}, valid until {}, {} file(s), signed by {} (line {} of {})",
                m.serial,
                m.not_after,
                m.files.len(),
                signer.principals,
                signer.line,
                req.allowed_signers.display()
            )),
            None => out.verbose(&format!("{name}: bad")),
        }
    }
    for p in &problems {
        out.error(p);
    }
    if lines == 0 {
        return Err(Error::noinput(format!(
            "{}: no line directory",
            req.dir.display()
        )));
    }
    if problems.is_empty() {
        Ok(Outcome::Reported)
    } else {
        Err(Error::reported(Failure::Data))
    }
}

/// The names in `dir`, sorted, without following symlinks (a line's link
/// is resolved, and checked to stay inside the tree, by the caller).
fn listing(dir: &Path) -> std::io::Result<Vec<String>> {
    WalkDir::new(dir)
        .min_depth(1)
        .max_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .map(|e| {
            e.map(|e| e.file_name().to_string_lossy().into_owned())
                .map_err(std::io::Error::from)
        })
        .collect()
}

/// One line directory and what it is checked against.
struct Line<'a> {
    name: &'a str,
    dir: &'a Path,
    shown: &'a Path,
    allowed: &'a [Signer],
    identity: Option<&'a str>,
    now: i64,
}

impl Line<'_> {
    /// Check the directory; push one line per problem. The manifest is
    /// parsed only once its signature holds, and files are checked only
    /// against a signed manifest.
    fn check(&self, problems: &mut Vec<String>) -> Option<(Manifest, &Signer)> {
        let at = |f: &str| self.shown.join(f).display().to_string();
        let read = |f: &str| {
            untrusted::read(&self.dir.join(f), &Rules::default())
                .map_err(|r| r.error(&self.shown.join(f)).msg)
        };
        let (text, sig) = match (read(MANIFEST), read(SIGNATURE)) {
            (Ok(t), Ok(s)) => (t, s),
            (t, s) => {
                problems.extend(t.err());
                problems.extend(s.err());
                return None;
            }
        };
        let (m, signer) = match sshsig::signed(&text, &sig, self.allowed, self.identity, self.now) {
            Ok(signed) => signed,
            Err((part, e)) => {
                problems.push(format!("{}: {e}", at(part.file())));
                return None;
            }
        };
        let before = problems.len();
        if m.line != self.name {
            problems.push(format!(
                "{}: is the manifest of line '{}'",
                at(MANIFEST),
                m.line
            ));
        }
        for (file, want) in &m.files {
            match read(file) {
                Ok(data) if manifest::digest(&data) == *want => {}
                Ok(_) => problems.push(format!("{}: SHA-256 differs from the manifest", at(file))),
                Err(e) => problems.push(e),
            }
        }
        let listed: BTreeSet<&str> = m
            .files
            .iter()
            .map(|(f, _)| f.as_str())
            .chain([MANIFEST, SIGNATURE])
            .collect();
        match listing(self.dir) {
            Ok(names) => problems.extend(
                names
                    .iter()
                    .filter(|n| !listed.contains(n.as_str()))
                    .map(|n| format!("{}: not listed in the manifest", at(n))),
            ),
            Err(e) => problems.push(format!("{}: {e}", self.shown.display())),
        }
        (problems.len() == before).then_some((m, signer))
    }
}
