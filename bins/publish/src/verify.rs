//! `verify DIR`: check a pub/ tree where it is received (over nullfs, rsync
//! or git) before anything uses it. For each line directory: the manifest's
//! SSHSIG signature (OpenSSH PROTOCOL.sshsig, namespace
//! [`certdrop_manifest::NAMESPACE`]) by a key of the allowed_signers file, the
//! manifest naming this line, every listed file's SHA-256, no file the
//! manifest does not list, and no file holding a private key (PEM), signed
//! or not. For an outbox, each CSR's key and names must be the manifest's.
//! One line per problem; exit 65 if any.
//!
//! The checks are [`tree`]'s, which `pull` runs on its staging directory
//! too (with the outbox kind as well): one verdict for both verbs.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use certdrop_core::error::Error;
use certdrop_core::exit::{Failure, Outcome};
use certdrop_core::output::Output;
use certdrop_core::untrusted::{self, Refused, Rules};
use certdrop_manifest::sshsig::Part;
use certdrop_manifest::{
    manifest, secret, signers, sshsig, Manifest, Outbox, Signer, MANIFEST, SIGNATURE,
};
use walkdir::WalkDir;

pub use crate::config::Kind;

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
    let allowed = allowed_signers(&req.allowed_signers)?;
    let now = certdrop_core::clock::now();
    let verdict = tree(&req.dir, Kind::Pub, &allowed, req.identity.as_deref(), now)?;
    for r in &verdict.good {
        out.verbose(&format!(
            "{}: good: {}, {} file(s), signed by {} (line {} of {})",
            r.name,
            r.signed.describe(),
            r.files.len(),
            r.signer.principals,
            r.signer.line,
            req.allowed_signers.display()
        ));
    }
    for p in &verdict.problems {
        out.error(p);
    }
    if verdict.lines == 0 {
        return Err(Error::noinput(format!(
            "{}: no line directory",
            req.dir.display()
        )));
    }
    if verdict.problems.is_empty() {
        Ok(Outcome::Reported)
    } else {
        Err(Error::reported(Failure::Data))
    }
}

/// Read and parse an allowed_signers file with the same care as any
/// received file (no FIFO to block on, a bounded size): unreadable is 66,
/// not text, unparsable or empty 78.
pub fn allowed_signers(path: &Path) -> Result<Vec<Signer>, Error> {
    let shown = path.display();
    let text = untrusted::read_text(path, &Rules::default()).map_err(|r| match r {
        Refused::NotText => Error::config(format!("{shown}: not UTF-8")),
        r => Error::noinput(format!("{shown}: {r}")),
    })?;
    let allowed = signers::parse(&text).map_err(|e| Error::config(format!("{shown}: {e}")))?;
    if allowed.is_empty() {
        return Err(Error::config(format!("{shown}: no signer")));
    }
    Ok(allowed)
}

/// The signed manifest of one line, by kind.
#[derive(Debug, Clone)]
pub enum Signed {
    /// A pub/ line: `certdrop-manifest 1`.
    Pub(Manifest),
    /// An outbox line: `certdrop-outbox 1`.
    Outbox(Outbox),
}

impl Signed {
    /// The line it names.
    pub fn line(&self) -> &str {
        match self {
            Signed::Pub(m) => &m.line,
            Signed::Outbox(o) => &o.line,
        }
    }

    /// The files it lists with their SHA-256.
    pub fn files(&self) -> &[(String, [u8; 32])] {
        match self {
            Signed::Pub(m) => &m.files,
            Signed::Outbox(o) => &o.files,
        }
    }

    /// What it holds, for a message: the certificate or the outbox's date.
    pub fn describe(&self) -> String {
        match self {
            Signed::Pub(m) => format!("serial {}, valid until {}", m.serial, m.not_after),
            Signed::Outbox(o) => format!("outbox of {}", o.published),
        }
    }
}

/// A line directory that passed every check, with the bytes that passed:
/// a receiver installs these, never the files again.
#[derive(Debug, Clone)]
pub struct Received {
    /// The line (its directory's name, which the manifest names too).
    pub name: String,
    /// `manifest`, as signed.
    pub manifest: Vec<u8>,
    /// `manifest.sig`.
    pub signature: Vec<u8>,
    /// The listed files, in the manifest's order, with their content.
    pub files: Vec<(String, Vec<u8>)>,
    /// The parsed manifest.
    pub signed: Signed,
    /// The allowed_signers entry that accepted the signature.
    pub signer: Signer,
}

