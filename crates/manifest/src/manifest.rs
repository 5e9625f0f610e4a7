//! The manifest of one published line: plain text, one field per line,
//! signed as a whole ([`crate::sshsig`]). Format version 1:
//!
//! ```text
//! certdrop-manifest 1
//! line www
//! names example.org *.example.org
//! serial 0A:1B:2C
//! not-before 2026-11-24T02:49:34Z
//! not-after 2027-02-22T02:49:33Z
//! published 2026-11-24T03:00:00Z
//! sha256 <64 lowercase hex>  cert.pem
//! sha256 <64 lowercase hex>  chain.pem
//! sha256 <64 lowercase hex>  fullchain.pem
//! sha256 <64 lowercase hex>  pubkey.pem
//! ```
//!
//! Every line is `<keyword> <value>` ending in LF (no CR, no blank lines,
//! no comments), the keywords in this order, each once, `sha256` at least
//! once. A `sha256` value is laid out as sha256sum(1) prints it (digest,
//! two spaces, file name), so `sed -n 's/^sha256 //p' manifest | sha256sum
//! -c` checks the files by hand. File names are plain names in the line's
//! directory (`[A-Za-z0-9._-]`, not starting with a dot, not `manifest` or
//! `manifest.sig`), and only the four public files certdrop-publish writes
//! ([`PUB_FILES`]): a pub/ line never carries anything else, a key least of
//! all. A reader rejects anything else.

use sha2::{Digest, Sha256};

/// First line of every manifest: format name and version.
pub const MAGIC: &str = "certdrop-manifest 1";
/// File name of the manifest in a line's directory.
pub const MANIFEST: &str = "manifest";
/// File name of its SSHSIG signature.
pub const SIGNATURE: &str = "manifest.sig";

/// The files a pub/ line may list: the public files of certdrop-core's
/// store, which `certdrop-publish run` copies (and nothing else).
pub const PUB_FILES: [&str; 4] = [
    certdrop_core::store::CERT,
    certdrop_core::store::CHAIN,
    certdrop_core::store::FULLCHAIN,
    certdrop_core::store::PUBKEY,
];

/// One line's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The certificate line.
    pub line: String,
    /// The leaf's names, lowercase, sorted.
    pub names: Vec<String>,
    /// The leaf's serial, `0A:1B:..`.
    pub serial: String,
    /// notBefore, RFC 3339 UTC.
    pub not_before: String,
    /// notAfter, RFC 3339 UTC.
    pub not_after: String,
    /// When it was published, RFC 3339 UTC.
    pub published: String,
    /// File names and their SHA-256 (FIPS 180-4).
    pub files: Vec<(String, [u8; 32])>,
}

impl Manifest {
    /// The text form (module header).
    pub fn render(&self) -> String {
        let mut out = format!(
            "{MAGIC}\nline {}\nnames {}\nserial {}\nnot-before {}\nnot-after {}\npublished {}\n",
            self.line,
            self.names.join(" "),
            self.serial,
            self.not_before,
            self.not_after,
            self.published
        );
        for (name, digest) in &self.files {
            out.push_str(&format!(
                "sha256 {}  {name}\n",
                certdrop_core::certinfo::hex(digest)
            ));
        }
        out
    }

    /// Parse and validate the text form.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let mut r = Reader::new(bytes, "certdrop-manifest")?;
        let line = r.line()?;
        let names = r.names()?;
        let mut field = |key: &str| r.field(key);
        let serial = field("serial")?;
        let not_before = timestamp(field("not-before")?)?;
        let not_after = timestamp(field("not-after")?)?;
        let published = timestamp(field("published")?)?;
        let files = r.files(|name| {
            if PUB_FILES.contains(&name) {
                Ok(())
            } else {
                Err(format!(
                    "'{name}': a pub/ manifest lists only {}",
                    PUB_FILES.join(", ")
                ))
            }
        })?;
        if files.is_empty() {
            return Err("lists no file".into());
        }
        Ok(Manifest {
            line,
            names,
            serial,
            not_before,
            not_after,
            published,
            files,
        })
    }
}

/// The grammar both manifest formats share (module header): a magic
/// line with the format version, `<keyword> <value>` fields in a fixed
/// order, then `sha256` lines.
pub(crate) struct Reader<'a> {
    lines: std::iter::Peekable<std::iter::Enumerate<std::str::Split<'a, char>>>,
}

impl<'a> Reader<'a> {
    /// Start reading `bytes`, whose first line must be `<magic> 1`.
    pub(crate) fn new(bytes: &'a [u8], magic: &str) -> Result<Reader<'a>, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
        let body = text
            .strip_suffix('\n')
            .ok_or("does not end with a newline")?;
        let mut r = Reader {
            lines: body.split('\n').enumerate().peekable(),
        };
        let version = r.field(magic)?;
        if version != "1" {
            return Err(format!("format version '{version}': expected 1"));
        }
        Ok(r)
    }

