//! The `[pull]` table of a receiving site's configuration: which kind of
//! signed tree it receives, the transport command that fills the staging
//! directory, where the verified lines go, and whom it trusts. Validated
//! into [`Pull`]; the rules between paths reuse checks.rs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use certdrop_core::duration;
use certdrop_core::tomlcfg::Source;
use serde::Deserialize;
use toml::Spanned;

use super::checks;

/// How long the transport may run before its process group is killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// The placeholder in the transport's arguments replaced by the staging
/// directory.
pub const STAGING: &str = "{staging}";

/// `[pull]` as serde reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPull {
    kind: Spanned<String>,
    transport: Spanned<Vec<String>>,
    staging: Spanned<PathBuf>,
    into: Spanned<PathBuf>,
    allowed_signers: Spanned<PathBuf>,
    identity: Option<Spanned<String>>,
    // Text, parsed here, so that an error names its line.
    timeout: Option<Spanned<String>>,
}

/// What a pull receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A publication tree: `certdrop-manifest 1` per line.
    Pub,
    /// A service site's CSR outbox: `certdrop-outbox 1` per line.
    Outbox,
}

impl Kind {
    /// The word in the configuration.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Pub => "pub",
            Kind::Outbox => "outbox",
        }
    }
}

/// The validated `[pull]` table.
#[derive(Debug, Clone)]
pub struct Pull {
    /// What is received.
    pub kind: Kind,
    /// The transport: program and arguments, `{staging}` not yet replaced.
    pub transport: Vec<String>,
    /// The transport's directory: never trusted, kept between runs.
    pub staging: PathBuf,
    /// The local tree the verified lines are installed into.
    pub into: PathBuf,
    /// ssh-keygen(1) allowed_signers file.
    pub allowed_signers: PathBuf,
    /// Required principal, as `ssh-keygen -Y verify -I`.
    pub identity: Option<String>,
    /// The transport's time limit.
    pub timeout: Duration,
}

impl Pull {
    /// The transport's arguments with `{staging}` replaced.
    pub fn command(&self) -> Vec<String> {
        let staging = self.staging.to_string_lossy();
        self.transport
            .iter()
            .map(|a| a.replace(STAGING, &staging))
            .collect()
    }
}

/// Validate `[pull]`: a known kind, a transport with a program, staging
/// and into apart, an identity without blanks, a timeout above zero.
pub(super) fn validate(src: &Source, raw: &RawPull) -> Result<Pull, String> {
    let err = |span: std::ops::Range<usize>, key: &str, why: &str| src.err(span, key, why);
    let kind = match raw.kind.get_ref().as_str() {
        "pub" => Kind::Pub,
        "outbox" => Kind::Outbox,
        other => {
            return Err(err(
                raw.kind.span(),
                "pull.kind",
                &format!("'{other}': expected \"pub\" or \"outbox\""),
            ))
        }
    };
    let transport = raw.transport.get_ref().clone();
    match transport.first() {
        None => {
            return Err(err(
                raw.transport.span(),
                "pull.transport",
                "a program is needed (e.g. [\"rsync\", \"-a\", \"--delete\", \"SRC/\", \"{staging}/\"])",
            ))
        }
        Some(p) if p.is_empty() || p.contains(STAGING) => {
            return Err(err(
                raw.transport.span(),
                "pull.transport",
                &format!("'{p}' is not a program"),
            ))
        }
        Some(_) => {}
    }
    let staging = src.abs(raw.staging.get_ref());
    if staging.to_str().is_none() {
        return Err(err(raw.staging.span(), "pull.staging", "not UTF-8"));
    }
    checks::apart(src, &raw.into, "pull.into", &raw.staging, "pull.staging")?;
    let identity = match &raw.identity {
        None => None,
        Some(id) => {
            let text = id.get_ref();
            if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(err(
                    id.span(),
                    "pull.identity",
                    &format!("'{text}': a principal without blanks is needed"),
                ));
            }
            Some(text.clone())
        }
    };
    let timeout = match &raw.timeout {
        None => DEFAULT_TIMEOUT,
        Some(t) => match duration::parse(t.get_ref()) {
            Ok(d) if d.is_zero() => {
                return Err(err(t.span(), "pull.timeout", "must be more than 0s"))
            }
            Ok(d) => d,
            Err(e) => return Err(err(t.span(), "pull.timeout", &e)),
        },
    };
    Ok(Pull {
        kind,
        transport,
        staging,
        into: src.abs(raw.into.get_ref()),
        allowed_signers: src.abs(raw.allowed_signers.get_ref()),
        identity,
        timeout,
    })
}

