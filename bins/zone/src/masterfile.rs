//! Zone sources from the configuration repository (`soa/`, `primary/`):
//! a master-file reader (RFC 1035 §5.1: `$ORIGIN`, `$TTL`, parentheses,
//! comments, quoted strings, inherited owners, `@`) that turns them into
//! records with absolute names, and the checks run on an assembled zone
//! before it may replace the served one. `$INCLUDE` and `$GENERATE` are
//! refused: a zone is built from the files named in zone.toml, nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;

use certdrop_core::name;

/// Where a record came from, for messages: `file:line`, or a bare label
/// (`generated`). The file name is shared by all records of a file, so a
/// record costs no string of its own for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    file: Rc<str>,
    /// 0 for a label without a line.
    line: u32,
}

impl Source {
    /// Line `line` (from 1) of `file`.
    pub fn at(file: &Rc<str>, line: u32) -> Source {
        Source {
            file: Rc::clone(file),
            line,
        }
    }

    /// A label with no line, such as `generated`.
    pub fn label(text: &str) -> Source {
        Source {
            file: text.into(),
            line: 0,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => f.write_str(&self.file),
            n => write!(f, "{}:{n}", self.file),
        }
    }
}

/// One record of a zone source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rr {
    /// Absolute owner, lowercase, trailing dot.
    pub owner: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// Type mnemonic, uppercase.
    pub rtype: String,
    /// RDATA tokens as written (quoted strings keep their quotes), with
    /// domain names made absolute for the types that carry them.
    pub rdata: Vec<String>,
    /// `file:line` it came from, for messages.
    pub source: Source,
}

impl Rr {
    /// One line of zone text.
    #[cfg(test)]
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write_line(&mut out, None);
        out.pop();
        String::from_utf8_lossy(&out).into_owned()
    }

    /// One line of zone text into `out`, with a newline; the SOA's serial
    /// replaced by `serial` when given.
    pub fn write_line(
        &self,
        out: &mut impl std::io::Write,
        serial: Option<u32>,
    ) -> std::io::Result<()> {
        write!(out, "{}\t{}\tIN\t{}\t", self.owner, self.ttl, self.rtype)?;
        let soa = serial.filter(|_| self.rtype == "SOA");
        for (i, field) in self.rdata.iter().enumerate() {
            if i > 0 {
                out.write_all(b" ")?;
            }
            match soa {
                Some(s) if i == 2 => write!(out, "{s}")?,
                _ => out.write_all(field.as_bytes())?,
            }
        }
        out.write_all(b"\n")
    }
}

/// RDATA positions holding domain names, per type (RFC 1035 §3.3, RFC 2782).
fn name_fields(rtype: &str) -> &'static [usize] {
    match rtype {
        "NS" | "CNAME" | "PTR" | "DNAME" => &[0],
        "SOA" => &[0, 1],
        "MX" | "AFSDB" | "RT" | "KX" => &[1],
        "SRV" => &[3],
        _ => &[],
    }
}

/// A TTL: seconds, or BIND's units (`1h30m`).
fn parse_ttl(token: &str) -> Option<u32> {
    if token.bytes().all(|b| b.is_ascii_digit()) {
        return token.parse().ok();
    }
    let mut total: u64 = 0;
    let mut n: u64 = 0;
    let mut seen_digit = false;
    for c in token.chars() {
        if let Some(d) = c.to_digit(10) {
            n = n.checked_mul(10)?.checked_add(u64::from(d))?;
            seen_digit = true;
        } else {
            let mult = match c.to_ascii_lowercase() {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 604_800,
                _ => return None,
            };
            if !seen_digit {
                return None;
            }
            total = total.checked_add(n.checked_mul(mult)?)?;
            n = 0;
            seen_digit = false;
        }
    }
    if seen_digit {
        return None;
    }
    u32::try_from(total).ok()
}

fn is_class(token: &str) -> bool {
    matches!(
        token.to_ascii_uppercase().as_str(),
        "IN" | "CH" | "HS" | "CS"
    )
}

/// Make `token` an absolute name under `origin`.
fn absolute(token: &str, origin: &str) -> String {
    if token == "@" {
        origin.to_owned()
    } else if token.ends_with('.') {
        token.to_ascii_lowercase()
    } else {
        // One allocation: this runs for nearly every record of a zone.
        let mut name = String::with_capacity(token.len() + 1 + origin.len());
        name.push_str(token);
        name.make_ascii_lowercase();
        name.push('.');
        name.push_str(origin);
        name
    }
}