/// The verdict on a received tree, shared by `verify` and `pull`.
#[derive(Debug, Default)]
pub struct Verdict {
    /// The good lines, by name.
    pub good: Vec<Received>,
    /// One line per problem, naming the file.
    pub problems: Vec<String>,
    /// Line directories looked at, good or bad.
    pub lines: usize,
}

/// Check every line directory of the tree `dir` (module header): each
/// link resolved and kept inside the tree, each manifest of `kind` signed
/// by an entry of `allowed` (for `identity`, if given), naming its line,
/// listing exactly the files there with their digests. Dot names (the
/// versions, a lock, a `.git`) are no lines. An error only if the tree
/// itself cannot be opened or listed (66).
pub fn tree(
    dir: &Path,
    kind: Kind,
    allowed: &[Signer],
    identity: Option<&str>,
    now: i64,
) -> Result<Verdict, Error> {
    let root = fs::canonicalize(dir).map_err(|e| Error::unreadable(dir, "cannot open", &e))?;
    let entries = listing(&root).map_err(|e| Error::unreadable(dir, "cannot list", &e))?;
    let mut verdict = Verdict::default();
    let problems = &mut verdict.problems;
    for name in entries.iter().filter(|n| !n.starts_with('.')) {
        let shown = dir.join(name);
        let line_dir = match fs::canonicalize(root.join(name)) {
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
        verdict.lines += 1;
        let ctx = Line {
            name,
            dir: &line_dir,
            shown: &shown,
            kind,
            allowed,
            identity,
            now,
        };
        if let Some(good) = ctx.check(problems) {
            verdict.good.push(good);
        }
    }
    Ok(verdict)
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
    kind: Kind,
    allowed: &'a [Signer],
    identity: Option<&'a str>,
    now: i64,
}

impl Line<'_> {
    /// Check the directory; push one line per problem. The manifest is
    /// parsed only once its signature holds, and files are checked only
    /// against a signed manifest.
    fn check(&self, problems: &mut Vec<String>) -> Option<Received> {
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
        let (signed, signer) = match self.signed(&text, &sig) {
            Ok(signed) => signed,
            Err((part, e)) => {
                problems.push(format!("{}: {e}", at(part.file())));
                return None;
            }
        };
        let before = problems.len();
        if signed.line() != self.name {
            problems.push(format!(
                "{}: is the manifest of line '{}'",
                at(MANIFEST),
                signed.line()
            ));
        }
        let mut files = Vec::new();
        for (file, want) in signed.files() {
            match read(file) {
                // Before anything else: a key is refused even when signed.
                Ok(data) => match secret::private_key(&data) {
                    Some(label) => problems.push(format!(
                        "{}: refused: holds a private key (PEM {label})",
                        at(file)
                    )),
                    None if manifest::digest(&data) != *want => {
                        problems.push(format!("{}: SHA-256 differs from the manifest", at(file)))
                    }
                    None => match &signed {
                        Signed::Outbox(o) => match o.check_csr(file, &data) {
                            Ok(()) => files.push((file.clone(), data)),
                            Err(e) => problems.push(format!("{}: {e}", at(file))),
                        },
                        Signed::Pub(_) => files.push((file.clone(), data)),
                    },
                },
                Err(e) => problems.push(e),
            }
        }
        let listed: BTreeSet<&str> = signed
            .files()
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
        (problems.len() == before).then(|| Received {
            name: self.name.to_string(),
            manifest: text,
            signature: sig,
            files,
            signed,
            signer: signer.clone(),
        })
    }

    /// The signature checked, then the manifest of this kind parsed.
    fn signed(&self, text: &[u8], sig: &[u8]) -> Result<(Signed, &Signer), (Part, String)> {
        match self.kind {
            Kind::Pub => sshsig::signed(text, sig, self.allowed, self.identity, self.now)
                .map(|(m, s)| (Signed::Pub(m), s)),
            Kind::Outbox => {
                let sig = sshsig::parse_signature(sig).map_err(|e| (Part::Signature, e))?;
                let signer = sshsig::verify(text, &sig, self.allowed, self.identity, self.now)
                    .map_err(|e| (Part::Signature, e))?;
                let o = Outbox::parse(text).map_err(|e| (Part::Manifest, e))?;
                Ok((Signed::Outbox(o), signer))
            }
        }
    }
}
