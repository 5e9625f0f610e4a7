//! XMPP STARTTLS (RFC 6120 §5.4): open a stream, read the stream features,
//! ask for `<starttls/>`, wait for `<proceed/>`. XMPP is an XML stream
//! without an end, so no XML library is used: a minimal tag reader takes
//! one tag at a time (quotes respected), ignores text and the XML
//! declaration, and refuses what XMPP forbids (comments, DTDs, processing
//! instructions after the header, RFC 6120 §11.1).

use crate::error::{quote, reply, ErrorKind, Fail};
use crate::wire::Wire;

/// The STARTTLS namespace (RFC 6120 §5.4.2).
const TLS_NS: &str = "urn:ietf:params:xml:ns:xmpp-tls";

/// Which stream: client-to-server or server-to-server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Client,
    Server,
}

/// A tag's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Open,
    Close,
    Empty,
    /// `<?xml ...?>`
    Declaration,
}

/// One tag: its kind, its local name (the prefix dropped), its raw text.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Tag {
    pub kind: Kind,
    pub name: String,
    pub raw: String,
}

/// The end of the first whole tag in `buf` (index after its '>'), with
/// the text before it skipped; None if no whole tag is there yet.
pub(super) fn tag_end(buf: &[u8]) -> Option<(usize, usize)> {
    let start = buf.iter().position(|&b| b == b'<')?;
    let mut quote = None;
    for (i, &b) in buf.iter().enumerate().skip(start + 1) {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (None, b'>') => return Some((start, i + 1)),
            _ => {}
        }
    }
    None
}

/// Parse one whole tag (from '<' to '>').
pub(super) fn parse_tag(raw: &str) -> Option<Tag> {
    let inner = raw.strip_prefix('<')?.strip_suffix('>')?;
    let (kind, inner) = if let Some(decl) = inner.strip_prefix("?xml") {
        (Kind::Declaration, decl.strip_suffix('?')?)
    } else if let Some(name) = inner.strip_prefix('/') {
        (Kind::Close, name)
    } else if let Some(body) = inner.strip_suffix('/') {
        (Kind::Empty, body)
    } else {
        (Kind::Open, inner)
    };
    if kind == Kind::Declaration {
        return Some(Tag {
            kind,
            name: String::new(),
            raw: raw.to_owned(),
        });
    }
    let qname = inner.split(|c: char| c.is_ascii_whitespace()).next()?;
    let name = qname.rsplit(':').next()?;
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    if name.is_empty() || !qname.chars().all(ok) {
        return None; // "<!--", "<!DOCTYPE", "<?pi", "< x", ...
    }
    Some(Tag {
        kind,
        name: name.to_owned(),
        raw: raw.to_owned(),
    })
}

/// Reads tags off the wire.
struct Tags<'w> {
    wire: &'w mut Wire,
}

impl Tags<'_> {
    /// The next tag for `step`.
    fn next(&mut self, step: &str) -> Result<Tag, Fail> {
        loop {
            if let Some((start, end)) = tag_end(self.wire.buffered()) {
                self.wire.take(start);
                let raw = self.wire.take(end - start);
                let text = String::from_utf8_lossy(&raw);
                return parse_tag(&text).ok_or_else(|| garbage(step, &raw));
            }
            self.wire.fill(step)?;
        }
    }

    /// The names of the children of the element `open` starts (read to
    /// its end): the stream features, or a stream error's condition.
    fn children(&mut self, open: &Tag, step: &str) -> Result<Vec<String>, Fail> {
        let mut names = Vec::new();
        if open.kind == Kind::Empty {
            return Ok(names);
        }
        let mut depth = 0usize;
        loop {
            let tag = self.next(step)?;
            match tag.kind {
                Kind::Open | Kind::Empty if depth == 0 => names.push(tag.name.clone()),
                _ => {}
            }
            match tag.kind {
                Kind::Open => depth += 1,
                Kind::Close if depth == 0 => return Ok(names), // open's own end
                Kind::Close => depth -= 1,
                Kind::Empty => {}
                Kind::Declaration => return Err(garbage(step, tag.raw.as_bytes())),
            }
        }
    }

    /// The next top-level element of the stream, with its children's names.
    /// A stream error, or the end of the stream, fails `step`.
    fn element(&mut self, step: &str) -> Result<(Tag, Vec<String>), Fail> {
        let tag = self.next(step)?;
        match tag.kind {
            Kind::Close if tag.name == "stream" => Err(Fail::new(
                step,
                ErrorKind::Closed,
                "the server closed the stream",
            )),
            Kind::Open | Kind::Empty => {
                let children = self.children(&tag, step)?;
                if tag.name == "error" {
                    return Err(Fail::new(
                        step,
                        ErrorKind::Refused,
                        format!("stream error: {}", reply(&children.join(" "))),
                    ));
                }
                Ok((tag, children))
            }
            _ => Err(garbage(step, tag.raw.as_bytes())),
        }
    }
}

