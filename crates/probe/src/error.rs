//! The probe's one error: which endpoint, which protocol, which step of the
//! dialogue, and why, printed as one line ("127.0.0.1:2525
//! (mail.example.org): smtp: STARTTLS refused: 454 4.7.0 TLS not
//! available"). A server's own words are quoted shortened and escaped, so
//! that nothing it sends can add a line or a terminal sequence to ours.

use std::fmt;

/// What went wrong, for callers that act on the kind (a service that is
/// down is not one that serves the wrong certificate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's input cannot be used (a server name that is no DNS name).
    Input,
    /// The TCP connection was not established (refused, unreachable).
    Connect,
    /// The probe's deadline ([`crate::Limits::timeout`]) passed.
    Timeout,
    /// The server sent more than [`crate::Limits::max_bytes`].
    TooLong,
    /// The server closed the connection before the step was done.
    Closed,
    /// The server answered, but no (the step's reply is an error).
    Refused,
    /// The server does not offer STARTTLS.
    NotOffered,
    /// The server's answer is not the protocol.
    Garbage,
    /// The TLS handshake failed (an alert, a bad signature, no common version).
    Tls,
    /// Any other I/O error on the connection.
    Io,
}

/// A failed probe: Display is one line naming the endpoint, the protocol,
/// the step and the cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeError {
    /// "ADDRESS (SERVER NAME)".
    pub endpoint: String,
    /// The protocol's name ([`crate::Protocol::name`]).
    pub protocol: &'static str,
    /// The step that failed: "connect", "greeting", "EHLO", "STARTTLS", "TLS handshake", ...
    pub step: String,
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The cause: the server's reply (quoted), the OS or TLS error.
    pub detail: String,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::Input => "invalid",
            ErrorKind::Connect | ErrorKind::Tls | ErrorKind::Io => "failed",
            ErrorKind::Timeout => "timed out",
            ErrorKind::TooLong => "too long",
            ErrorKind::Closed => "cut short",
            ErrorKind::Refused => "refused",
            ErrorKind::NotOffered => "not offered",
            ErrorKind::Garbage => "not understood",
        };
        write!(
            f,
            "{}: {}: {} {}",
            self.endpoint, self.protocol, self.step, what
        )?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for ProbeError {}

/// A failed step, before the endpoint and protocol are known to it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Fail {
    pub step: String,
    pub kind: ErrorKind,
    pub detail: String,
}

impl Fail {
    pub fn new(step: &str, kind: ErrorKind, detail: impl Into<String>) -> Fail {
        Fail {
            step: step.to_owned(),
            kind,
            detail: detail.into(),
        }
    }
}

/// Longest piece of a server's text quoted in an error.
const QUOTE: usize = 80;

/// A server's bytes for an error message: lossy UTF-8, at most [`QUOTE`]
/// characters, control characters escaped, so the message stays one line.
pub(crate) fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for c in text.chars().take(QUOTE) {
        if unsafe_char(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    if text.chars().count() > QUOTE {
        out.push_str("...");
    }
    out
}

/// Characters that could break the line or fool a terminal or a reader:
/// controls, line and paragraph separators, bidirectional overrides,
/// zero-width characters. Quotes stay as they are, for readability.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// A server's reply line as the detail of a refusal: its text, trimmed, quoted.
pub(crate) fn reply(line: &str) -> String {
    quote(line.trim().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_keeps_one_line_and_is_short() {
        assert_eq!(quote(b"a\r\nb\x1b[31m"), "a\\r\\nb\\u{1b}[31m");
        assert_eq!(
            quote("it's \"x\"\u{2028}\u{202e}".as_bytes()),
            "it's \"x\"\\u{2028}\\u{202e}"
        );
        let long = quote(&[b'x'; 500]);
        assert_eq!(long.len(), QUOTE + 3);
        assert!(long.ends_with("..."));
    }

    #[test]
    fn display_is_subject_step_cause() {
        let e = ProbeError {
            endpoint: "127.0.0.1:2525 (mail.example.org)".into(),
            protocol: "smtp",
            step: "STARTTLS".into(),
            kind: ErrorKind::Refused,
            detail: "454 4.7.0 TLS not available".into(),
        };
        assert_eq!(
            e.to_string(),
            "127.0.0.1:2525 (mail.example.org): smtp: STARTTLS refused: 454 4.7.0 TLS not available"
        );
    }
}
