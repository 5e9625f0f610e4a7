//! results.md and results.json of the persist benchmark: medians and
//! min–max per kind, where the time goes (stages between the issuer's
//! own -v lines), what was written to dnsextra/, every run, the load and
//! the versions. bench/report.py takes the first table and the JSON's
//! `summary` and `target` into BENCHMARKS.md.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::measure::{Kind, Sample};

/// Events on the issuer's -v output, in order: (name, text of the line
/// that marks it). A stage runs from the previous event present to its
/// own; the last one ends at exit.
const EVENTS: &[(&str, &str)] = &[
    // Not acme2certifier's refusal of `replaces` (the order made again).
    ("ordered", ": new order: http"),
    // The challenge chosen: for dns-persist-01 after the record was seen
    // on every server; JIT: the authorization is valid when fetched.
    ("chosen", "challenge dns-"),
    ("chosen", "already authorized"),
    ("written", " written"),
    ("visible", "visible on"),
    // Printed once the challenges are answered: acme2certifier validates
    // inside the POST, so this includes its own lookup at nsd.
    ("answered", "waiting for the CA to validate"),
    ("validated", ": validated"),
];
const STAGES: &[(&str, &str)] = &[
    ("ordered", "start → order placed"),
    ("chosen", "→ challenge chosen"),
    ("written", "→ fragment written"),
    ("visible", "→ visible on nsd"),
    ("answered", "→ answered (CA's lookup)"),
    ("validated", "→ authorization valid"),
    ("exit", "→ certificate, exit"),
];

/// Everything one run of the benchmark measured.
pub struct Report {
    pub runs: usize,
    pub samples: Vec<Sample>,
    pub load_before: String,
    pub load_after: String,
    pub elapsed: f64,
    pub versions: Vec<(String, String)>,
    pub jit: bool,
}

/// Median, min, max.
fn spread(mut v: Vec<f64>) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some((median, v[0], v[n - 1]))
}

/// Seconds since spawn of each event of `s`.
fn events(s: &Sample) -> Vec<(&'static str, f64)> {
    let mut out: Vec<(&'static str, f64)> = Vec::new();
    for (name, text) in EVENTS {
        if out.iter().any(|(n, _)| n == name) {
            continue;
        }
        if let Some(t) = s.at(text) {
            out.push((name, t));
        }
    }
    out.push(("exit", s.wall));
    out
}

/// Each stage's seconds (None: its event was not seen).
fn stages(s: &Sample) -> Vec<Option<f64>> {
    let ev = events(s);
    let mut prev = 0.0;
    STAGES
        .iter()
        .map(|(name, _)| {
            ev.iter().find(|(n, _)| n == name).map(|(_, t)| {
                let d = t - prev;
                prev = *t;
                d
            })
        })
        .collect()
}

fn kind_row(k: Kind) -> &'static str {
    match k {
        Kind::Persist => "dns-persist-01 (line `persist`)",
        Kind::Dns01 => "dns-01 through dnsextra/ (line `dns01`, `persist = false`)",
        Kind::Jit => "dns-persist-01, CA validates just in time (line `jit`, 2nd acme2certifier)",
    }
}

impl Report {
    fn kinds(&self) -> Vec<Kind> {
        let mut k = vec![Kind::Persist, Kind::Dns01];
        if self.jit {
            k.push(Kind::Jit);
        }
        k
    }

