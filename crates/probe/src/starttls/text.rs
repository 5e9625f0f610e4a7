//! The line-based STARTTLS dialogues: SMTP (RFC 5321 §4.2 replies, RFC
//! 3207), IMAP (RFC 9051 §6.2.1, tagged commands), POP3 (RFC 2595 §4,
//! STLS) and ManageSieve (RFC 5804 §1.7, §2.2). The parsers are pure
//! functions of one line, tested below; the dialogues only sequence them.

use std::net::{IpAddr, SocketAddr};

use crate::error::{quote, reply, ErrorKind, Fail};
use crate::wire::Wire;

// ---------------------------------------------------------------- SMTP

/// One line of an SMTP reply: its code, whether more lines follow, its text.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ReplyLine<'a> {
    pub code: u16,
    pub more: bool,
    pub text: &'a str,
}

/// Parse one reply line: three digits, then '-' (more follow), ' ' or
/// nothing (the last line) (RFC 5321 §4.2.1).
pub(super) fn reply_line(line: &str) -> Option<ReplyLine<'_>> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&b[0]) {
        return None;
    }
    let code = line[..3].parse().ok()?;
    match b.get(3) {
        None => Some(ReplyLine {
            code,
            more: false,
            text: "",
        }),
        Some(b' ') => Some(ReplyLine {
            code,
            more: false,
            text: &line[4..],
        }),
        Some(b'-') => Some(ReplyLine {
            code,
            more: true,
            text: &line[4..],
        }),
        Some(_) => None,
    }
}

/// A whole SMTP reply: its code and the text of each line.
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    /// The reply as one line for an error: "454 4.7.0 TLS not available".
    fn show(&self) -> String {
        reply(&format!("{} {}", self.code, self.lines.join(" ")))
    }
}

/// Read one (possibly multi-line) reply for `step`.
fn read_reply(wire: &mut Wire, step: &str) -> Result<Reply, Fail> {
    let mut code = None;
    let mut lines = Vec::new();
    loop {
        let line = wire.line(step)?;
        let Some(r) = reply_line(&line) else {
            return Err(garbage(step, &line));
        };
        if *code.get_or_insert(r.code) != r.code {
            return Err(garbage(step, &line));
        }
        lines.push(r.text.to_owned());
        if !r.more {
            return Ok(Reply {
                code: r.code,
                lines,
            });
        }
    }
}

/// Whether an EHLO reply's extension lines (all but the first) offer STARTTLS.
pub(super) fn ehlo_offers_starttls(lines: &[String]) -> bool {
    lines.iter().skip(1).any(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("STARTTLS"))
    })
}

/// Our EHLO argument: the address literal of our end (RFC 5321 §4.1.3),
/// which needs no name of its own and is true.
pub(super) fn address_literal(local: Option<SocketAddr>) -> String {
    match local.map(|a| a.ip()) {
        Some(IpAddr::V6(ip)) => format!("[IPv6:{ip}]"),
        Some(IpAddr::V4(ip)) => format!("[{ip}]"),
        None => "[127.0.0.1]".to_owned(),
    }
}

/// Greeting, EHLO, STARTTLS (RFC 3207 §4).
pub(super) fn smtp(wire: &mut Wire) -> Result<(), Fail> {
    let greeting = read_reply(wire, "greeting")?;
    if greeting.code != 220 {
        return Err(Fail::new("greeting", ErrorKind::Refused, greeting.show()));
    }
    let ehlo = format!("EHLO {}\r\n", address_literal(wire.local_addr()));
    wire.send(ehlo.as_bytes(), "EHLO")?;
    let ehlo = read_reply(wire, "EHLO")?;
    if ehlo.code != 250 {
        return Err(Fail::new("EHLO", ErrorKind::Refused, ehlo.show()));
    }
    if !ehlo_offers_starttls(&ehlo.lines) {
        let keywords: Vec<&str> = ehlo.lines[1..]
            .iter()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        return Err(Fail::new(
            "STARTTLS",
            ErrorKind::NotOffered,
            format!("EHLO lists {}", reply(&keywords.join(" "))),
        ));
    }
    wire.send(b"STARTTLS\r\n", "STARTTLS")?;
    let go = read_reply(wire, "STARTTLS")?;
    if go.code != 220 {
        return Err(Fail::new("STARTTLS", ErrorKind::Refused, go.show()));
    }
    Ok(())
}

// ---------------------------------------------------------------- IMAP

