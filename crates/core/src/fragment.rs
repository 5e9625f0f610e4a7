//! dns-01 fragments in `dnsextra/` (DESIGN.md, "Drop-directory formats"):
//! one file per TXT value, one line
//! `_acme-challenge.www.example.org. 60 IN TXT "<43 base64url chars>"`.
//! The issuer renders them here; readers parse each file alone with this
//! strict grammar (RFC 1035 §5.1 master-file syntax, reduced to the one
//! record shape RFC 8555 §8.4 needs). The zone compiler adds the checks that
//! need the file itself (owner, type, size) and the zones it builds.
//!
//! Beside the fragments, the issuer leaves a *completion marker*
//! ([`MARKER_PREFIX`]): an empty dot file renamed into place after every
//! fragment of an order, saying "the set is complete", so that a watching
//! zone compiler builds at once instead of waiting for a quiet spell.
//! Readers never open a marker; only its name counts.

use crate::name;

/// Length of a dns-01 value: base64url of a SHA-256 digest, unpadded.
pub const VALUE_LEN: usize = 43;
/// TTL the issuer writes: short, so a stale value leaves caches soon.
pub const DEFAULT_TTL: u32 = 60;
/// Smallest TTL a reader accepts.
pub const MIN_TTL: u32 = 0;
/// Largest TTL a reader accepts.
pub const MAX_TTL: u32 = 3600;
/// Largest fragment file a reader accepts, in bytes.
pub const MAX_FILE: usize = 512;
/// Owner label every fragment starts with.
pub const PREFIX: &str = "_acme-challenge.";

/// Prefix of a completion marker's file name, `.complete.<tag>`: a dot
/// file, so a reader that does not know markers skips it as a writer's
/// temporary file, and it never looks like a fragment (whose names start
/// with [`PREFIX`]).
pub const MARKER_PREFIX: &str = ".complete.";

/// The completion marker's file name for `tag` (the issuer's line name,
/// already a safe file name).
pub fn marker_name(tag: &str) -> String {
    format!("{MARKER_PREFIX}{tag}")
}

/// Whether the file name `name` is a completion marker.
pub fn is_marker(name: &str) -> bool {
    name.len() > MARKER_PREFIX.len() && name.starts_with(MARKER_PREFIX)
}

/// One dns-01 TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Absolute owner name, lowercase, with trailing dot.
    pub owner: String,
    /// Time to live in seconds.
    pub ttl: u32,
    /// The 43-character base64url value.
    pub value: String,
}

impl Fragment {
    /// A fragment for `owner` (absolute or not) and `value`, checked.
    pub fn new(owner: &str, ttl: u32, value: &str) -> Result<Fragment, String> {
        let owner = format!("{}.", owner.trim_end_matches('.').to_ascii_lowercase());
        check_owner(&owner)?;
        check_value(value)?;
        check_ttl(ttl)?;
        Ok(Fragment {
            owner,
            ttl,
            value: value.to_owned(),
        })
    }

    /// The one line written to the file, with newline.
    pub fn render(&self) -> String {
        format!("{} {} IN TXT \"{}\"\n", self.owner, self.ttl, self.value)
    }

    /// The file name for this fragment: owner and value, both from safe
    /// alphabets, so a name never needs quoting and never collides.
    pub fn file_name(&self) -> String {
        format!("{}{}", self.owner, self.value)
    }

    /// Parse the text of one fragment file as the issuer writes it: exactly
    /// one record, nothing else.
    pub fn parse(text: &str) -> Result<Fragment, String> {
        let mut all = parse_file(text)?;
        if all.len() != 1 {
            return Err("more than one record".into());
        }
        Ok(all.remove(0))
    }
}

