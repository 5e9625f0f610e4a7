//! ssh_config(5) PATTERNS as ssh-keygen matches an allowed_signers entry's
//! principals and `namespaces=` option (OpenSSH match.c,
//! `match_pattern_list` with case kept): a comma-separated list of
//! patterns, `*` any run of bytes, `?` any one byte, a leading `!` negates.
//! The list matches when some plain pattern matches and no negated one
//! does. There is no syntax error in a pattern; a pattern longer than
//! OpenSSH's buffer makes the whole list fail to match, as there.

/// Longest single pattern OpenSSH matches (its `sub[1024]` buffer, with
/// room for the terminating NUL); a longer one fails the whole list.
const MAX_PATTERN: usize = 1022;

/// Whether `text` matches the pattern `list`.
pub fn matches_list(text: &str, list: &str) -> bool {
    let mut positive = false;
    // An empty list holds no pattern at all (OpenSSH loops over nothing).
    if list.is_empty() {
        return false;
    }
    // A trailing comma ends the list; it does not add an empty pattern.
    let list = list.strip_suffix(',').unwrap_or(list);
    for pattern in list.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if pattern.len() > MAX_PATTERN {
            return false;
        }
        if matches(text.as_bytes(), pattern.as_bytes()) {
            if negated {
                return false;
            }
            positive = true;
        }
    }
    positive
}

/// One pattern against `text`, byte by byte.
pub fn matches(text: &[u8], pattern: &[u8]) -> bool {
    let (mut t, mut p) = (0, 0);
    // Where the last `*` was, and the text position it stands for.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_follow_openssh() {
        assert!(matches_list("www@example.org", "*@example.org"));
        assert!(matches_list("a", "b,a"));
        assert!(!matches_list("bad@example.org", "*@example.org,!bad@*"));
        assert!(!matches_list("bad@example.org", "!bad@*,*@example.org"));
        assert!(matches_list("ab", "a?"));
        assert!(!matches_list("abc", "a?"));
        assert!(!matches_list("A", "a"), "case is kept");
        assert!(!matches_list("a", ""));
        assert!(
            matches_list("", ","),
            "an empty pattern matches the empty text"
        );
        assert!(!matches_list("", "a,"), "a trailing comma adds no pattern");
        assert!(!matches_list("a", "!b"), "negation alone admits nothing");
        // `?` is one byte: a two-byte character needs two.
        assert!(!matches_list("é", "?") && matches_list("é", "??"));
        let long = "x".repeat(MAX_PATTERN + 1);
        assert!(!matches_list("a", &format!("a,{long}")));
        assert!(matches_list("a", &format!("a,{}", &long[1..])));
        assert!(matches(b"abbc", b"a*c") && !matches(b"abbc", b"a?c"));
        assert!(matches(b"aXbXc", b"*b*c") && matches(b"", b"**"));
    }
}