/// What an IMAP response line is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Imap<'a> {
    /// `* OK ...` (a greeting or a status), with its text.
    Ok(&'a str),
    /// `* PREAUTH ...`: already authenticated, STARTTLS not allowed.
    PreAuth(&'a str),
    /// `* BYE ...`: the server hangs up.
    Bye(&'a str),
    /// `* CAPABILITY ...`, the capabilities.
    Capability(&'a str),
    /// Any other untagged line.
    Untagged,
    /// `TAG OK|NO|BAD ...`: is it OK, the line.
    Tagged(bool, &'a str),
}

/// Classify one IMAP response line for the command tagged `tag`.
pub(super) fn imap_line<'a>(line: &'a str, tag: &str) -> Option<Imap<'a>> {
    if let Some(rest) = line.strip_prefix("* ") {
        let (word, text) = rest.split_once(' ').unwrap_or((rest, ""));
        return Some(match word.to_ascii_uppercase().as_str() {
            "OK" => Imap::Ok(text),
            "PREAUTH" => Imap::PreAuth(text),
            "BYE" => Imap::Bye(text),
            "CAPABILITY" => Imap::Capability(text),
            _ => Imap::Untagged,
        });
    }
    let rest = line.strip_prefix(tag)?.strip_prefix(' ')?;
    let (word, _) = rest.split_once(' ').unwrap_or((rest, ""));
    match word.to_ascii_uppercase().as_str() {
        "OK" => Some(Imap::Tagged(true, line)),
        "NO" | "BAD" => Some(Imap::Tagged(false, line)),
        _ => None,
    }
}

/// Whether a capability list (`IMAP4rev1 STARTTLS ...`) has STARTTLS.
pub(super) fn has_starttls(caps: &str) -> bool {
    caps.split_whitespace()
        .any(|c| c.eq_ignore_ascii_case("STARTTLS"))
}

/// The capabilities in a greeting's response code, `[CAPABILITY ...]`.
pub(super) fn greeting_capabilities(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('[')?;
    let (code, _) = rest.split_once(']')?;
    let (name, caps) = code.split_once(' ')?;
    name.eq_ignore_ascii_case("CAPABILITY").then_some(caps)
}

/// Send `TAG COMMAND` and read to its tagged answer; the capabilities seen
/// on the way, and whether the answer is OK (with its line).
fn imap_command(
    wire: &mut Wire,
    tag: &str,
    command: &str,
) -> Result<(Option<String>, bool, String), Fail> {
    wire.send(format!("{tag} {command}\r\n").as_bytes(), command)?;
    let mut caps = None;
    loop {
        let line = wire.line(command)?;
        match imap_line(&line, tag) {
            Some(Imap::Capability(c)) => caps = Some(c.to_owned()),
            Some(Imap::Bye(_)) => return Err(Fail::new(command, ErrorKind::Refused, reply(&line))),
            Some(Imap::Tagged(ok, l)) => return Ok((caps, ok, l.to_owned())),
            Some(_) => {}
            None => return Err(garbage(command, &line)),
        }
    }
}

/// Greeting, CAPABILITY (unless the greeting has them), STARTTLS.
pub(super) fn imap(wire: &mut Wire) -> Result<(), Fail> {
    let line = wire.line("greeting")?;
    let caps = match imap_line(&line, "*") {
        Some(Imap::Ok(text)) => greeting_capabilities(text).map(str::to_owned),
        Some(Imap::PreAuth(_)) => {
            return Err(Fail::new(
                "STARTTLS",
                ErrorKind::NotOffered,
                format!(
                    "PREAUTH greeting (STARTTLS is only for a new session): {}",
                    reply(&line)
                ),
            ))
        }
        Some(Imap::Bye(_)) => return Err(Fail::new("greeting", ErrorKind::Refused, reply(&line))),
        _ => return Err(garbage("greeting", &line)),
    };
    let caps = match caps {
        Some(caps) => caps,
        None => match imap_command(wire, "a1", "CAPABILITY")? {
            (Some(caps), true, _) => caps,
            (None, true, l) => return Err(garbage("CAPABILITY", &l)),
            (_, false, l) => return Err(Fail::new("CAPABILITY", ErrorKind::Refused, reply(&l))),
        },
    };
    if !has_starttls(&caps) {
        return Err(Fail::new(
            "STARTTLS",
            ErrorKind::NotOffered,
            format!("CAPABILITY {}", reply(&caps)),
        ));
    }
    match imap_command(wire, "a2", "STARTTLS")? {
        (_, true, _) => Ok(()),
        (_, false, l) => Err(Fail::new("STARTTLS", ErrorKind::Refused, reply(&l))),
    }
}

// ---------------------------------------------------------------- POP3

/// A POP3 status line: true for `+OK`, false for `-ERR`, None for neither.
pub(super) fn pop3_status(line: &str) -> Option<bool> {
    let word = line.split(' ').next().unwrap_or("");
    match word.to_ascii_uppercase().as_str() {
        "+OK" => Some(true),
        "-ERR" => Some(false),
        _ => None,
    }
}

/// Greeting, STLS.
pub(super) fn pop3(wire: &mut Wire) -> Result<(), Fail> {
    for (step, send) in [("greeting", None), ("STLS", Some("STLS\r\n"))] {
        if let Some(send) = send {
            wire.send(send.as_bytes(), step)?;
        }
        let line = wire.line(step)?;
        match pop3_status(&line) {
            Some(true) => {}
            Some(false) => return Err(Fail::new(step, ErrorKind::Refused, reply(&line))),
            None => return Err(garbage(step, &line)),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- ManageSieve

/// A ManageSieve line: a response (`OK`, `NO`, `BYE`: is it OK), or a
/// capability line (its first string, unquoted).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Sieve<'a> {
    Response(bool),
    Capability(&'a str),
}

/// Classify one ManageSieve line (RFC 5804 §1.2, §1.7).
pub(super) fn sieve_line(line: &str) -> Option<Sieve<'_>> {
    if let Some(rest) = line.strip_prefix('"') {
        return rest
            .split_once('"')
            .map(|(name, _)| Sieve::Capability(name));
    }
    let word = line.split([' ', '(']).next().unwrap_or("");
    match word.to_ascii_uppercase().as_str() {
        "OK" => Some(Sieve::Response(true)),
        "NO" | "BYE" => Some(Sieve::Response(false)),
        _ => None,
    }
}

/// The length of a literal a line ends with (`{12}` or `{12+}`, RFC 5804 §4).
pub(super) fn literal(line: &str) -> Option<usize> {
    let open = line.strip_suffix('}')?.rfind('{')?;
    line[open + 1..line.len() - 1]
        .trim_end_matches('+')
        .parse()
        .ok()
}

/// Read lines to the response for `step`: (OK?, the response line, the
/// capability names seen on the way). Literals are skipped whole, so that
/// their contents are never taken for a response.
fn sieve_response(wire: &mut Wire, step: &str) -> Result<(bool, String, Vec<String>), Fail> {
    let mut caps = Vec::new();
    loop {
        let line = wire.line(step)?;
        match sieve_line(&line) {
            Some(Sieve::Response(ok)) => return Ok((ok, line, caps)),
            Some(Sieve::Capability(name)) => caps.push(name.to_owned()),
            None => return Err(garbage(step, &line)),
        }
        if let Some(n) = literal(&line) {
            // The literal, then the rest of its line.
            wire.exact(n, step)?;
            wire.line(step)?;
        }
    }
}

/// Greeting (the capabilities), STARTTLS.
pub(super) fn sieve(wire: &mut Wire) -> Result<(), Fail> {
    let (ok, line, caps) = sieve_response(wire, "greeting")?;
    if !ok {
        return Err(Fail::new("greeting", ErrorKind::Refused, reply(&line)));
    }
    if !caps.iter().any(|c| c.eq_ignore_ascii_case("STARTTLS")) {
        return Err(Fail::new(
            "STARTTLS",
            ErrorKind::NotOffered,
            format!("capabilities {}", reply(&caps.join(" "))),
        ));
    }
    wire.send(b"STARTTLS\r\n", "STARTTLS")?;
    let (ok, line, _) = sieve_response(wire, "STARTTLS")?;
    if !ok {
        return Err(Fail::new("STARTTLS", ErrorKind::Refused, reply(&line)));
    }
    Ok(())
}

/// A line that is not the protocol, quoted.
fn garbage(step: &str, line: &str) -> Fail {
    Fail::new(
        step,
        ErrorKind::Garbage,
        format!("\"{}\"", quote(line.as_bytes())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_reply_lines() {
        assert_eq!(
            reply_line("250-mail.example.org"),
            Some(ReplyLine {
                code: 250,
                more: true,
                text: "mail.example.org"
            })
        );
        assert_eq!(
            reply_line("250 STARTTLS"),
            Some(ReplyLine {
                code: 250,
                more: false,
                text: "STARTTLS"
            })
        );
        assert_eq!(
            reply_line("220"),
            Some(ReplyLine {
                code: 220,
                more: false,
                text: ""
            })
        );
        for bad in [
            "",
            "22",
            "2x0 hi",
            "220_x",
            "HTTP/1.1 400",
            "999 no",
            "SSH-2.0-OpenSSH",
        ] {
            assert_eq!(reply_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ehlo_starttls_is_a_keyword_not_the_greeting() {
        let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(ehlo_offers_starttls(&lines(&[
            "mx",
            "PIPELINING",
            "starttls",
            "8BITMIME"
        ])));
        // The first line is the server's name and greeting text, never a keyword.
        assert!(!ehlo_offers_starttls(&lines(&["STARTTLS", "PIPELINING"])));
        assert!(!ehlo_offers_starttls(&lines(&[
            "mx",
            "XSTARTTLS",
            "SIZE 1000"
        ])));
    }

    #[test]
    fn ehlo_names_our_address() {
        assert_eq!(
            address_literal("127.0.0.1:4000".parse().ok()),
            "[127.0.0.1]"
        );
        assert_eq!(address_literal("[::1]:4000".parse().ok()), "[IPv6:::1]");
    }

    #[test]
    fn imap_lines() {
        assert_eq!(
            imap_line("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready", "a1"),
            Some(Imap::Ok("[CAPABILITY IMAP4rev1 STARTTLS] ready"))
        );
        assert_eq!(
            imap_line("* CAPABILITY IMAP4rev1 STARTTLS", "a1"),
            Some(Imap::Capability("IMAP4rev1 STARTTLS"))
        );
        assert_eq!(imap_line("* BYE no", "a1"), Some(Imap::Bye("no")));
        assert_eq!(imap_line("* PREAUTH hi", "a1"), Some(Imap::PreAuth("hi")));
        assert_eq!(imap_line("* 3 EXISTS", "a1"), Some(Imap::Untagged));
        assert_eq!(
            imap_line("a1 OK done", "a1"),
            Some(Imap::Tagged(true, "a1 OK done"))
        );
        assert_eq!(
            imap_line("a1 BAD what", "a1"),
            Some(Imap::Tagged(false, "a1 BAD what"))
        );
        assert_eq!(imap_line("a10 OK other", "a1"), None);
        assert_eq!(imap_line("garbage", "a1"), None);
        assert_eq!(
            greeting_capabilities("[CAPABILITY IMAP4rev1 STARTTLS] hi"),
            Some("IMAP4rev1 STARTTLS")
        );
        assert_eq!(greeting_capabilities("[ALERT] hi"), None);
        assert_eq!(greeting_capabilities("Dovecot ready."), None);
        assert!(has_starttls("IMAP4rev1 SASL-IR starttls LOGINDISABLED"));
        assert!(!has_starttls("IMAP4rev1 STARTTLSX"));
    }

    #[test]
    fn pop3_status_lines() {
        assert_eq!(pop3_status("+OK Dovecot ready."), Some(true));
        assert_eq!(pop3_status("+OK"), Some(true));
        assert_eq!(pop3_status("-ERR TLS not available"), Some(false));
        assert_eq!(pop3_status("OK"), None);
        assert_eq!(pop3_status("+OKAY"), None);
    }

    #[test]
    fn sieve_lines_and_literals() {
        assert_eq!(
            sieve_line("\"STARTTLS\""),
            Some(Sieve::Capability("STARTTLS"))
        );
        assert_eq!(
            sieve_line("\"SIEVE\" \"fileinto\""),
            Some(Sieve::Capability("SIEVE"))
        );
        assert_eq!(
            sieve_line("OK \"Dovecot ready.\""),
            Some(Sieve::Response(true))
        );
        assert_eq!(sieve_line("ok"), Some(Sieve::Response(true)));
        assert_eq!(
            sieve_line("NO (TRYLATER) \"busy\""),
            Some(Sieve::Response(false))
        );
        assert_eq!(sieve_line("BYE \"bye\""), Some(Sieve::Response(false)));
        assert_eq!(sieve_line("OKAY"), None);
        assert_eq!(sieve_line("\"unterminated"), None);
        assert_eq!(literal("\"SIEVE\" {12}"), Some(12));
        assert_eq!(literal("\"SIEVE\" {12+}"), Some(12));
        assert_eq!(literal("\"SIEVE\" \"x\""), None);
    }
}
