//! The Prometheus textfile-collector form of a report (text exposition
//! format 0.0.4), for node_exporter's `--collector.textfile.directory`:
//! one family per metric with HELP and TYPE, base units (seconds, Unix
//! timestamps), labels for what varies (line, source, endpoint, key), no
//! free text in labels. Written atomically (temporary file beside it,
//! rename; no fsync, see [`write`]), so the collector never reads half a file; the temporary
//! name does not end in `.prom`, so the collector never reads it at all.

use std::fmt::Write as _;
use std::path::Path;

use certdrop_core::atomic;
use certdrop_core::error::{Error, Result};

use crate::report::{Report, Status};

/// One metric family being written.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    /// A sample: `name{labels} value`.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = write!(self.out, "{name}");
        if !labels.is_empty() {
            let l: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.out, "{{{}}}", l.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// Start a family: its HELP and TYPE lines.
fn family<'a>(out: &'a mut String, name: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    Family { out }
}

/// A label value as the exposition format wants it: `\`, `"` and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// 1 or 0.
fn flag(b: bool) -> u8 {
    u8::from(b)
}

/// The file's text for a report.
pub fn render(report: &Report) -> String {
    let mut s = String::new();
    const EXPIRY: &str = "certdrop_certificate_expiry_timestamp_seconds";
    let mut f = family(
        &mut s,
        EXPIRY,
        "When the line's certificate expires (notAfter, Unix time), per copy: \
         the store (certs), the publication tree (pub), each endpoint (served).",
    );
    for l in &report.lines {
        if let Some(c) = &l.certs.cert {
            f.sample(
                EXPIRY,
                &[("line", &l.line), ("source", "certs")],
                c.not_after,
            );
        }
        if let Some(c) = l.published.as_ref().and_then(|p| p.cert.as_ref()) {
            f.sample(EXPIRY, &[("line", &l.line), ("source", "pub")], c.not_after);
        }
        for e in &l.endpoints {
            if let Some(c) = &e.served.cert {
                let labels = [
                    ("endpoint", e.endpoint.as_str()),
                    ("line", &l.line),
                    ("source", "served"),
                ];
                f.sample(EXPIRY, &labels, c.not_after);
            }
        }
    }
    const PROBE: &str = "certdrop_probe_success";
    let mut f = family(
        &mut s,
        PROBE,
        "1 when the endpoint's certificate chain could be read (TLS, STARTTLS).",
    );
    for l in &report.lines {
        for e in &l.endpoints {
            let ok = flag(e.served.cert.is_some());
            f.sample(PROBE, &[("endpoint", &e.endpoint), ("line", &l.line)], ok);
        }
    }
    const SERVED: &str = "certdrop_served_matches_published";
    let mut f = family(
        &mut s,
        SERVED,
        "1 when the endpoint serves the published leaf certificate, byte for byte.",
    );
    for l in &report.lines {
        for e in &l.endpoints {
            if let Some(m) = e.matches_published {
                f.sample(
                    SERVED,
                    &[("endpoint", &e.endpoint), ("line", &l.line)],
                    flag(m),
                );
            }
        }
    }
    const TLSA: &str = "certdrop_tlsa_match";
    let mut f = family(
        &mut s,
        TLSA,
        "1 when a TLSA record at the endpoint's owner matches: key=\"current\" \
         what is served, key=\"next\" the staged next key.",
    );
    for l in &report.lines {
        for e in &l.endpoints {
            let Some(t) = &e.tlsa else { continue };
            for (key, m) in [("current", t.current), ("next", t.next)] {
                if let Some(m) = m {
                    let labels = [
                        ("endpoint", e.endpoint.as_str()),
                        ("key", key),
                        ("line", &l.line),
                    ];
                    f.sample(TLSA, &labels, flag(m));
                }
            }
        }
    }
    const FAILURES: &str = "certdrop_issuer_failures";
    let mut f = family(
        &mut s,
        FAILURES,
        "Consecutive failed attempts of certdrop-issue for the line (0: the last one worked).",
    );
    for l in &report.lines {
        if let Some(i) = l.issuer.as_ref().filter(|i| i.error.is_none()) {
            f.sample(FAILURES, &[("line", &l.line)], i.failures);
        }
    }
    const RETRY: &str = "certdrop_issuer_retry_not_before_timestamp_seconds";
    let mut f = family(
        &mut s,
        RETRY,
        "The issuer makes no new attempt for the line before this time (back-off, Unix time).",
    );
    for l in &report.lines {
        if let Some(t) = l.issuer.as_ref().and_then(|i| i.retry_not_before) {
            f.sample(RETRY, &[("line", &l.line)], t);
        }
    }
    const STATUS: &str = "certdrop_line_status";
    let mut f = family(
        &mut s,
        STATUS,
        "The line's status as the plugin says it: 0 ok, 1 warning, 2 critical, 3 unknown.",
    );
    for l in &report.lines {
        f.sample(STATUS, &[("line", &l.line)], l.status.plugin_code());
    }
    check_metrics(
        &mut s,
        report.lines.iter().all(|l| l.status != Status::Unknown),
        report.time,
    );
    s
}

/// The metrics about the check itself.
fn check_metrics(s: &mut String, success: bool, time: i64) {
    const SUCCESS: &str = "certdrop_check_success";
    family(
        s,
        SUCCESS,
        "1 when the check could look at everything it was told to (no line unknown).",
    )
    .sample(SUCCESS, &[], flag(success));
    const TIME: &str = "certdrop_check_timestamp_seconds";
    family(s, TIME, "When the check ran (Unix time).").sample(TIME, &[], time);
}

/// The file's text for a run that could not look at all.
pub fn render_failed(time: i64) -> String {
    let mut s = String::new();
    check_metrics(&mut s, false, time);
    s
}

/// Write the file atomically, world-readable (the collector runs as another
/// user). Whole, not durable: the collector must never read half a file
/// (the rename), but the file is rewritten from scratch every few minutes
/// and nothing acts on an old one, so a write lost in a crash costs one
/// scrape; the two fsyncs would cost more than the rest of a 100-line run.
pub fn write(path: &Path, text: &str) -> Result<()> {
    atomic::write_with(
        path,
        text.as_bytes(),
        atomic::MODE_PUBLIC,
        None,
        atomic::Durability::Whole,
    )
    .map_err(|e| Error::cantcreat(path, "cannot write", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        let s = render_failed(5);
        assert!(s.contains("certdrop_check_success 0\n"), "{s}");
        assert!(
            s.contains("# TYPE certdrop_check_timestamp_seconds gauge\n"),
            "{s}"
        );
    }
}