/// Where the transport's program is: a path as written (relative to the
/// working directory, as exec(3) takes it), or the first match on `PATH`.
pub fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return runnable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| runnable(p))
}

#[cfg(test)]
mod tests {
    use super::super::{Config, PullConfig};
    use super::*;

    const PULL: &str = r#"
keep = 4
[pull]
kind = "pub"
transport = ["rsync", "-a", "--delete", "rsync://192.0.2.1/pub/", "{staging}/"]
staging = "staging/pub"
into = "/var/db/certdrop/pub"
allowed_signers = "allowed_signers"
identity = "publish@sign"
timeout = "30s"
"#;

    fn parse(text: &str) -> Result<PullConfig, String> {
        PullConfig::parse(Path::new("/etc/certdrop/pull.toml"), text)
    }

    #[test]
    fn reads_a_pull_only_file() {
        let c = parse(PULL).expect("parse");
        let p = &c.pull;
        assert_eq!(p.kind, Kind::Pub);
        assert_eq!(p.staging, Path::new("/etc/certdrop/staging/pub"));
        assert_eq!(p.into, Path::new("/var/db/certdrop/pub"));
        assert_eq!(
            p.allowed_signers,
            Path::new("/etc/certdrop/allowed_signers")
        );
        assert_eq!(p.identity.as_deref(), Some("publish@sign"));
        assert_eq!(p.timeout, Duration::from_secs(30));
        assert_eq!(c.keep, 4);
        assert_eq!(
            p.command().last().map(String::as_str),
            Some("/etc/certdrop/staging/pub/")
        );
        let c = parse(&PULL.replace("timeout = \"30s\"\n", "")).expect("default");
        assert_eq!(c.pull.timeout, DEFAULT_TIMEOUT);
        // `run` on such a file says that it only pulls.
        let e = Config::parse(Path::new("/etc/certdrop/pull.toml"), PULL).expect_err("run");
        assert_eq!(
            e,
            "/etc/certdrop/pull.toml: holds only [pull]: this site only pulls (certdrop-publish pull)"
        );
    }

    #[test]
    fn refuses_what_cannot_work() {
        for (from, to, want) in [
            ("\"pub\"", "\"zone\"", ":4: pull.kind: 'zone': expected"),
            ("[\"rsync\",", "[\"\",", ":5: pull.transport: '' is not a program"),
            (
                "\"/var/db/certdrop/pub\"",
                "\"staging\"",
                ":7: pull.into: /etc/certdrop/staging and pull.staging (/etc/certdrop/staging/pub) must not contain each other",
            ),
            (
                "\"staging/pub\"",
                "\"/var/db/certdrop/pub/s\"",
                ":7: pull.into: /var/db/certdrop/pub and pull.staging",
            ),
            ("publish@sign", "a b", ":9: pull.identity: 'a b'"),
            ("\"30s\"", "\"0s\"", ":10: pull.timeout: must be more than 0s"),
            ("\"30s\"", "\"5x\"", ":10: pull.timeout: '5x': unknown unit"),
            ("\"30s\"", "30", ":10: pull.timeout: "),
            ("identity", "colour = 1\nidentity", ":9: pull.colour: unknown key"),
        ] {
            let e = parse(&PULL.replace(from, to)).expect_err(want);
            assert!(e.contains(want), "{want}: {e}");
        }
        let e = parse("keep = 3\n").expect_err("no pull");
        assert_eq!(e, "/etc/certdrop/pull.toml: no [pull] table");
        let e = parse(&PULL.replace("transport = [\"rsync\", \"-a\", \"--delete\", \"rsync://192.0.2.1/pub/\", \"{staging}/\"]", "transport = []"))
            .expect_err("empty");
        assert!(e.contains(":5: pull.transport: a program is needed"), "{e}");
    }

    #[test]
    fn finds_programs_on_path_or_as_paths() {
        assert!(find_program("sh").is_some());
        assert_eq!(find_program("/bin/sh"), Some(PathBuf::from("/bin/sh")));
        assert_eq!(find_program("certdrop-no-such-program"), None);
        assert_eq!(find_program("/etc/passwd"), None);
    }
}