/// Splits master-file text into logical records: (line number, starts
/// with blank, tokens). Comments dropped, parentheses joined, quotes kept.
/// Text may come in pieces that end at a newline (a file read line by
/// line); one buffer holds the tokens of the record at hand, so nothing
/// grows with the file.
struct Lexer<'s> {
    source: &'s str,
    buf: String,
    bounds: Vec<(usize, usize)>,
    /// Where the token being read starts in `buf`.
    start: usize,
    depth: usize,
    in_quote: bool,
    start_line: usize,
    blank_start: bool,
    line: usize,
    at_line_start: bool,
}

type Each<'a> = dyn FnMut(usize, bool, &[&str]) -> Result<(), String> + 'a;

impl<'s> Lexer<'s> {
    fn new(source: &'s str) -> Lexer<'s> {
        Lexer {
            source,
            buf: String::new(),
            bounds: Vec::new(),
            start: 0,
            depth: 0,
            in_quote: false,
            start_line: 1,
            blank_start: false,
            line: 1,
            at_line_start: true,
        }
    }

    fn end_token(&mut self) {
        if self.buf.len() > self.start {
            self.bounds.push((self.start, self.buf.len()));
        }
        self.start = self.buf.len();
    }

    fn emit(&mut self, each: &mut Each<'_>) -> Result<(), String> {
        let tokens: Vec<&str> = self.bounds.iter().map(|&(a, b)| &self.buf[a..b]).collect();
        let r = each(self.start_line, self.blank_start, &tokens);
        self.buf.clear();
        self.bounds.clear();
        self.start = 0;
        r
    }

    /// More text: whole lines (the last may lack its newline only at the end).
    fn feed(&mut self, text: &str, each: &mut Each<'_>) -> Result<(), String> {
        let source = self.source;
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if self.at_line_start && self.depth == 0 && !self.in_quote {
                self.start_line = self.line;
                self.blank_start = c == ' ' || c == '\t';
            }
            self.at_line_start = false;
            match c {
                '\\' => {
                    self.buf.push(c);
                    if let Some(n) = chars.next() {
                        if n == '\n' {
                            self.line += 1;
                        }
                        self.buf.push(n);
                    }
                }
                '"' => {
                    self.buf.push(c);
                    self.in_quote = !self.in_quote;
                }
                _ if self.in_quote => {
                    if c == '\n' {
                        return Err(format!(
                            "{source}:{}: unterminated quoted string",
                            self.line
                        ));
                    }
                    self.buf.push(c);
                }
                ';' => {
                    while chars.peek().is_some_and(|&n| n != '\n') {
                        chars.next();
                    }
                }
                '(' | ')' => {
                    self.end_token();
                    if c == '(' {
                        self.depth += 1;
                    } else {
                        self.depth = self
                            .depth
                            .checked_sub(1)
                            .ok_or_else(|| format!("{source}:{}: ')' without '('", self.line))?;
                    }
                }
                ' ' | '\t' | '\r' => self.end_token(),
                '\n' => {
                    self.end_token();
                    self.line += 1;
                    if self.depth == 0 {
                        if !self.bounds.is_empty() {
                            self.emit(each)?;
                        }
                        self.at_line_start = true;
                    }
                }
                _ => self.buf.push(c),
            }
        }
        Ok(())
    }

    /// The end of the text.
    fn finish(&mut self, each: &mut Each<'_>) -> Result<(), String> {
        if self.in_quote {
            return Err(format!(
                "{}:{}: unterminated quoted string",
                self.source, self.line
            ));
        }
        if self.depth != 0 {
            return Err(format!(
                "{}:{}: '(' without ')'",
                self.source, self.start_line
            ));
        }
        self.end_token();
        if !self.bounds.is_empty() {
            self.emit(each)?;
        }
        Ok(())
    }
}

/// Parse a zone source with `origin` (absolute) and an optional default TTL.
pub fn parse(
    text: &str,
    origin: &str,
    default_ttl: Option<u32>,
    source: &str,
) -> Result<Vec<Rr>, String> {
    let mut out = Vec::new();
    parse_each(text, origin, default_ttl, source, |rr| {
        out.push(rr);
        Ok(())
    })?;
    Ok(out)
}

/// [`parse`], each record handed to `each` as it is read instead of
/// collected; an error from `each` stops the parse and is returned.
pub fn parse_each(
    text: &str,
    origin: &str,
    default_ttl: Option<u32>,
    source: &str,
    each: impl FnMut(Rr) -> Result<(), String>,
) -> Result<(), String> {
    let mut lexer = Lexer::new(source);
    let mut record = recorder(origin, default_ttl, source, each);
    lexer.feed(text, &mut record)?;
    lexer.finish(&mut record)
}

