//! The manifest of one line in a service site's CSR outbox: what that site
//! asks the signing site to certify, without its private key ever leaving
//! it. certdrop-trigger (`csr`) writes it beside the CSRs and signs it with
//! the site's own key; certdrop-publish (`pull`, kind "outbox") checks a
//! received copy before the issuer reads a CSR. Format version 1:
//!
//! ```text
//! certdrop-outbox 1
//! line www-site3
//! names www.site3.example.org
//! spki <64 lowercase hex: SHA-256 of the current key's SubjectPublicKeyInfo>
//! next-spki <64 lowercase hex, or ->
//! published 2026-12-05T10:00:00Z
//! sha256 <64 lowercase hex>  csr.pem
//! sha256 <64 lowercase hex>  next.csr.pem
//! ```
//!
//! The grammar is the pub/ manifest's ([`crate::manifest`]): `<keyword>
//! <value>` lines ending in LF, the keywords in this order, each once, the
//! `sha256` lines laid out as sha256sum(1) prints them. `csr.pem` is always
//! listed; `next.csr.pem` exactly when `next-spki` is not `-`. The key
//! digests let the issuer and a monitor see a key change without parsing
//! the CSRs, and the receiver order two outboxes by `published` (a
//! replayed older outbox is refused). A receiver holds the manifest to its
//! CSRs ([`Outbox::check_csr`]): each parses as one CSR whose key and
//! names are the ones the manifest states.

use certdrop_core::certinfo::{self, hex};

use crate::manifest::{timestamp, unhex, Reader};

/// First line of every outbox manifest: format name and version.
pub const MAGIC: &str = "certdrop-outbox 1";
/// The current key's CSR.
pub const CSR: &str = "csr.pem";
/// The staged next key's CSR.
pub const NEXT_CSR: &str = "next.csr.pem";

/// One outbox line's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    /// The certificate line.
    pub line: String,
    /// The names the CSRs ask for, lowercase, sorted.
    pub names: Vec<String>,
    /// SHA-256 of the current key's SubjectPublicKeyInfo (DER).
    pub spki: [u8; 32],
    /// The same for the staged next key, if one is staged.
    pub next_spki: Option<[u8; 32]>,
    /// When this version was written, RFC 3339 UTC.
    pub published: String,
    /// File names and their SHA-256.
    pub files: Vec<(String, [u8; 32])>,
}

impl Outbox {
    /// The text form (module header).
    pub fn render(&self) -> String {
        let hex = certdrop_core::certinfo::hex;
        let next = self.next_spki.as_ref().map_or("-".to_owned(), |d| hex(d));
        let mut out = format!(
            "{MAGIC}\nline {}\nnames {}\nspki {}\nnext-spki {next}\npublished {}\n",
            self.line,
            self.names.join(" "),
            hex(&self.spki),
            self.published
        );
        for (name, digest) in &self.files {
            out.push_str(&format!("sha256 {}  {name}\n", hex(digest)));
        }
        out
    }

    /// Parse and validate the text form.
    pub fn parse(bytes: &[u8]) -> Result<Outbox, String> {
        let mut r = Reader::new(bytes, "certdrop-outbox")?;
        let line = r.line()?;
        let names = r.names()?;
        let spki = unhex(&r.field("spki")?).ok_or("spki: expected 64 lowercase hex digits")?;
        let next_spki = match r.field("next-spki")?.as_str() {
            "-" => None,
            d => Some(unhex(d).ok_or("next-spki: expected 64 lowercase hex digits or -")?),
        };
        let published = timestamp(r.field("published")?)?;
        let files = r.files(|name| {
            if name == CSR || name == NEXT_CSR {
                Ok(())
            } else {
                Err(format!(
                    "'{name}': an outbox lists only {CSR} and {NEXT_CSR}"
                ))
            }
        })?;
        if !files.iter().any(|(f, _)| f == CSR) {
            return Err(format!("does not list {CSR}"));
        }
        let lists_next = files.iter().any(|(f, _)| f == NEXT_CSR);
        match (next_spki.is_some(), lists_next) {
            (true, false) => return Err(format!("next-spki given but {NEXT_CSR} not listed")),
            (false, true) => return Err(format!("{NEXT_CSR} listed but next-spki is -")),
            _ => {}
        }
        Ok(Outbox {
            line,
            names,
            spki,
            next_spki,
            published,
            files,
        })
    }
}

