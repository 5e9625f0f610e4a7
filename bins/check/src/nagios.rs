//! The Nagios/Icinga plugin form of a report (Nagios plugin development
//! guidelines, "Plugin Output" and "Performance data"): one line,
//! `CERTDROP STATUS - text | perfdata`, and the exit code 0 OK, 1 WARNING,
//! 2 CRITICAL, 3 UNKNOWN. The performance data gives each line's fewest
//! days left, `'LINE'=DAYS;WARN:;CRIT:;;` (a range `N:` alerts below N,
//! which is what days left wants), or `U` when no copy could be read.

use crate::report::{Line, Report};

/// The service name that starts the status line.
const SERVICE: &str = "CERTDROP";

/// The one status line for a report.
pub fn render(report: &Report) -> String {
    let [ok, warning, critical, unknown] = report.counts();
    // The worst problem of each line that has one, worst lines first: a
    // status line to read at a glance; --json and `run` list them all.
    let mut lines: Vec<&Line> = report
        .lines
        .iter()
        .filter(|l| !l.problems.is_empty())
        .collect();
    lines.sort_by_key(|l| std::cmp::Reverse(l.status));
    let problems: Vec<String> = lines
        .iter()
        .map(|l| match l.problems.len() {
            1 => l.problems[0].text.clone(),
            n => format!("{} (+{} more)", l.problems[0].text, n - 1),
        })
        .collect();
    let text = match (report.lines.is_empty(), problems.is_empty()) {
        (true, _) => "no certificate line found".to_string(),
        (false, true) => {
            let soonest = report
                .lines
                .iter()
                .filter_map(|l| l.days_left().map(|d| (d, &l.line)))
                .min_by(|a, b| a.0.total_cmp(&b.0));
            match soonest {
                Some((d, name)) => format!(
                    "{ok} line(s) ok, soonest expiry: {name} in {:.0} day(s)",
                    d.floor()
                ),
                None => format!("{ok} line(s) ok"),
            }
        }
        (false, false) => {
            let mut counts = Vec::new();
            for (n, word) in [
                (critical, "critical"),
                (warning, "warning"),
                (unknown, "unknown"),
                (ok, "ok"),
            ] {
                if n > 0 {
                    counts.push(format!("{n} {word}"));
                }
            }
            format!("{}: {}", counts.join(", "), problems.join("; "))
        }
    };
    let perf: Vec<String> = report
        .lines
        .iter()
        .map(|l| {
            let value = l.days_left().map_or("U".to_string(), |d| format!("{d:.2}"));
            format!(
                "'{}'={value};{}:;{}:;;",
                l.line, report.warning_days, report.critical_days
            )
        })
        .collect();
    let mut line = format!("{SERVICE} {} - {}", report.status.word(), clean(&text));
    if !perf.is_empty() {
        line.push_str(" | ");
        line.push_str(&perf.join(" "));
    }
    line
}

/// The status line for a run that could not look at all (UNKNOWN).
pub fn unknown(why: &str) -> String {
    format!("{SERVICE} UNKNOWN - {}", clean(why))
}

/// Text safe in a status line: no `|` (it starts the performance data),
/// no control characters (one line).
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '|' => '/',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Cert, Found, Status};

    fn line(name: &str, days: f64) -> Line {
        Line {
            line: name.into(),
            status: Status::Ok,
            problems: Vec::new(),
            certs: Found::cert(Cert {
                not_after: 0,
                expires: String::new(),
                days_left: days,
                serial: String::new(),
                sha256: String::new(),
            }),
            published: None,
            next_key: false,
            issuer: None,
            endpoints: Vec::new(),
        }
    }

    #[test]
    fn status_line_and_perfdata() {
        let mut r = Report {
            time: 0,
            status: Status::Ok,
            warning_days: 21,
            critical_days: 7,
            lines: vec![line("www", 60.5), line("mail", 30.25)],
        };
        assert_eq!(
            render(&r),
            "CERTDROP OK - 2 line(s) ok, soonest expiry: mail in 30 day(s) \
             | 'www'=60.50;21:;7:;; 'mail'=30.25;21:;7:;;"
        );
        r.lines[1].problem(Status::Critical, "mail: a | b\nc".into());
        r.status = Status::Critical;
        assert_eq!(
            render(&r),
            "CERTDROP CRITICAL - 1 critical, 1 ok: mail: a / b c \
             | 'www'=60.50;21:;7:;; 'mail'=30.25;21:;7:;;"
        );
    }
}
