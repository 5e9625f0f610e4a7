//! publish.toml: raw structures as serde reads them, kept apart from the
//! validated [`Config`]. Unknown keys are rejected; errors name file, line
//! and key. Relative paths are relative to the file. There is deliberately
//! no key for keys/: the publisher is never told where secrets live. The
//! rules between keys (which paths may hold which) are in checks.rs.
//!
//! A receiving site's file may hold a `[pull]` table (pull.rs) beside the
//! publishing keys, or alone: then it configures only `pull`.

mod checks;
pub mod pull;

use std::path::{Path, PathBuf};
use std::time::Duration;

use certdrop_core::error::Error;
use certdrop_core::{duration, name};
use serde::Deserialize;
use toml::Spanned;

pub use pull::{Kind, Pull};

/// Versions of a line kept in pub/.v/, the visible one included: the
/// previous ones stay for readers in flight and for a look back.
pub const DEFAULT_KEEP: usize = 3;
/// Fewest versions `keep` may ask for: the visible one and the one before,
/// which a reader may still be reading when the link switches.
pub const MIN_KEEP: usize = 2;
/// How long a run waits for another run's lock on pub/.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    certs: Option<Spanned<PathBuf>>,
    #[serde(rename = "pub")]
    pub_dir: Option<Spanned<PathBuf>>,
    signing_key: Option<Spanned<PathBuf>>,
    keep: Option<Spanned<i64>>,
    #[serde(default, with = "duration::serde_text_opt")]
    lock_wait: Option<Duration>,
    /// Accepted by the parser only to be refused with a clear message.
    keys: Option<Spanned<toml::Value>>,
    #[serde(default, rename = "line")]
    lines: Vec<RawLine>,
    pull: Option<pull::RawPull>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    name: Spanned<String>,
    names: Spanned<Vec<String>>,
}

/// One certificate line to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line's name: `certs/<name>` is read, `pub/<name>` written.
    pub name: String,
    /// The names its certificate must cover, exactly: lowercase, sorted,
    /// no duplicates (compared as a set with the leaf's dNSNames).
    pub names: Vec<String>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// The certificate store's public tree, read-only.
    pub certs: PathBuf,
    /// The publication tree, written.
    pub pub_dir: PathBuf,
    /// OpenSSH ed25519 private key that signs manifests.
    pub signing_key: PathBuf,
    /// Versions kept per line, the visible one included.
    pub keep: usize,
    /// Wait for the lock on pub/.
    pub lock_wait: Duration,
    /// Lines, in file order.
    pub lines: Vec<Line>,
}

impl Config {
    /// Read and validate; every failure is a configuration error (78),
    /// a missing file too: the file is the administrator's, not an input.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = certdrop_core::tomlcfg::read(path)?;
        Config::parse(path, &text).map_err(Error::config)
    }

    /// Validate text; `path` for messages and relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, String> {
        let src = certdrop_core::tomlcfg::Source { path, text };
        let raw: RawConfig = src.parse()?;
        let err = |span: std::ops::Range<usize>, key: &str, why: &str| src.err(span, key, why);
        let (certs, pub_dir, signing_key) = match (&raw.certs, &raw.pub_dir, &raw.signing_key) {
            (Some(c), Some(p), Some(k)) => (c, p, k),
            (None, None, None) if raw.pull.is_some() && raw.lines.is_empty() => {
                return Err(format!(
                    "{}: holds only [pull]: this site only pulls (certdrop-publish pull)",
                    path.display()
                ))
            }
            (c, p, _) => {
                let key = match (c, p) {
                    (None, _) => "certs",
                    (_, None) => "pub",
                    _ => "signing_key",
                };
                return Err(format!("{}:1: {key}: missing", path.display()));
            }
        };
        if let Some(keys) = &raw.keys {
            return Err(err(
                keys.span(),
                "keys",
                "certdrop-publish never reads private keys: remove this key",
            ));
        }
        let abs = |p: &Path| src.abs(p);
        let keep = keep(&src, raw.keep.as_ref())?;
        checks::paths(&src, certs, pub_dir, signing_key)?;
        let mut lines: Vec<Line> = Vec::new();
        for l in raw.lines {
            let lname = l.name.get_ref().clone();
            name::line_name(&lname).map_err(|why| err(l.name.span(), "line.name", &why))?;
            if lines.iter().any(|o| o.name == lname) {
                return Err(err(
                    l.name.span(),
                    "line.name",
                    &format!("'{lname}' defined twice"),
                ));
            }
            let key = format!("line '{lname}': names");
            if l.names.get_ref().is_empty() {
                return Err(err(l.names.span(), &key, "at least one name is needed"));
            }
            let mut names = Vec::new();
            for n in l.names.get_ref() {
                let n = name::identifier(n, true).map_err(|why| err(l.names.span(), &key, &why))?;
                if names.contains(&n) {
                    return Err(err(l.names.span(), &key, &format!("'{n}' listed twice")));
                }
                names.push(n);
            }
            names.sort();
            lines.push(Line { name: lname, names });
        }
        if lines.is_empty() {
            return Err(format!("{}: no [[line]]", path.display()));
        }
        Ok(Config {
            path: path.to_path_buf(),
            certs: abs(certs.get_ref()),
            pub_dir: abs(pub_dir.get_ref()),
            signing_key: abs(signing_key.get_ref()),
            keep,
            lock_wait: raw.lock_wait.unwrap_or(DEFAULT_LOCK_WAIT),
            lines,
        })
    }
}