impl Outbox {
    /// Check the listed file `file` (its content `data`) against this
    /// manifest: one CSR (RFC 2986), the SHA-256 of its SubjectPublicKeyInfo
    /// the manifest's `spki` (for csr.pem) or `next-spki` (next.csr.pem),
    /// its subjectAltName names the manifest's `names` (as a set). The
    /// CSR's own signature is the issuer's CA's to judge. One line why not.
    pub fn check_csr(&self, file: &str, data: &[u8]) -> Result<(), String> {
        let (want, field) = match file {
            CSR => (Some(self.spki), "spki"),
            NEXT_CSR => (self.next_spki, "next-spki"),
            other => return Err(format!("'{other}' is no CSR of an outbox")),
        };
        let csr = certinfo::parse_csr(data)?;
        let got = certinfo::spki_sha256(&csr.spki);
        match want {
            Some(want) if want == got => {}
            Some(want) => {
                return Err(format!(
                    "its key's SHA-256 is {}, the manifest's {field} {}",
                    hex(&got),
                    hex(&want)
                ))
            }
            None => return Err(format!("the manifest's {field} is -")),
        }
        let (asked, named) = (
            certinfo::name_set(&csr.names),
            certinfo::name_set(&self.names),
        );
        if asked != named {
            return Err(format!(
                "asks for '{}', the manifest names '{}'",
                asked.join(" "),
                named.join(" ")
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest;

    fn sample() -> Outbox {
        Outbox {
            line: "www-site3".into(),
            names: vec!["www.site3.example.org".into()],
            spki: digest(b"key"),
            next_spki: Some(digest(b"next")),
            published: "2026-12-05T10:00:00Z".into(),
            files: vec![
                (CSR.into(), digest(b"csr")),
                (NEXT_CSR.into(), digest(b"next csr")),
            ],
        }
    }

    #[test]
    fn round_trips() {
        let m = sample();
        assert_eq!(Outbox::parse(m.render().as_bytes()), Ok(m.clone()));
        let mut alone = m;
        alone.next_spki = None;
        alone.files.truncate(1);
        let text = alone.render();
        assert!(text.contains("\nnext-spki -\n"), "{text}");
        assert_eq!(Outbox::parse(text.as_bytes()), Ok(alone));
    }

    #[test]
    fn refuses_what_the_grammar_does_not_allow() {
        let good = sample().render();
        let cases = [
            (good.replace("outbox 1", "outbox 2"), "format version"),
            (
                good.replace("\nnext-spki ", "\nnext-spk "),
                "expected 'next-spki",
            ),
            (good.replace("next.csr.pem", "key.pem"), "lists only"),
            (good.replace("  csr.pem", "  ../csr.pem"), "not a file name"),
            (
                good.lines()
                    .filter(|l| !l.ends_with("next.csr.pem"))
                    .map(|l| format!("{l}\n"))
                    .collect(),
                "next-spki given",
            ),
            (
                good.lines()
                    .filter(|l| !l.ends_with("  csr.pem"))
                    .map(|l| format!("{l}\n"))
                    .collect(),
                "does not list csr.pem",
            ),
            (good.trim_end().to_owned(), "newline"),
            (
                good.replace("published 2026-12-05T10:00:00Z", "published yesterday"),
                "expected YYYY",
            ),
        ];
        for (text, why) in cases {
            let e = Outbox::parse(text.as_bytes()).expect_err(why);
            assert!(e.contains(why), "{why}: {e}");
        }
    }
}
