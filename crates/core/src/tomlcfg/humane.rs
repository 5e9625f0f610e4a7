//! serde's messages retold for a sysadmin: serde names the Rust type it
//! wanted (`invalid type: string "eight", expected usize`), the reader of
//! a configuration file knows "a whole number" and the key. This module
//! rewrites the words; tomlcfg adds file, line and key.

/// A message, retold.
#[derive(Debug, PartialEq, Eq)]
pub enum Retold {
    /// About a key serde names itself (missing, unknown, duplicate): the
    /// key, and what is wrong with it.
    Key(String, String),
    /// About the value at the error's span: what is wrong with it.
    Value(String),
    /// Not serde's: TOML syntax, which toml says well enough.
    Syntax,
}

/// Retell one of serde's messages (serde::de::Error's wording, as serde
/// 1.x writes it); anything else is TOML syntax.
pub fn retell(message: &str) -> Retold {
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((got, want)) = rest.rsplit_once(", expected ") {
            return Retold::Value(format!("expected {}, not {}", wanted(want), got_text(got)));
        }
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        if let Some((got, want)) = rest.rsplit_once(", expected ") {
            return Retold::Value(format!(
                "{} is out of range: expected {}",
                got_text(got),
                wanted(want)
            ));
        }
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        if let Some((got, want)) = rest.split_once(", expected ") {
            return Retold::Value(format!("{got} values, expected {}", wanted(want)));
        }
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let (got, want) = rest.split_once(", expected ").unwrap_or((rest, ""));
        return Retold::Value(format!("'{}': expected{}", unquote(got), choices(want)));
    }
    for (prefix, why) in [
        ("missing field ", "missing"),
        ("duplicate field ", "given twice"),
        ("unknown field ", "unknown key"),
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (key, want) = rest.split_once(", expected ").unwrap_or((rest, ""));
            let hint = match rest.split_once(", there are no fields") {
                Some(_) => " (this table has no keys)".to_string(),
                None if want.is_empty() => String::new(),
                None => format!(" (expected{})", choices(want)),
            };
            let key = key.split(", there are no fields").next().unwrap_or(key);
            return Retold::Key(unquote(key), format!("{why}{hint}"));
        }
    }
    // Our own deserializers' messages (durations, names) start with the
    // quoted value they refuse: the key is what they lack.
    if message.starts_with('\'') {
        return Retold::Value(message.to_string());
    }
    Retold::Syntax
}

/// serde's `Unexpected` in words: `string "eight"` → `"eight"`,
/// ``integer `-1` `` → `-1`, `sequence` → `a list`.
fn got_text(got: &str) -> String {
    if let Some(s) = got.strip_prefix("string ") {
        return s.to_string();
    }
    for prefix in ["integer ", "floating point ", "boolean ", "character "] {
        if let Some(v) = got.strip_prefix(prefix) {
            return unquote(v);
        }
    }
    match got {
        "sequence" => "a list".into(),
        "map" => "a table".into(),
        "unit value" | "unit" => "nothing".into(),
        other => other.to_string(),
    }
}

/// What serde expected, in words: Rust's integer types become whole
/// numbers with their range, `a sequence` a list, a struct a table.
fn wanted(want: &str) -> String {
    let range = |lo: &str, hi: &str| format!("a whole number from {lo} to {hi}");
    match want.trim() {
        "u8" => range("0", "255"),
        "u16" => range("0", "65535"),
        "u32" => range("0", "4294967295"),
        "u64" | "usize" | "u128" => "a whole number, 0 or more".into(),
        "i8" => range("-128", "127"),
        "i16" => range("-32768", "32767"),
        "i32" => range("-2147483648", "2147483647"),
        "i64" | "isize" | "i128" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "true or false".into(),
        "a string" | "a borrowed string" | "a char" | "a character" => "a quoted string".into(),
        "a sequence" => "a list [...]".into(),
        "a map" => "a table".into(),
        w if w.starts_with("struct ") || w.starts_with("a map") => "a table".into(),
        w if w.starts_with("tuple") || w.starts_with("a tuple") => "a list [...]".into(),
        w if w.starts_with("a nonzero ") || w == "a non-zero" => "a whole number above 0".into(),
        w if w.starts_with("a ") || w.starts_with("an ") => w.to_string(),
        w => w.to_string(),
    }
}

/// `` `a`, `b`, `c` `` → ` one of: a, b, c`; "" → "".
fn choices(want: &str) -> String {
    let want = want.trim();
    if want.is_empty() {
        return String::new();
    }
    let list = want
        .strip_prefix("one of ")
        .unwrap_or(want)
        .split([',', ' '])
        .filter(|w| !w.is_empty() && *w != "or")
        .map(unquote)
        .collect::<Vec<_>>();
    match list.as_slice() {
        [one] => format!(" {one}"),
        [a, b] => format!(" {a} or {b}"),
        _ => format!(" one of: {}", list.join(", ")),
    }
}

/// `` `x` `` → `x`.
fn unquote(s: &str) -> String {
    s.trim().trim_matches('`').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_types_become_words() {
        assert_eq!(
            retell(r#"invalid type: string "eight", expected usize"#),
            Retold::Value(r#"expected a whole number, 0 or more, not "eight""#.into())
        );
        assert_eq!(
            retell("invalid value: integer `-1`, expected usize"),
            Retold::Value("-1 is out of range: expected a whole number, 0 or more".into())
        );
        assert_eq!(
            retell("invalid value: integer `300`, expected u8"),
            Retold::Value("300 is out of range: expected a whole number from 0 to 255".into())
        );
        assert_eq!(
            retell("invalid type: integer `5`, expected a string"),
            Retold::Value("expected a quoted string, not 5".into())
        );
        assert_eq!(
            retell("invalid type: string \"yes\", expected a boolean"),
            Retold::Value("expected true or false, not \"yes\"".into())
        );
        assert_eq!(
            retell("invalid type: string \"a\", expected a sequence"),
            Retold::Value("expected a list [...], not \"a\"".into())
        );
        assert_eq!(
            retell("invalid type: floating point `1.5`, expected u32"),
            Retold::Value("expected a whole number from 0 to 4294967295, not 1.5".into())
        );
        assert_eq!(
            retell("invalid type: sequence, expected struct RawEab"),
            Retold::Value("expected a table, not a list".into())
        );
    }

    #[test]
    fn keys_serde_names() {
        assert_eq!(
            retell("missing field `certs`"),
            Retold::Key("certs".into(), "missing".into())
        );
        assert_eq!(
            retell("unknown field `kep`, expected `certs` or `keep`"),
            Retold::Key("kep".into(), "unknown key (expected certs or keep)".into())
        );
        assert_eq!(
            retell("unknown field `x`, expected one of `a`, `b`, `c`"),
            Retold::Key("x".into(), "unknown key (expected one of: a, b, c)".into())
        );
        assert_eq!(
            retell("unknown variant `fast`, expected `reuse` or `fresh`"),
            Retold::Value("'fast': expected reuse or fresh".into())
        );
        assert_eq!(
            retell("'3x': unknown unit 'x' (s, m, h, d, w)"),
            Retold::Value("'3x': unknown unit 'x' (s, m, h, d, w)".into())
        );
        assert_eq!(retell("invalid table header"), Retold::Syntax);
    }
}