    fn of(&self, k: Kind) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.kind == k && s.ok())
            .collect()
    }

    fn summary(&self, k: Kind) -> serde_json::Value {
        let s = self.of(k);
        let total = self.samples.iter().filter(|x| x.kind == k).count();
        let stat =
            |v: Vec<f64>| spread(v).map(|(m, lo, hi)| json!({"median": m, "min": lo, "max": hi}));
        let stage_medians: serde_json::Map<String, serde_json::Value> = STAGES
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let v: Vec<f64> = s.iter().filter_map(|x| stages(x)[i]).collect();
                (name.to_string(), json!(spread(v).map(|x| x.0)))
            })
            .collect();
        let files: Vec<f64> = s.iter().map(|x| x.files.len() as f64).collect();
        // The names the zone compiler reads: not the writer's temporaries.
        let published: Vec<f64> = s
            .iter()
            .map(|x| x.files.iter().filter(|f| !f.starts_with(".tmp.")).count() as f64)
            .collect();
        json!({
            "kind": k,
            "row": kind_row(k),
            "n": s.len(),
            "failed": total - s.len(),
            "wall": stat(s.iter().map(|x| x.wall).collect()),
            "cpu": stat(s.iter().map(|x| x.user + x.sys).collect()),
            "files_per_renewal": stat(files),
            "published_per_renewal": stat(published),
            "files_seen": s.first().map(|x| x.files.clone()).unwrap_or_default(),
            "stages": stage_medians,
        })
    }

    /// Write `md` and `json`.
    pub fn write(&self, md: &Path, json_path: &Path) {
        let summary: Vec<serde_json::Value> =
            self.kinds().into_iter().map(|k| self.summary(k)).collect();
        let med = |k: Kind| {
            summary
                .iter()
                .find(|s| s["kind"] == json!(k))
                .and_then(|s| s["wall"]["median"].as_f64())
        };
        let files = |k: Kind| {
            summary
                .iter()
                .find(|s| s["kind"] == json!(k))
                .and_then(|s| s["files_per_renewal"]["max"].as_f64())
        };
        let (p, d) = (med(Kind::Persist), med(Kind::Dns01));
        // Each round's dns-01 run less its dns-persist-01 run, made one
        // after the other: less exposed to the machine's load changing
        // over the run than the two medians.
        let paired = spread(
            self.of(Kind::Dns01)
                .iter()
                .filter_map(|d| {
                    self.of(Kind::Persist)
                        .iter()
                        .find(|p| p.rep == d.rep)
                        .map(|p| d.wall - p.wall)
                })
                .collect(),
        )
        .map(|(m, lo, hi)| json!({"median": m, "min": lo, "max": hi}));
        let met = matches!((p, d, files(Kind::Persist)), (Some(p), Some(d), Some(f)) if p < d && f == 0.0);
        let target = json!({
            "target": "dns-persist-01 renewal faster than dns-01 through the drop directory, nothing written to dnsextra/",
            "persist_median": p,
            "dns01_median": d,
            "ratio": p.zip(d).map(|(p, d)| d / p),
            "paired_difference": paired,
            "persist_files_max": files(Kind::Persist),
            "met": met,
        });
        let date = Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let doc = json!({
            "date": date, "host": host, "cpus": cpus,
            "load_before": self.load_before, "load_after": self.load_after,
            "elapsed": self.elapsed, "runs": self.runs,
            "versions": self.versions.iter().map(|(k, v)| (k.clone(), json!(v)))
                .collect::<serde_json::Map<_, _>>(),
            "summary": summary,
            "target": target,
            "samples": self.samples,
        });
        let text = self.markdown(&doc);
        if let Some(dir) = md.parent() {
            std::fs::create_dir_all(dir).expect("output directory");
        }
        std::fs::write(md, text).unwrap_or_else(|e| panic!("{}: {e}", md.display()));
        let body = serde_json::to_string_pretty(&doc).expect("JSON");
        std::fs::write(json_path, body + "\n")
            .unwrap_or_else(|e| panic!("{}: {e}", json_path.display()));
        eprintln!(
            "persist bench: wrote {} and {}",
            md.display(),
            json_path.display()
        );
    }

    fn markdown(&self, doc: &serde_json::Value) -> String {
        let mut m = String::new();
        let f3 = |v: &serde_json::Value| v.as_f64().map_or("–".into(), |x| format!("{x:.3}"));
        let w = &mut m;
        let _ = writeln!(
            w,
            "# dns-persist-01 against dns-01 through the drop directory: results\n"
        );
        let _ = writeln!(
            w,
            "Written by `bench/persist/run` on {} on {} ({} CPUs), load average {} before, {} after; \
             {:.0} s in all. Rerun: `bench/persist/run` (see README.md).\n",
            doc["date"].as_str().unwrap_or("?"),
            doc["host"].as_str().unwrap_or("?"),
            doc["cpus"],
            self.load_before,
            self.load_after,
            self.elapsed
        );
        let _ = writeln!(
            w,
            "Each run renews one certificate for www.example.test with the release binary: \
             `certdrop-issue -c issue.toml -v issue LINE --force`, wall clock from spawn to exit \
             (the certificate is on disk and was checked to have changed), CPU = user + sys of \
             the issuer's process. One acme2certifier, one nsd (port 53 of its namespace, the \
             server acme2certifier resolves from), one `certdrop-zone watch` serving \
             `_validation-persist.www.example.test` for the issuer's account; the same account \
             renews both lines, in turn, {} times each (plus one warm-up each, not counted). \
             Files: names created or renamed into dnsextra/ during the run (inotify). \
             Medians (min–max).\n",
            self.runs
        );
        let _ = writeln!(w, "| renewal | runs | wall s | min–max s | CPU s | min–max s | files in dnsextra/ per renewal (published + temporary names) |");
        let _ = writeln!(w, "|---|---|---|---|---|---|---|");
        for s in doc["summary"].as_array().into_iter().flatten() {
            let failed = s["failed"].as_u64().unwrap_or(0);
            let _ = writeln!(
                w,
                "| {} | {}{} | **{}** | {}–{} | {} | {}–{} | {} |",
                s["row"].as_str().unwrap_or("?"),
                s["n"],
                if failed > 0 {
                    format!(" ({failed} failed)")
                } else {
                    String::new()
                },
                f3(&s["wall"]["median"]),
                f3(&s["wall"]["min"]),
                f3(&s["wall"]["max"]),
                f3(&s["cpu"]["median"]),
                f3(&s["cpu"]["min"]),
                f3(&s["cpu"]["max"]),
                files_cell(s),
            );
        }
        let t = &doc["target"];
        let _ = writeln!(
            w,
            "\n## Target\n\n- {}: **{}** (dns-persist-01 median {} s, dns-01 {} s: {}× faster; at most {} file(s) written by a dns-persist-01 renewal)\n\
             - dns-01 less dns-persist-01, round by round (the two runs one after the other): median {} s ({}–{})\n",
            t["target"].as_str().unwrap_or(""),
            if t["met"] == json!(true) { "met" } else { "MISSED" },
            f3(&t["persist_median"]),
            f3(&t["dns01_median"]),
            t["ratio"].as_f64().map_or("–".into(), |x| format!("{x:.1}")),
            t["persist_files_max"]
                .as_f64()
                .map_or("–".into(), |x| format!("{x}")),
            f3(&t["paired_difference"]["median"]),
            f3(&t["paired_difference"]["min"]),
            f3(&t["paired_difference"]["max"]),
        );
        let _ = writeln!(
            w,
            "## Where the time goes (medians of the stages, seconds)\n"
        );
        let _ = writeln!(
            w,
            "Stages between the issuer's own -v lines, stamped by the harness as they arrive: \
             the order placed (process start, account, newOrder), the challenge chosen (authorization fetched; `challenge dns-persist-01: TXT … served on 1 server(s)` once \
             the standing record was checked on every authoritative server; `challenge dns-01` \
             before the fragment; `already authorized` in JIT mode), the fragment written, its \
             value visible on nsd (the zone rebuilt and reloaded by the watcher, seen by the \
             issuer's own polls), the challenge answered (`waiting for the CA to validate`: \
             acme2certifier validates inside the POST, its own lookup at nsd included), the \
             authorization polled `valid` (`validated`), then finalize, order polls, download, \
             the store written and the fragment removed, until exit. A stage without its line is merged \
             into the next.\n"
        );
        let head: Vec<&str> = STAGES.iter().map(|(_, h)| *h).collect();
        let _ = writeln!(w, "| renewal | {} |", head.join(" | "));
        let _ = writeln!(w, "|---|{}", "---|".repeat(head.len()));
        for s in doc["summary"].as_array().into_iter().flatten() {
            let cells: Vec<String> = STAGES.iter().map(|(n, _)| f3(&s["stages"][n])).collect();
            let _ = writeln!(
                w,
                "| {} | {} |",
                s["kind"].as_str().unwrap_or("?"),
                cells.join(" | ")
            );
        }
        let _ = writeln!(w, "\n## Every run\n");
        let _ = writeln!(
            w,
            "| run | renewal | exit | wall s | CPU s | files in dnsextra/ | stages s |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|");
        for s in &self.samples {
            let st: Vec<String> = stages(s)
                .iter()
                .map(|x| x.map_or("–".into(), |v| format!("{v:.3}")))
                .collect();
            let _ = writeln!(
                w,
                "| {} | {} | {}{} | {:.3} | {:.3} | {} | {} |",
                s.rep,
                s.kind.label(),
                s.code,
                if s.changed {
                    ""
                } else {
                    " (certificate unchanged)"
                },
                s.wall,
                s.user + s.sys,
                if s.files.is_empty() {
                    "0".into()
                } else {
                    format!("{}: {}", s.files.len(), s.files.join(", "))
                },
                st.join(" / ")
            );
        }
        let _ = writeln!(w, "\n## The -v output of the first run of each\n");
        for k in self.kinds() {
            if let Some(s) = self.samples.iter().find(|s| s.kind == k) {
                let _ = writeln!(
                    w,
                    "{} (seconds since spawn):\n\n```\n{}```\n",
                    k.label(),
                    s.stderr
                );
            }
        }
        let _ = writeln!(w, "## Versions\n\n| program | version |\n|---|---|");
        for (k, v) in &self.versions {
            let _ = writeln!(w, "| {k} | {v} |");
        }
        m
    }
}

