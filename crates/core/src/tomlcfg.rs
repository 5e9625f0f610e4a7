//! Configuration files in TOML, read the same way by every binary: serde
//! with unknown keys rejected by the caller's types, and every error turned
//! into `file:line: key: why` from the byte span TOML reports.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use humane::Retold;

mod humane;

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

    /// Deserialize the whole file; a syntax or type error names file,
    /// line and key, in words (`expected a whole number`), not in the
    /// Rust types serde knows them by (`expected usize`).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        toml::from_str(self.text).map_err(|e| {
            let span = e.span();
            let line = span.as_ref().map(|s| self.line(s.start)).unwrap_or(0);
            let message = e.message().trim_end();
            let text = match humane::retell(message) {
                Retold::Key(key, why) => {
                    let table = span.map(|s| self.table_at(s.start)).unwrap_or_default();
                    format!("{}{key}: {why}", dotted(&table))
                }
                Retold::Value(why) => match span.and_then(|s| self.key_at(s.start)) {
                    Some(key) => format!("{key}: {why}"),
                    None => why,
                },
                Retold::Syntax => message.to_string(),
            };
            format!("{}:{line}: {text}", self.path.display())
        })
    }

    /// The dotted key whose value starts at `offset` (`renew.concurrency`,
    /// `line.eab.kid`): the bare or quoted key before the nearest `=` on
    /// the value's line, inside the nearest table header above it.
    fn key_at(&self, offset: usize) -> Option<String> {
        let before = &self.text[..offset.min(self.text.len())];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        // Scan the value's line up to it: keys before `=`, inline tables
        // entered at `{` (named by their key) and left at `}`, strings
        // skipped, so `eab = { kid = 5 }` names `eab.kid`.
        let mut tables: Vec<String> = Vec::new();
        let (mut token, mut key) = (String::new(), String::new());
        let mut quote: Option<char> = None;
        let mut arrays = 0usize;
        for c in before[line_start..].chars() {
            match (quote, c) {
                // Inside quotes: part of a quoted key, or a value skipped.
                (Some(q), c) => {
                    if c == q {
                        quote = None;
                    }
                    if key.is_empty() {
                        token.push(c);
                    }
                }
                (None, '"' | '\'') => {
                    quote = Some(c);
                    if key.is_empty() {
                        token.push(c);
                    }
                }
                (None, '=') => key = key_text(&std::mem::take(&mut token)),
                (None, '{') => {
                    tables.push(std::mem::take(&mut key));
                    token.clear();
                }
                (None, '}') => {
                    tables.pop();
                    key.clear();
                    token.clear();
                }
                // An array's elements are its key's values.
                (None, '[') if !key.is_empty() => arrays += 1,
                (None, ']') if arrays > 0 => arrays -= 1,
                (None, ',') if arrays > 0 => {}
                (None, ',') => {
                    key.clear();
                    token.clear();
                }
                (None, c) if key.is_empty() => token.push(c),
                (None, _) => {}
            }
        }
        if key.is_empty() {
            return None;
        }
        let mut out = dotted(&self.table_at(line_start));
        for p in tables.iter().filter(|p| !p.is_empty()) {
            out.push_str(p);
            out.push('.');
        }
        out.push_str(&key);
        Some(out)
    }

    /// The name of the table header (`[renew]`, `[[line]]`) above
    /// `offset`, or "" at the top level.
    fn table_at(&self, offset: usize) -> String {
        self.text[..offset.min(self.text.len())]
            .lines()
            .rev()
            .map(str::trim_start)
            .find(|l| l.starts_with('['))
            .map(|l| {
                let inner = l.trim_start_matches('[');
                let end = inner.find(']').unwrap_or(inner.len());
                key_text(&inner[..end])
            })
            .unwrap_or_default()
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

/// Deserialize a table taken out of a file (the spans are gone, so the
/// caller adds file and line): the error is `key: why` in words. serde
/// names the key when it is missing or unknown; for a value of the wrong
/// type, the key is found by deserializing each entry alone.
pub fn from_table<T: DeserializeOwned>(table: toml::Table) -> Result<T, String> {
    let err = match toml::Value::Table(table.clone()).try_into::<T>() {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let message = err.message().trim_end();
    match humane::retell(message) {
        Retold::Key(key, why) => Err(format!("{key}: {why}")),
        Retold::Value(why) => {
            let culprit = table.into_iter().find(|(k, v)| {
                let alone = toml::Table::from_iter([(k.clone(), v.clone())]);
                toml::Value::Table(alone)
                    .try_into::<T>()
                    .err()
                    .is_some_and(|e| !matches!(humane::retell(e.message()), Retold::Key(..)))
            });
            match culprit {
                Some((key, _)) => Err(format!("{key}: {why}")),
                None => Err(why),
            }
        }
        Retold::Syntax => Err(message.to_string()),
    }
}

/// A key as written (`"a b"`, `a . b`), without quotes and spaces.
fn key_text(raw: &str) -> String {
    raw.split('.')
        .map(|k| k.trim().trim_matches(|c| c == '"' || c == '\''))
        .collect::<Vec<_>>()
        .join(".")
}

/// `table.` for a table's name, "" for the top level.
fn dotted(table: &str) -> String {
    match table {
        "" => String::new(),
        t => format!("{t}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u32,
        #[serde(default)]
        names: Vec<String>,
        renew: Option<Renew>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Renew {
        concurrency: Option<usize>,
        check: Option<bool>,
        eab: Option<Eab>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Eab {
        kid: String,
    }

    fn error(text: &str) -> String {
        let src = Source {
            path: Path::new("/etc/x.toml"),
            text,
        };
        src.parse::<T>().expect_err("a bad file")
    }

    #[test]
    fn errors_name_file_line_and_key() {
        assert_eq!(
            error("\n\nb = 1\n"),
            "/etc/x.toml:3: b: unknown key (expected one of: a, names, renew)"
        );
        assert_eq!(error("# a\n"), "/etc/x.toml:1: a: missing");
        assert_eq!(
            error("a = \"eight\"\n"),
            "/etc/x.toml:1: a: expected a whole number from 0 to 4294967295, not \"eight\""
        );
        assert_eq!(
            error("a = 1\nnames = [\"x\", 5]\n"),
            "/etc/x.toml:2: names: expected a quoted string, not 5"
        );
        assert_eq!(
            error("a = 1\n[renew]\nconcurrency = -1\n"),
            "/etc/x.toml:3: renew.concurrency: -1 is out of range: expected a whole number, 0 or more"
        );
        assert_eq!(
            error("a = 1\n[renew]\ncheck = \"yes\"\n"),
            "/etc/x.toml:3: renew.check: expected true or false, not \"yes\""
        );
        assert_eq!(
            error("a = 1\n[renew]\neab = { kid = 5 }\n"),
            "/etc/x.toml:3: renew.eab.kid: expected a quoted string, not 5"
        );
        assert_eq!(
            error("a = 1\n[renew]\n\"check\" = 7\n"),
            "/etc/x.toml:3: renew.check: expected true or false, not 7"
        );
        // TOML syntax is toml's to tell.
        assert!(error("a = = 1\n").starts_with("/etc/x.toml:1: "));
    }

    #[test]
    fn paths_resolve_against_the_file() {
        let src = Source {
            path: Path::new("/etc/x.toml"),
            text: "",
        };
        assert_eq!(src.err(0..0, "k", "bad"), "/etc/x.toml:1: k: bad");
        assert_eq!(src.abs(Path::new("certs")), Path::new("/etc/certs"));
        let rel = Source {
            path: Path::new("x.toml"),
            text: "",
        };
        assert_eq!(rel.abs(Path::new("certs")), Path::new("./certs"));
    }
}
