//! crontab(5) times as cron(8) reads them, checked before they reach a
//! rendered crontab: a time crontab(1) would refuse (a field out of its
//! range, a step of 0, a range that runs backwards) or one that can never
//! fire (`0 0 31 2 *`) is refused with the site, where its line is known,
//! rather than found out when nothing runs.
//!
//! The grammar is cron's, a little more permissive where cron
//! implementations differ (names in ranges, `n/step`): a list of `*`,
//! `n` or `n-m`, each with an optional `/step`; names (jan-dec, sun-sat)
//! in the month and day-of-week fields; day of week 7 is Sunday.

/// One field: its name in messages, its range, and its names (index 0 is
/// the value `first`).
struct Field {
    what: &'static str,
    first: u32,
    last: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field {
        what: "minute",
        first: 0,
        last: 59,
        names: &[],
    },
    Field {
        what: "hour",
        first: 0,
        last: 23,
        names: &[],
    },
    Field {
        what: "day of month",
        first: 1,
        last: 31,
        names: &[],
    },
    Field {
        what: "month",
        first: 1,
        last: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    },
    Field {
        what: "day of week",
        first: 0,
        last: 7,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    },
];

/// The `@` words cron(8) knows.
const WORDS: [&str; 8] = [
    "reboot", "yearly", "annually", "monthly", "weekly", "daily", "midnight", "hourly",
];

/// Days in each month, February in a leap year (a time for February 29
/// does fire, every four years).
const MONTH_DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// Check a crontab(5) time: `Err(why)`, the time quoted, when cron would
/// refuse it or it would never fire.
pub fn check(when: &str) -> Result<(), String> {
    if let Some(word) = when.strip_prefix('@') {
        if WORDS.contains(&word) {
            return Ok(());
        }
        return Err(format!("'{when}': not a crontab(5) time"));
    }
    let fields: Vec<&str> = when.split_whitespace().collect();
    let shaped = fields.len() == 5
        && fields.iter().all(|f| {
            f.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b',' | b'-' | b'/'))
        });
    if !shaped {
        return Err(format!(
            "'{when}': not a crontab(5) time (five fields, e.g. \"27 11 * * *\")"
        ));
    }
    let mut sets = Vec::new();
    for (text, field) in fields.iter().zip(&FIELDS) {
        sets.push(values(text, field).map_err(|why| format!("'{when}': {why}"))?);
    }
    // cron(8) matches the day when the day of month or the day of week
    // matches, unless one of the two starts with `*`: then the other alone
    // decides. With the day of week `*`, the days of month must occur in
    // one of the months.
    if fields[4].starts_with('*') && !fields[2].starts_with('*') {
        let (days, months) = (&sets[2], &sets[3]);
        let fires = months
            .iter()
            .any(|m| days.iter().any(|d| *d <= MONTH_DAYS[*m as usize - 1]));
        if !fires {
            return Err(format!(
                "'{when}': never fires: no month of {} has a day {}",
                list(months),
                list(days)
            ));
        }
    }
    Ok(())
}

/// The values a field's list selects.
fn values(text: &str, f: &Field) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .map_err(|_| format!("{}: step '{s}' in '{item}' is not a number", f.what))?;
                if step == 0 {
                    return Err(format!("{}: step 0 in '{item}'", f.what));
                }
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (f.first, f.last)
        } else if let Some((a, b)) = range.split_once('-') {
            let (lo, hi) = (value(a, f)?, value(b, f)?);
            if lo > hi {
                return Err(format!("{}: range '{range}' runs backwards", f.what));
            }
            (lo, hi)
        } else {
            let v = value(range, f)?;
            // `n/step` counts from n to the end of the range.
            (v, if step > 1 { f.last } else { v })
        };
        out.extend((lo..=hi).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// One number or name of a field, within its range.
fn value(text: &str, f: &Field) -> Result<u32, String> {
    if let Some(i) = f.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(f.first + i as u32);
    }
    let n: u32 = text.parse().map_err(|_| {
        format!(
            "{}: '{text}' is not a number{}",
            f.what,
            if f.names.is_empty() { "" } else { " or a name" }
        )
    })?;
    if n < f.first || n > f.last {
        return Err(format!(
            "{}: {n} is out of range {}-{}",
            f.what, f.first, f.last
        ));
    }
    Ok(n)
}

/// "2, 4 or 6", for messages.
fn list(v: &[u32]) -> String {
    let words: Vec<String> = v.iter().map(|n| n.to_string()).collect();
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => words.join(""),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn times_cron_accepts_pass() {
        for t in [
            "27 11 * * *",
            "*/5 * * * *",
            "0 0 29 feb *",
            "0 0 31 2 mon",
            "0 0 1-7 * 1",
            "0 22 * * Mon-Fri",
            "0,30 8-18/2 * jan-jun,dec 0,7",
            "5/10 * * * *",
            "@hourly",
        ] {
            assert_eq!(check(t), Ok(()), "{t}");
        }
    }

    #[test]
    fn times_that_cannot_work_say_why() {
        for (t, why) in [
            (
                "60 * * * *",
                "'60 * * * *': minute: 60 is out of range 0-59",
            ),
            ("0 24 * * *", "'0 24 * * *': hour: 24 is out of range 0-23"),
            (
                "0 0 0 * *",
                "'0 0 0 * *': day of month: 0 is out of range 1-31",
            ),
            ("0 0 * 13 *", "'0 0 * 13 *': month: 13 is out of range 1-12"),
            (
                "0 0 * * 8",
                "'0 0 * * 8': day of week: 8 is out of range 0-7",
            ),
            ("*/0 * * * *", "'*/0 * * * *': minute: step 0 in '*/0'"),
            (
                "0 5-2 * * *",
                "'0 5-2 * * *': hour: range '5-2' runs backwards",
            ),
            (
                "0 0 * foo *",
                "'0 0 * foo *': month: 'foo' is not a number or a name",
            ),
            ("0 mon * * *", "'0 mon * * *': hour: 'mon' is not a number"),
            (
                "0 0 31 2 *",
                "'0 0 31 2 *': never fires: no month of 2 has a day 31",
            ),
            (
                "0 0 30,31 feb *",
                "'0 0 30,31 feb *': never fires: no month of 2 has a day 30 or 31",
            ),
            (
                "0 0 31 4,6,9,11 *",
                "'0 0 31 4,6,9,11 *': never fires: no month of 4, 6, 9 or 11 has a day 31",
            ),
            ("@fortnightly", "'@fortnightly': not a crontab(5) time"),
        ] {
            assert_eq!(check(t), Err(why.to_string()), "{t}");
        }
    }
}
