//! The timestamps of an allowed_signers entry (`valid-after=`,
//! `valid-before=`), read as OpenSSH reads them (misc.c
//! `parse_absolute_time`, then sshsig.c's options parser):
//!
//! - `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, each field the fixed
//!   number of characters OpenSSH cuts it to, then read by strptime(3):
//!   blanks before a field's digits are skipped, and the field must be in
//!   strptime's range (month 1-12, day 1-31, hour 0-23, minute 0-59,
//!   second 0-61 as glibc's strptime reads `%S`);
//! - followed by `Z` or `UTC` in any case for UTC, or nothing for local
//!   time (mktime(3) with the TZ of the process, as ssh-keygen);
//! - out-of-range days and leap seconds roll over as timegm(3) and
//!   mktime(3) roll them (31 February is 2 March);
//! - an instant at or before 1970-01-01T00:00:00Z is refused (OpenSSH
//!   takes 0 for "not set" and a negative time for an error).

/// Seconds since the epoch of an allowed_signers timestamp.
pub fn parse(text: &str) -> Result<i64, String> {
    let bad = || format!("timestamp '{text}': expected YYYYMMDD[HHMM[SS]], then Z or UTC for UTC");
    let b = text.as_bytes();
    let (digits, utc) = if b.len() > 1 && b[b.len() - 1].eq_ignore_ascii_case(&b'z') {
        (&b[..b.len() - 1], true)
    } else if b.len() > 3 && b[b.len() - 3..].eq_ignore_ascii_case(b"utc") {
        (&b[..b.len() - 3], true)
    } else {
        (b, false)
    };
    if !matches!(digits.len(), 8 | 12 | 14) {
        return Err(bad());
    }
    // (start, end, lowest, highest) of each field, strptime's ranges.
    const FIELDS: [(usize, usize, i64, i64); 6] = [
        (0, 4, 0, 9999),
        (4, 6, 1, 12),
        (6, 8, 1, 31),
        (8, 10, 0, 23),
        (10, 12, 0, 59),
        (12, 14, 0, 61),
    ];
    let mut v = [0i64, 1, 1, 0, 0, 0];
    for (i, &(start, end, low, high)) in FIELDS.iter().enumerate() {
        if end > digits.len() {
            break;
        }
        v[i] = field(&digits[start..end], low, high).ok_or_else(bad)?;
    }
    let [y, m, d, hh, mm, ss] = v;
    let t = if utc {
        (days_from_civil(y, m, 1) + d - 1) * 86_400 + hh * 3600 + mm * 60 + ss
    } else {
        local(y, m, d, hh, mm, ss)
    };
    if t <= 0 {
        return Err(format!(
            "timestamp '{text}': not after 1970-01-01T00:00:00Z"
        ));
    }
    Ok(t)
}

/// One field as strptime(3) reads a number: blanks, then one or more
/// digits up to the end of the field, within `low..=high`.
fn field(text: &[u8], low: i64, high: i64) -> Option<i64> {
    let start = text
        .iter()
        .position(|c| !c.is_ascii_whitespace() && *c != 0x0b)?;
    let digits = &text[start..];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
    (low..=high).contains(&n).then_some(n)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
/// certdrop-core's clock conversion).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// mktime(3) of a local time, with `tm_isdst` 0 as OpenSSH leaves it
/// (it zeroes the struct before strptime); -1 when mktime fails.
fn local(y: i64, m: i64, d: i64, hh: i64, mm: i64, ss: i64) -> i64 {
    // The fields are range-checked above: they fit a C int.
    let int = |v: i64| libc::c_int::try_from(v).unwrap_or(libc::c_int::MAX);
    // SAFETY: `tm` is a plain C struct; all zero is a valid value (a null
    // tm_zone where the platform has one), and mktime only reads and
    // normalizes the struct it is given.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = int(y - 1900);
    tm.tm_mon = int(m - 1);
    tm.tm_mday = int(d);
    tm.tm_hour = int(hh);
    tm.tm_min = int(mm);
    tm.tm_sec = int(ss);
    tm.tm_isdst = 0;
    // SAFETY: a valid, exclusively borrowed struct tm.
    let t = unsafe { libc::mktime(&mut tm) };
    // time_t is 64 bits here but 32 on some platforms (FreeBSD i386).
    #[allow(clippy::useless_conversion)]
    i64::from(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_openssh_reads() {
        assert_eq!(parse("20261124Z"), Ok(1_795_478_400));
        assert_eq!(parse("20261124z"), Ok(1_795_478_400));
        assert_eq!(parse("20261124UTC"), Ok(1_795_478_400));
        assert_eq!(parse("20261124utc"), Ok(1_795_478_400));
        assert_eq!(parse("202611240249Z"), Ok(1_795_488_540));
        assert_eq!(parse("20261124024934Z"), Ok(1_795_488_574));
        // Leap seconds and day overflow roll over as timegm(3) does.
        assert_eq!(parse("20261124024960Z"), Ok(1_795_488_600));
        assert_eq!(parse("20261124024961Z"), Ok(1_795_488_601));
        assert_eq!(parse("20260231Z"), parse("20260303Z"));
        // strptime skips blanks before a number.
        assert_eq!(parse("2026 1 1Z"), parse("20260101Z"));
        for bad in [
            "20261124024962Z",
            "20261324Z",
            "20261100Z",
            "20261132Z",
            "202611242400Z",
            "202611240060Z",
            "2026112Z",
            "2026112 Z",
            "+0261124Z",
            "19700101Z",
            "19691231Z",
            "Z",
            "",
            "20261124ZZ",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