/// "0", or "4 (2 + 2)": every name, the published ones + temporaries.
fn files_cell(s: &serde_json::Value) -> String {
    let all = s["files_per_renewal"]["median"].as_f64().unwrap_or(0.0);
    let published = s["published_per_renewal"]["median"].as_f64().unwrap_or(0.0);
    if all == 0.0 {
        return "0".into();
    }
    format!("{all} ({published} + {})", all - published)
}

/// /proc/loadavg's three averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Versions of what ran: the issuer, acme2certifier, gunicorn, nsd, the
/// commit.
pub fn versions(issue: &Path) -> Vec<(String, String)> {
    let first_line = |cmd: &mut Command| {
        cmd.output()
            .map(|o| {
                let mut t = String::from_utf8_lossy(&o.stdout).into_owned();
                t.push_str(&String::from_utf8_lossy(&o.stderr));
                t.lines().next().unwrap_or("").trim().to_owned()
            })
            .unwrap_or_default()
    };
    let top = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let commit =
        first_line(
            Command::new("git")
                .arg("-C")
                .arg(&top)
                .args(["rev-parse", "--short", "HEAD"]),
        );
    let dirty = !first_line(Command::new("git").arg("-C").arg(&top).args([
        "status",
        "--porcelain",
        "--untracked-files=no",
    ]))
    .is_empty();
    let venv = certdrop_testkit::a2c::venv();
    let pip = |pkg: &str| {
        let out = Command::new(venv.join("bin/python"))
            .args([
                "-c",
                &format!("import importlib.metadata as m; print(m.version('{pkg}'))"),
            ])
            .env_remove("PYTHONPATH")
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    vec![
        (
            "certdrop-issue".into(),
            format!(
                "{} (git {commit}{})",
                first_line(Command::new(issue).arg("--version")),
                if dirty { ", modified" } else { "" }
            ),
        ),
        ("acme2certifier".into(), pip("acme2certifier")),
        ("gunicorn".into(), pip("gunicorn")),
        ("nsd".into(), first_line(Command::new("nsd").arg("-v"))),
    ]
}