    /// The next line, which must be `<key> <value>`: the value.
    pub(crate) fn field(&mut self, key: &str) -> Result<String, String> {
        let (i, l) = self.lines.next().ok_or(format!("missing '{key}'"))?;
        l.strip_prefix(key)
            .and_then(|v| v.strip_prefix(' '))
            .filter(|v| !v.is_empty() && !v.contains(['\r', '\t']))
            .map(str::to_string)
            .ok_or(format!("line {}: expected '{key} <value>'", i + 1))
    }

    /// `line <certificate line name>`.
    pub(crate) fn line(&mut self) -> Result<String, String> {
        let line = self.field("line")?;
        certdrop_core::name::line_name(&line)?;
        Ok(line)
    }

    /// `names <identifier>...`.
    pub(crate) fn names(&mut self) -> Result<Vec<String>, String> {
        let names: Vec<String> = self
            .field("names")?
            .split(' ')
            .map(str::to_string)
            .collect();
        for n in &names {
            certdrop_core::name::identifier(n, true)?;
        }
        Ok(names)
    }

    /// The remaining `sha256 <digest>  <file>` lines, each file a name a
    /// manifest may list, listed once, and accepted by `allowed`.
    pub(crate) fn files(
        self,
        allowed: impl Fn(&str) -> Result<(), String>,
    ) -> Result<Vec<(String, [u8; 32])>, String> {
        let mut files: Vec<(String, [u8; 32])> = Vec::new();
        for (i, l) in self.lines {
            let n = i + 1;
            let (digest, name) = l
                .strip_prefix("sha256 ")
                .and_then(|v| v.split_once("  "))
                .ok_or(format!("line {n}: expected 'sha256 <digest>  <file>'"))?;
            let digest = unhex(digest).ok_or(format!("line {n}: bad SHA-256 digest"))?;
            file_name(name)
                .and_then(|()| allowed(name))
                .map_err(|why| format!("line {n}: {why}"))?;
            if files.iter().any(|(f, _)| f == name) {
                return Err(format!("line {n}: '{name}' listed twice"));
            }
            files.push((name.to_string(), digest));
        }
        Ok(files)
    }
}

/// SHA-256 of a file's content.
pub fn digest(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// A file name a manifest may list.
fn file_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok || name == MANIFEST || name == SIGNATURE {
        return Err(format!("'{name}' is not a file name a manifest may list"));
    }
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SSZ`, checked for shape.
pub(crate) fn timestamp(text: String) -> Result<String, String> {
    let shape = "dddd-dd-ddTdd:dd:ddZ";
    let ok = text.len() == shape.len()
        && text.bytes().zip(shape.bytes()).all(|(c, s)| match s {
            b'd' => c.is_ascii_digit(),
            _ => c == s,
        });
    if ok {
        Ok(text)
    } else {
        Err(format!("'{text}': expected YYYY-MM-DDTHH:MM:SSZ"))
    }
}

/// 64 lowercase hex digits.
pub(crate) fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            line: "www".into(),
            names: vec!["*.example.org".into(), "example.org".into()],
            serial: "0A:1B".into(),
            not_before: "2026-11-24T02:49:34Z".into(),
            not_after: "2027-02-22T02:49:33Z".into(),
            published: "2026-11-24T03:00:00Z".into(),
            files: vec![
                ("cert.pem".into(), digest(b"cert")),
                ("fullchain.pem".into(), digest(b"full")),
            ],
        }
    }

    #[test]
    fn renders_the_documented_format_and_parses_it_back() {
        let text = sample().render();
        assert_eq!(
            text,
            format!(
                "certdrop-manifest 1\nline www\nnames *.example.org example.org\nserial 0A:1B\n\
                 not-before 2026-11-24T02:49:34Z\nnot-after 2027-02-22T02:49:33Z\n\
                 published 2026-11-24T03:00:00Z\nsha256 {}  cert.pem\nsha256 {}  fullchain.pem\n",
                certdrop_core::certinfo::hex(&digest(b"cert")),
                certdrop_core::certinfo::hex(&digest(b"full")),
            )
        );
        assert_eq!(Manifest::parse(text.as_bytes()), Ok(sample()));
    }

    #[test]
    fn rejects_anything_else() {
        let good = sample().render();
        for (bad, why) in [
            (good.replace("manifest 1", "manifest 2"), "format version"),
            (good.trim_end().to_string(), "newline"),
            (good.replace("line www", "line ../x"), "line name"),
            (good.replace("\nnames", "\n\nnames"), "expected 'names"),
            (good.replace("cert.pem", "../cert.pem"), "not a file name"),
            (good.replace("fullchain.pem", "cert.pem"), "listed twice"),
            (
                good.replace("fullchain.pem", "key.pem"),
                "'key.pem': a pub/ manifest lists only cert.pem, chain.pem, fullchain.pem, pubkey.pem",
            ),
            (
                good.replace("fullchain.pem", "manifest.sig"),
                "not a file name",
            ),
            (good.replace("sha256 ", "sha1 "), "expected 'sha256"),
            (good.replace("2027-02-22T02:49:33Z", "tomorrow"), "YYYY"),
            (format!("{good}comment here\n"), "expected 'sha256"),
            (good.replace("\n", "\r\n"), "expected"),
        ] {
            let e = Manifest::parse(bad.as_bytes()).expect_err(why);
            assert!(e.contains(why), "{why}: {e}");
        }
    }
}