/// [`parse_each`] on text read in pieces that end at newlines (a file
/// read line by line): `read` puts the next piece in its buffer and says
/// false at the end; its error stops the parse.
pub fn parse_pieces(
    mut read: impl FnMut(&mut String) -> Result<bool, String>,
    origin: &str,
    default_ttl: Option<u32>,
    source: &str,
    each: impl FnMut(Rr) -> Result<(), String>,
) -> Result<(), String> {
    let mut lexer = Lexer::new(source);
    let mut record = recorder(origin, default_ttl, source, each);
    let mut piece = String::new();
    loop {
        piece.clear();
        if !read(&mut piece)? {
            break;
        }
        lexer.feed(&piece, &mut record)?;
    }
    lexer.finish(&mut record)
}

/// What turns a logical record into an [`Rr`] for `each`, directives
/// applied on the way.
fn recorder<'a>(
    origin: &str,
    default_ttl: Option<u32>,
    source: &'a str,
    mut each: impl FnMut(Rr) -> Result<(), String> + 'a,
) -> impl FnMut(usize, bool, &[&str]) -> Result<(), String> + 'a {
    let file: Rc<str> = source.into();
    let mut origin = format!("{}.", origin.trim_end_matches('.').to_ascii_lowercase());
    let mut ttl_default = default_ttl;
    let mut last_owner: Option<String> = None;
    move |line: usize, blank: bool, tokens: &[&str]| -> Result<(), String> {
        let at = || format!("{source}:{line}");
        if tokens[0].starts_with('$') {
            let first = tokens[0].to_ascii_uppercase();
            match (first.as_str(), tokens.get(1)) {
                ("$ORIGIN", Some(o)) => origin = absolute(o, &origin),
                ("$TTL", Some(t)) => {
                    ttl_default =
                        Some(parse_ttl(t).ok_or_else(|| format!("{}: bad $TTL '{t}'", at()))?)
                }
                (d, _) => return Err(format!("{}: directive {d} is not allowed here", at())),
            }
            return Ok(());
        }
        let mut rest = tokens;
        let owner = if blank {
            last_owner
                .clone()
                .ok_or_else(|| format!("{}: record without an owner", at()))?
        } else {
            let o = absolute(rest[0], &origin);
            rest = &rest[1..];
            o
        };
        let mut ttl = None;
        let mut class_seen = false;
        while let Some(tok) = rest.first() {
            if ttl.is_none() && tok.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
                ttl = Some(parse_ttl(tok).ok_or_else(|| format!("{}: bad TTL '{tok}'", at()))?);
            } else if !class_seen && is_class(tok) {
                if !tok.eq_ignore_ascii_case("IN") {
                    return Err(format!("{}: class {tok} is not IN", at()));
                }
                class_seen = true;
            } else {
                break;
            }
            rest = &rest[1..];
        }
        let rtype = rest
            .first()
            .ok_or_else(|| format!("{}: no type", at()))?
            .to_ascii_uppercase();
        let mut rdata: Vec<String> = rest[1..].iter().map(|t| (*t).to_owned()).collect();
        if rdata.is_empty() {
            return Err(format!("{}: {rtype} without data", at()));
        }
        for &i in name_fields(&rtype) {
            if let Some(tok) = rdata.get_mut(i) {
                *tok = absolute(tok, &origin);
            }
        }
        let ttl = match ttl.or(ttl_default) {
            Some(t) => t,
            None if rtype == "SOA" => rdata
                .get(6)
                .and_then(|m| parse_ttl(m))
                .ok_or_else(|| format!("{}: no TTL and no $TTL", at()))?,
            None => return Err(format!("{}: no TTL and no $TTL", at())),
        };
        if rtype == "SOA" && ttl_default.is_none() {
            ttl_default = rdata.get(6).and_then(|m| parse_ttl(m));
        }
        match &mut last_owner {
            Some(o) if *o == owner => {}
            _ => last_owner = Some(owner.clone()),
        }
        each(Rr {
            owner,
            ttl,
            rtype,
            rdata,
            source: Source::at(&file, u32::try_from(line).unwrap_or(u32::MAX)),
        })
    }
}