/// Whether the file at `path` configures only `pull` (a `[pull]` table
/// and none of the publishing keys), so that `-n` alone checks that. Any
/// failure to read or parse it is `false`: the caller's load then says why.
pub fn only_pulls(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let src = certdrop_core::tomlcfg::Source { path, text: &text };
    src.parse::<RawConfig>().is_ok_and(|raw| {
        raw.pull.is_some()
            && raw.certs.is_none()
            && raw.pub_dir.is_none()
            && raw.signing_key.is_none()
            && raw.lines.is_empty()
    })
}

/// A site's `[pull]` table with the top-level keys a pull shares with
/// `run` (`keep`, `lock_wait`).
#[derive(Debug, Clone)]
pub struct PullConfig {
    /// The file it came from.
    pub path: PathBuf,
    /// The `[pull]` table.
    pub pull: Pull,
    /// Versions kept per line in `into`, the visible one included.
    pub keep: usize,
    /// Wait for the lock on `into`.
    pub lock_wait: Duration,
}

impl PullConfig {
    /// Read and validate the `[pull]` table (78 for any failure, a file
    /// without one too).
    pub fn load(path: &Path) -> Result<PullConfig, Error> {
        let text = certdrop_core::tomlcfg::read(path)?;
        PullConfig::parse(path, &text).map_err(Error::config)
    }

    /// Validate text; `path` for messages and relative paths. Only the
    /// `[pull]` table and `keep`/`lock_wait` are checked here: the
    /// publishing keys are `run`'s.
    pub fn parse(path: &Path, text: &str) -> Result<PullConfig, String> {
        let src = certdrop_core::tomlcfg::Source { path, text };
        let raw: RawConfig = src.parse()?;
        let Some(table) = &raw.pull else {
            return Err(format!("{}: no [pull] table", path.display()));
        };
        let pull = pull::validate(&src, table)?;
        Ok(PullConfig {
            path: path.to_path_buf(),
            pull,
            keep: keep(&src, raw.keep.as_ref())?,
            lock_wait: raw.lock_wait.unwrap_or(DEFAULT_LOCK_WAIT),
        })
    }
}

/// `keep`, at least [`MIN_KEEP`].
fn keep(src: &certdrop_core::tomlcfg::Source, k: Option<&Spanned<i64>>) -> Result<usize, String> {
    match k {
        None => Ok(DEFAULT_KEEP),
        Some(k) => match usize::try_from(*k.get_ref()) {
            Ok(n) if n >= MIN_KEEP => Ok(n),
            _ => Err(src.err(
                k.span(),
                "keep",
                &format!("{}: must be at least {MIN_KEEP}", k.get_ref()),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
certs = "certs"
pub = "/srv/pub"
signing_key = "publish_ed25519"

[[line]]
name = "www"
names = ["WWW.example.org", "*.example.org"]
"#;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("/etc/certdrop/publish.toml"), text)
    }

    #[test]
    fn reads_defaults_and_resolves_paths() {
        let c = parse(GOOD).expect("parse");
        assert_eq!(c.certs, Path::new("/etc/certdrop/certs"));
        assert_eq!(c.pub_dir, Path::new("/srv/pub"));
        assert_eq!(c.signing_key, Path::new("/etc/certdrop/publish_ed25519"));
        assert_eq!(c.keep, DEFAULT_KEEP);
        assert_eq!(c.lock_wait, DEFAULT_LOCK_WAIT);
        assert_eq!(
            c.lines,
            vec![Line {
                name: "www".into(),
                names: vec!["*.example.org".into(), "www.example.org".into()],
            }]
        );
    }

    #[test]
    fn a_keys_path_is_refused() {
        let e = parse(&format!("keys = \"keys\"\n{GOOD}")).expect_err("keys");
        assert_eq!(
            e,
            "/etc/certdrop/publish.toml:1: keys: certdrop-publish never reads private keys: remove this key"
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = parse(&GOOD.replace("\"*.example.org\"", "\"a..b\"")).expect_err("name");
        assert!(
            e.starts_with("/etc/certdrop/publish.toml:8: line 'www': names:"),
            "{e}"
        );
        let e = parse(&format!("{GOOD}colour = 1\n")).expect_err("unknown");
        assert!(e.contains("publish.toml:9:") && e.contains("colour"), "{e}");
        let e = parse(&GOOD.replace("signing_key", "keep = 1\nsigning_key")).expect_err("keep");
        assert!(
            e.starts_with("/etc/certdrop/publish.toml:4: keep: 1: must be at least 2"),
            "{e}"
        );
        let e = parse(&format!(
            "{GOOD}[[line]]\nname = \"www\"\nnames = [\"x.org\"]\n"
        ))
        .expect_err("twice");
        assert!(e.contains(":10: line.name: 'www' defined twice"), "{e}");
        let e = parse(&GOOD.replace("\"/srv/pub\"", "\"certs/pub\"")).expect_err("nested");
        assert_eq!(
            e,
            "/etc/certdrop/publish.toml:3: pub: /etc/certdrop/certs/pub and certs (/etc/certdrop/certs) must not contain each other"
        );
        let e = parse(&GOOD.replace("\"publish_ed25519\"", "\"/srv/pub/k\"")).expect_err("key");
        assert!(
            e.starts_with(
                "/etc/certdrop/publish.toml:4: signing_key: /srv/pub/k lies inside pub (/srv/pub)"
            ),
            "{e}"
        );
    }
}