/// Parse a fragment file as hooks in the field write them (acme.sh,
/// dehydrated): one record per line, each alone; if one line is bad, the
/// whole file is refused. `OWNER [TTL] [IN] TXT "VALUE"`, TTL and class in
/// either order (RFC 1035 §5.1).
pub fn parse_file(text: &str) -> Result<Vec<Fragment>, String> {
    if text.len() > MAX_FILE {
        return Err(format!("larger than {MAX_FILE} bytes"));
    }
    if let Some(b) = text
        .bytes()
        .find(|b| !(b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\n' | b'\r')))
    {
        return Err(format!("contains byte 0x{b:02x} (control or non-ASCII)"));
    }
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let f = parse_line(line).map_err(|why| {
            if text.lines().filter(|l| !l.trim().is_empty()).count() > 1 {
                format!("line {}: {why}", n + 1)
            } else {
                why
            }
        })?;
        out.push(f);
    }
    if out.is_empty() {
        return Err("empty".into());
    }
    Ok(out)
}

/// Parse one record line.
fn parse_line(line: &str) -> Result<Fragment, String> {
    if line.starts_with([' ', '\t']) {
        return Err("starts with a blank (inherited owner)".into());
    }
    if line.starts_with('$') {
        return Err(format!(
            "directive {} is not allowed",
            line.split_whitespace().next().unwrap_or("$")
        ));
    }
    if line.starts_with('@') {
        return Err("owner '@' (relative to an origin) is not allowed".into());
    }
    let (head, rest) = match line.split_once('"') {
        Some((h, r)) => (h, Some(r)),
        None => (line, None),
    };
    let fields: Vec<&str> = head.split_whitespace().collect();
    // After the owner: TTL and class in either order, then the type.
    let type_at = fields
        .iter()
        .skip(1)
        .position(|f| !f.bytes().all(|b| b.is_ascii_digit()) && !f.eq_ignore_ascii_case("IN"))
        .map(|i| i + 1)
        .ok_or("expected: OWNER TTL IN TXT \"VALUE\"")?;
    let rtype = fields[type_at];
    if matches!(
        rtype.to_ascii_uppercase().as_str(),
        "CH" | "HS" | "CS" | "NONE" | "ANY"
    ) {
        return Err(format!("class {rtype} is not allowed"));
    }
    if !rtype.eq_ignore_ascii_case("TXT") {
        return Err(format!("type {rtype} is not allowed"));
    }
    if line.contains(['(', ')']) {
        return Err("parentheses are not allowed".into());
    }
    if line.contains(';') {
        return Err("comments are not allowed".into());
    }
    if line.contains('\\') {
        return Err("escapes are not allowed".into());
    }
    let rest = rest.ok_or("no quoted TXT value")?;
    let value = rest
        .trim_end()
        .strip_suffix('"')
        .ok_or("unbalanced quotes")?;
    if value.contains('"') {
        return Err("unbalanced quotes or more than one string".into());
    }
    if value.len() > 255 {
        return Err("character-string over 255 octets".into());
    }
    if fields.len() != type_at + 1 {
        return Err("expected: OWNER TTL IN TXT \"VALUE\"".into());
    }
    let owner = fields[0];
    let mut ttl = None;
    let mut class = None;
    for f in &fields[1..type_at] {
        if f.eq_ignore_ascii_case("IN") && class.is_none() {
            class = Some(*f);
        } else if f.bytes().all(|b| b.is_ascii_digit()) && ttl.is_none() {
            if f.len() > 10 {
                return Err(format!("TTL '{f}' out of range"));
            }
            ttl = Some(
                f.parse::<u64>()
                    .ok()
                    .and_then(|t| u32::try_from(t).ok())
                    .ok_or_else(|| format!("TTL '{f}' out of range"))?,
            );
        } else {
            return Err(format!("unexpected field '{f}'"));
        }
    }
    let ttl = ttl.unwrap_or(DEFAULT_TTL);
    check_ttl(ttl)?;
    if !owner.ends_with('.') {
        return Err(format!("owner '{owner}' is not absolute"));
    }
    let owner = owner.to_ascii_lowercase();
    check_owner(&owner)?;
    check_value(value)?;
    Ok(Fragment {
        owner,
        ttl,
        value: value.to_owned(),
    })
}

fn check_ttl(ttl: u32) -> Result<(), String> {
    if !(MIN_TTL..=MAX_TTL).contains(&ttl) {
        return Err(format!("TTL {ttl} outside {MIN_TTL}..{MAX_TTL}"));
    }
    Ok(())
}

fn check_owner(owner: &str) -> Result<(), String> {
    let rest = owner
        .strip_prefix(PREFIX)
        .ok_or_else(|| format!("owner '{owner}' does not start with {PREFIX}"))?;
    name::domain(rest, false).map_err(|why| format!("owner: {why}"))?;
    Ok(())
}

/// Check a dns-01 value: exactly 43 base64url characters.
pub fn check_value(value: &str) -> Result<(), String> {
    if value.len() != VALUE_LEN
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!("value is not {VALUE_LEN} base64url characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "xKyfkr_Vt1jySkWEasJE_mI7IEkKQ-CnJIrVTqcldVA";

    #[test]
    fn markers_are_dot_files_never_fragment_names() {
        assert_eq!(marker_name("www"), ".complete.www");
        assert!(is_marker(&marker_name("www")));
        assert!(!is_marker(".complete."));
        assert!(!is_marker(".tmp.complete.www"));
        let f = Fragment::new("_acme-challenge.complete.example.org", 60, V).expect("valid");
        assert!(!is_marker(&f.file_name()));
    }

    #[test]
    fn round_trip() {
        let f = Fragment::new("_acme-challenge.WWW.example.org", 60, V).expect("valid");
        assert_eq!(
            f.render(),
            format!("_acme-challenge.www.example.org. 60 IN TXT \"{V}\"\n")
        );
        assert_eq!(Fragment::parse(&f.render()), Ok(f));
    }

    #[test]
    fn field_format_of_hook_scripts_is_accepted() {
        let line = format!("_acme-challenge.www.example.org. 60 IN TXT \"{V}\"");
        assert!(Fragment::parse(&line).is_ok());
    }

    #[test]
    fn hostile_lines_are_rejected() {
        let bad = [
            format!("_acme-challenge.www.example.org. 60 IN MX 10 \"{V}\""),
            format!("_acme-challenge.www.example.org 60 IN TXT \"{V}\""),
            format!(" 60 IN TXT \"{V}\""),
            "$INCLUDE /etc/passwd\n".to_string(),
            format!("_acme-challenge.www.example.org. 60 IN TXT ( \"{V}\" )"),
            format!("_acme-challenge.www.example.org. 60 IN TXT \"{V}"),
            format!("_acme-challenge.www.example.org. 60 IN TXT \"{V}\" \"{V}\""),
            format!("www.example.org. 60 IN TXT \"{V}\""),
            format!("_acme-challenge.*.example.org. 60 IN TXT \"{V}\""),
            "_acme-challenge.www.example.org. 60 IN TXT \"short\"".to_string(),
            format!("_acme-challenge.www.example.org. 99999 IN TXT \"{V}\""),
            format!("_acme-challenge.www.example.org. 60 IN TYPE16 \\# 44 2b{V}"),
            format!("_acme-challenge.www.example.org. 60 IN TXT \"{V}\"\n_acme-challenge.x.example.org. 60 IN TXT \"{V}\""),
            format!("_acme-challenge.www.exämple.org. 60 IN TXT \"{V}\""),
            format!("_acme-challenge.www.example.org. 60 CH TXT \"{V}\""),
            format!("_acme-challenge.www.example.org. 60 IN TXT \"{V}\"\u{7}"),
        ];
        for line in bad {
            assert!(Fragment::parse(&line).is_err(), "accepted: {line}");
        }
    }
}
