//! Durations in configuration files: an integer and a unit (`30s`, `15m`,
//! `12h`, `30d`, `2w`), parsed once here so every binary reads them alike.

use std::time::Duration;

/// Parse `"<n><unit>"` with unit s, m, h, d or w.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("'{text}': missing unit (s, m, h, d, w)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{text}': expected a number followed by a unit"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("'{text}': unknown unit '{unit}' (s, m, h, d, w)")),
    };
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{text}': too large"))
}

/// [`parse`], refusing zero: a clap `value_parser` for the `--interval`
/// of every `watch` mode.
pub fn positive(text: &str) -> Result<Duration, String> {
    match parse(text)? {
        d if d.is_zero() => Err(format!("'{text}': must be more than zero")),
        d => Ok(d),
    }
}

/// Render a duration in the largest unit that divides it.
pub fn render(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, n) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= n && s % n == 0 {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

/// Serde adapter: `#[serde(with = "certdrop_core::duration::serde_text")]`.
pub mod serde_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Deserialize from `"30d"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }

    /// Serialize as `"30d"`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::render(*d))
    }
}

/// Serde adapter for `Option<Duration>`.
pub mod serde_text_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Deserialize from `"30d"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }

    /// Serialize as `"30d"`.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&super::render(*d)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse("30").is_err());
        assert!(parse("x3d").is_err());
        assert!(parse("3y").is_err());
        assert_eq!(render(Duration::from_secs(7200)), "2h");
        assert_eq!(render(Duration::from_secs(61)), "61s");
    }
}
