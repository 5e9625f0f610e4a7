//! SOA serials (RFC 1982 serial number arithmetic, RFC 1035 §3.3.13): the
//! next serial is `max(scheme value, last + 1)` where "max" compares in
//! serial arithmetic, so the serial always moves forward as secondaries and
//! resolvers see it, even across the 2^32 wrap.

/// How a zone's serial is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Seconds since the epoch (the default).
    UnixTime,
    /// `YYYYMMDDnn`.
    Date,
}

impl Scheme {
    /// Parse the configuration spelling.
    pub fn parse(text: &str) -> Result<Scheme, String> {
        match text {
            "unixtime" => Ok(Scheme::UnixTime),
            "date" | "yyyymmddnn" => Ok(Scheme::Date),
            other => Err(format!("'{other}': expected unixtime or date")),
        }
    }

    /// The scheme's value for `now` (seconds since the epoch).
    pub fn value(self, now: i64) -> u32 {
        match self {
            Scheme::UnixTime => now as u32,
            Scheme::Date => {
                let d = certdrop_core::clock::date(now).replace('-', "");
                d.parse::<u32>().map(|v| v.wrapping_mul(100)).unwrap_or(0)
            }
        }
    }
}

/// `a > b` in RFC 1982 §3.2 arithmetic (SERIAL_BITS = 32).
pub fn greater(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < (1 << 31)
}

/// The next serial after `last` for `now`.
pub fn next(scheme: Scheme, last: Option<u32>, now: i64) -> u32 {
    let want = scheme.value(now);
    match last {
        None => want,
        Some(last) => {
            let bumped = last.wrapping_add(1);
            if greater(want, bumped) {
                want
            } else {
                bumped
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_arithmetic() {
        assert!(greater(2, 1));
        assert!(!greater(1, 2));
        assert!(greater(0, u32::MAX), "wraps forward");
        assert!(!greater(5, 5));
    }

    #[test]
    fn next_serials() {
        let now = 1_795_488_574; // 2026-11-24
        assert_eq!(next(Scheme::UnixTime, None, now), 1_795_488_574);
        assert_eq!(
            next(Scheme::UnixTime, Some(1_795_488_574), now),
            1_795_488_575
        );
        assert_eq!(next(Scheme::UnixTime, Some(5), now), 1_795_488_574);
        assert_eq!(next(Scheme::Date, None, now), 2_026_112_400);
        assert_eq!(next(Scheme::Date, Some(2_026_112_400), now), 2_026_112_401);
        // A serial "ahead" of the scheme keeps counting from itself.
        assert_eq!(next(Scheme::Date, Some(2_026_112_499), now), 2_026_112_500);
        assert_eq!(next(Scheme::UnixTime, Some(u32::MAX), 0), 0, "wraps");
    }
}