/// The stream header we open with (RFC 6120 §4.7): to the server's
/// domain, version 1.0 (which is what asks for stream features).
pub(super) fn header(domain: &str, role: Role) -> String {
    let ns = match role {
        Role::Client => "jabber:client",
        Role::Server => "jabber:server",
    };
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='{ns}' \
         xmlns:stream='http://etherx.jabber.org/streams' to='{}' version='1.0'>",
        escape(domain)
    )
}

/// The domain as an XML attribute value.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('\'', "&apos;")
        .replace('<', "&lt;")
}

/// Stream header, features, `<starttls/>`, `<proceed/>`.
pub(crate) fn start_tls(wire: &mut Wire, domain: &str, role: Role) -> Result<(), Fail> {
    wire.send(header(domain, role).as_bytes(), "stream")?;
    let mut tags = Tags { wire };
    // The server's stream header, after its XML declaration, if any.
    loop {
        let tag = tags.next("stream")?;
        match (tag.kind, tag.name.as_str()) {
            (Kind::Declaration, _) => {}
            (Kind::Open, "stream") => break,
            _ => return Err(garbage("stream", tag.raw.as_bytes())),
        }
    }
    let features = loop {
        let (tag, children) = tags.element("features")?;
        if tag.name == "features" {
            break children;
        }
    };
    if !features.iter().any(|f| f == "starttls") {
        return Err(Fail::new(
            "STARTTLS",
            ErrorKind::NotOffered,
            format!("stream features {}", reply(&features.join(" "))),
        ));
    }
    tags.wire.send(
        format!("<starttls xmlns='{TLS_NS}'/>").as_bytes(),
        "STARTTLS",
    )?;
    let (tag, _) = tags.element("STARTTLS")?;
    match tag.name.as_str() {
        "proceed" => Ok(()),
        "failure" => Err(Fail::new("STARTTLS", ErrorKind::Refused, reply(&tag.raw))),
        _ => Err(garbage("STARTTLS", tag.raw.as_bytes())),
    }
}

fn garbage(step: &str, bytes: &[u8]) -> Fail {
    Fail::new(step, ErrorKind::Garbage, format!("\"{}\"", quote(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(raw: &str) -> Option<(Kind, String)> {
        parse_tag(raw).map(|t| (t.kind, t.name))
    }

    #[test]
    fn tags() {
        assert_eq!(
            tag("<?xml version='1.0'?>"),
            Some((Kind::Declaration, String::new()))
        );
        assert_eq!(
            tag("<stream:stream xmlns='jabber:client' id='x' version='1.0'>"),
            Some((Kind::Open, "stream".into()))
        );
        assert_eq!(
            tag("<stream:features>"),
            Some((Kind::Open, "features".into()))
        );
        assert_eq!(
            tag("</stream:features>"),
            Some((Kind::Close, "features".into()))
        );
        assert_eq!(
            tag("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
            Some((Kind::Empty, "starttls".into()))
        );
        assert_eq!(
            tag("<proceed xmlns=\"urn:ietf:params:xml:ns:xmpp-tls\"/>"),
            Some((Kind::Empty, "proceed".into()))
        );
        for bad in [
            "<!-- c -->",
            "<!DOCTYPE x>",
            "<?php x?>",
            "< x>",
            "<>",
            "<a\u{0}b>",
        ] {
            assert_eq!(tag(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tag_ends_respect_quotes_and_skip_text() {
        assert_eq!(tag_end(b"<a b='>'>rest"), Some((0, 9)));
        assert_eq!(tag_end(b"  text <b/>"), Some((7, 11)));
        assert_eq!(tag_end(b"<a b='>"), None);
        assert_eq!(tag_end(b"no tag"), None);
    }

    #[test]
    fn headers() {
        assert_eq!(
            header("example.test", Role::Client),
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' to='example.test' version='1.0'>"
        );
        assert!(header("a'b", Role::Server).contains("xmlns='jabber:server'"));
        assert!(header("a'b", Role::Server).contains("to='a&apos;b'"));
    }
}