/// Checks on an assembled zone before it may be served (RFC 1035 §5.2,
/// RFC 1034 §3.6.2, RFC 2181 §10.1): exactly one SOA, at the apex; no
/// CNAME beside other data or a second CNAME; every name inside the zone;
/// the SOA serial a number.
pub fn check(records: &[Rr], zone: &str) -> Result<(), String> {
    let apex = format!("{}.", zone.trim_end_matches('.').to_ascii_lowercase());
    let soas: Vec<&Rr> = records.iter().filter(|r| r.rtype == "SOA").collect();
    match soas.as_slice() {
        [soa] if soa.owner == apex => {
            if soa.rdata.len() != 7 || soa.rdata[2].parse::<u32>().is_err() {
                return Err(format!(
                    "{}: SOA needs 7 fields with a numeric serial",
                    soa.source
                ));
            }
        }
        [soa] => {
            return Err(format!(
                "{}: SOA at {} is not at the apex {apex}",
                soa.source, soa.owner
            ))
        }
        [] => return Err(format!("{apex}: no SOA record")),
        [_, second, ..] => return Err(format!("{}: a second SOA record", second.source)),
    }
    let mut types: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in records {
        if !name::in_zone(&r.owner, &apex) {
            return Err(format!(
                "{}: {} is outside the zone {apex}",
                r.source, r.owner
            ));
        }
        let set = types.entry(r.owner.as_str()).or_default();
        if r.rtype == "CNAME" && set.contains("CNAME") {
            return Err(format!("{}: a second CNAME at {}", r.source, r.owner));
        }
        set.insert(r.rtype.as_str());
    }
    for (owner, set) in &types {
        let others = set
            .iter()
            .any(|t| !matches!(*t, "CNAME" | "RRSIG" | "NSEC" | "NSEC3"));
        if set.contains("CNAME") && others {
            let with: Vec<&str> = set.iter().copied().filter(|t| *t != "CNAME").collect();
            return Err(format!(
                "{owner}: CNAME beside other data ({})",
                with.join(", ")
            ));
        }
    }
    Ok(())
}

/// The serial of the zone's SOA.
pub fn serial(records: &[Rr]) -> Option<u32> {
    records
        .iter()
        .find(|r| r.rtype == "SOA")
        .and_then(|r| r.rdata.get(2))
        .and_then(|s| s.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOA: &str = "$TTL 1h\n@ IN SOA ns1 hostmaster ( 1 ; serial\n 7200 3600 1209600 300 )\n";

    #[test]
    fn reads_a_typical_source() {
        let text = format!(
            "{SOA}@ NS ns1\n  NS ns2.example.net.\nns1 300 IN A 127.0.0.1\nwww CNAME @\n\
             mail IN 60 MX 10 mx\n TXT \"a;b\" \"c\\\"d\"\n$ORIGIN sub.example.org.\nhost A 192.0.2.1\n"
        );
        let rrs = parse(&text, "example.org", None, "primary").expect("parse");
        let lines: Vec<String> = rrs.iter().map(Rr::render).collect();
        assert_eq!(lines[0], "example.org.\t3600\tIN\tSOA\tns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 300");
        assert_eq!(lines[1], "example.org.\t3600\tIN\tNS\tns1.example.org.");
        assert_eq!(lines[2], "example.org.\t3600\tIN\tNS\tns2.example.net.");
        assert_eq!(lines[4], "www.example.org.\t3600\tIN\tCNAME\texample.org.");
        assert_eq!(
            lines[5],
            "mail.example.org.\t60\tIN\tMX\t10 mx.example.org."
        );
        assert_eq!(
            lines[6],
            "mail.example.org.\t3600\tIN\tTXT\t\"a;b\" \"c\\\"d\""
        );
        assert_eq!(lines[7], "host.sub.example.org.\t3600\tIN\tA\t192.0.2.1");
        check(&rrs, "example.org").expect("valid");
        assert_eq!(serial(&rrs), Some(1));
    }

    #[test]
    fn refuses_what_does_not_belong() {
        for (text, why) in [
            ("$INCLUDE /etc/passwd\n", "directive $INCLUDE"),
            ("$GENERATE 1-9 h$ A 1.2.3.$\n", "directive $GENERATE"),
            ("@ TXT \"open\n", "unterminated"),
            ("@ SOA a b ( 1 2 3 4 5\n", "'(' without ')'"),
            ("@ CH TXT \"x\"\n", "class CH"),
        ] {
            let e = parse(text, "example.org", Some(60), "src").expect_err(text);
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn checks_an_assembled_zone() {
        let base = parse(SOA, "example.org", None, "soa").expect("soa");
        let with = |extra: &str| {
            let mut v = base.clone();
            v.extend(parse(extra, "example.org", Some(60), "x").expect("parse"));
            check(&v, "example.org")
        };
        assert!(with("www A 127.0.0.1\n").is_ok());
        assert!(with("www CNAME @\nwww A 127.0.0.1\n")
            .expect_err("cname")
            .contains("CNAME beside other data"));
        assert!(with("www.example.net. A 127.0.0.1\n")
            .expect_err("out")
            .contains("outside the zone"));
        assert!(with("@ SOA a b 2 1 1 1 1\n")
            .expect_err("soa")
            .contains("second SOA"));
        assert!(check(&[], "example.org")
            .expect_err("none")
            .contains("no SOA"));
    }
}
