//! Which line a discovered file belongs to. A service's own configuration
//! (`nginx -T`, ...) lists every certificate it loads, and one nginx often
//! serves several lines: each file that names `pub/<line>/` (or a version
//! `pub/.v/<line>.<stamp>/`) belongs to that line, and a file that another
//! service of this configuration installs belongs to that service. A
//! service keeps its own files and those of no line (checked against its
//! manifest, src/manifest.rs), and leaves another service's alone; a file
//! of a line no service here has is refused with the way out: one
//! `[[service]]` per line (78, the site's configuration must change).

use std::path::Path;

use certdrop_core::error::{Error, Result};

use crate::config::{Config, Service};
use crate::definition::Pair;

/// Whose a discovered file is.
#[derive(Debug, PartialEq, Eq)]
enum Owner<'a> {
    /// This service's, or of no line: this service checks it.
    Ours,
    /// Another service's of this configuration: it checks it.
    Other(&'a str),
    /// A line no service of this configuration has.
    Nobody(String),
}

/// The pairs of `found` that `svc` (which has a line) checks and deploys;
/// a pair of a line no service has is a configuration error (78).
pub fn assign(config: &Config, svc: &Service, found: Vec<Pair>) -> Result<Vec<Pair>> {
    let Some(line) = svc.line.as_deref() else {
        return Ok(found);
    };
    let mut mine = Vec::new();
    for pair in found {
        match owner(config, svc, line, &pair.cert) {
            Owner::Ours => mine.push(pair),
            Owner::Other(_) => {}
            Owner::Nobody(other) => {
                return Err(Error::config(format!(
                    "{}: is line '{other}', not '{line}': the service serves more than one line; \
                     give each its own [[service]] (line = \"{other}\", its names and post-flight, \
                     the same definition), and each deploys only its own line's files",
                    pair.cert.display()
                )))
            }
        }
    }
    if mine.is_empty() {
        return Err(Error::config(format!(
            "no certificate file of line '{line}' found (the files found are other services')"
        )));
    }
    Ok(mine)
}

/// The owner of `file` as seen by `svc` (of line `line`).
fn owner<'a>(config: &'a Config, svc: &Service, line: &str, file: &Path) -> Owner<'a> {
    let named = published_line(&config.pub_dir, file).or_else(|| {
        let real = std::fs::canonicalize(&config.pub_dir).ok()?;
        published_line(&real, file)
    });
    if let Some(l) = named {
        if l == line {
            return Owner::Ours;
        }
        return match config
            .services
            .iter()
            .find(|s| s.line.as_deref() == Some(&*l))
        {
            Some(s) => Owner::Other(&s.name),
            None => Owner::Nobody(l),
        };
    }
    if svc.install.iter().any(|i| i.to == file) {
        return Owner::Ours;
    }
    match config
        .services
        .iter()
        .find(|s| s.name != svc.name && s.install.iter().any(|i| i.to == file))
    {
        Some(s) => Owner::Other(&s.name),
        None => Owner::Ours,
    }
}

/// The line a path under `pub_dir` names: `<line>/...` or
/// `.v/<line>.<stamp>/...`.
fn published_line(pub_dir: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(pub_dir).ok()?;
    let mut parts = rel.components().map(|c| c.as_os_str().to_str());
    let first = parts.next()??;
    let name = if first == ".v" {
        parts.next()??.rsplit_once('.')?.0
    } else {
        first
    };
    Some(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_names_its_line() {
        let p = Path::new("/pub");
        let line = |f: &str| published_line(p, Path::new(f));
        assert_eq!(line("/pub/www/fullchain.pem").as_deref(), Some("www"));
        assert_eq!(
            line("/pub/.v/web.20261124T000000Z/cert.pem").as_deref(),
            Some("web")
        );
        assert_eq!(line("/etc/nginx/www.pem"), None);
        assert_eq!(line("/public/www/cert.pem"), None);
    }
}
