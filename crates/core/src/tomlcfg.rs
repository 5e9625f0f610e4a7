//! Configuration files in TOML, read the same way by every binary: serde
//! with unknown keys rejected by the caller's types, and every error turned
//! into `file:line: key: why` from the byte span TOML reports.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A configuration file's text and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The file, for messages and to resolve relative paths.
    pub path: &'a Path,
    /// Its text.
    pub text: &'a str,
}

/// Read a configuration file. A file that cannot be read is the
/// configuration's failure (78, `file: cannot read: cause`), a missing one
/// too: a program cannot know what to do without it.
pub fn read(path: &Path) -> Result<String, crate::error::Error> {
    std::fs::read_to_string(path)
        .map_err(|e| crate::error::Error::config(format!("{}: cannot read: {e}", path.display())))
}

impl<'a> Source<'a> {
    /// The 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    /// Deserialize the whole file; a syntax or type error names file and line.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        toml::from_str(self.text).map_err(|e| {
            let line = e.span().map(|s| self.line(s.start)).unwrap_or(0);
            format!("{}:{line}: {}", self.path.display(), e.message().trim_end())
        })
    }

    /// `file:line: key: why` for a value at `span`.
    pub fn err(&self, span: Range<usize>, key: &str, why: &str) -> String {
        format!(
            "{}:{}: {key}: {why}",
            self.path.display(),
            self.line(span.start)
        )
    }

    /// The file's directory (`.` for a bare file name).
    pub fn dir(&self) -> &'a Path {
        self.path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }

    /// `p` made absolute against the file's directory.
    pub fn abs(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            return p.to_path_buf();
        }
        self.dir().join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct T {
        #[allow(dead_code)]
        a: u32,
    }

    #[test]
    fn errors_name_file_and_line() {
        let src = Source {
            path: Path::new("/etc/x.toml"),
            text: "\n\nb = 1\n",
        };
        let e = src.parse::<T>().expect_err("unknown key");
        assert!(e.starts_with("/etc/x.toml:3: unknown field `b`"), "{e}");
        assert_eq!(src.err(2..3, "k", "bad"), "/etc/x.toml:3: k: bad");
        assert_eq!(src.abs(Path::new("certs")), Path::new("/etc/certs"));
        let rel = Source {
            path: Path::new("x.toml"),
            text: "",
        };
        assert_eq!(rel.abs(Path::new("certs")), Path::new("./certs"));
    }
}
