//! Benchmark (issue 18): time to a renewed certificate with dns-persist-01
//! against dns-01 through the drop directory, on one acme2certifier with
//! one nsd and one `certdrop-zone watch`, interleaved run by run; and,
//! on a second acme2certifier with just-in-time validation, dns-persist-01
//! where the CA finds the record itself. Each sample is one `certdrop-issue
//! -v issue LINE --force` of the release binary: wall clock from spawn to
//! exit, the CPU of the reaped process, every file it made in dnsextra/
//! (inotify) and its -v lines stamped on arrival (where the time goes).
//!
//! Run through `bench/persist/run` (builds the release binaries first);
//! by hand: `cargo bench -p certdrop-issue --bench persist -- --runs 10
//! --out bench/persist/results.md`. Needs root (network namespaces) and
//! acme2certifier's virtualenv (`scripts/install-a2c`).

#[cfg(target_os = "linux")]
mod fixture;
#[cfg(target_os = "linux")]
mod measure;
#[cfg(target_os = "linux")]
mod report;

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("persist bench: needs Linux (network namespaces)");
}

#[cfg(target_os = "linux")]
fn main() {
    use std::time::Instant;

    use fixture::{Fixture, Line};
    use measure::Kind;

    let opts = match Opts::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("persist bench: {e}\n{USAGE}");
            std::process::exit(64);
        }
    };
    for (what, p) in [
        ("certdrop-issue", &opts.issue),
        ("certdrop-zone", &opts.zone),
    ] {
        if !p.exists() {
            eprintln!(
                "persist bench: {}: {what} not built (cargo build --release)",
                p.display()
            );
            std::process::exit(66);
        }
    }
    let t0 = Instant::now();
    let load_before = report::loadavg();
    eprintln!("persist bench: starting acme2certifier, nsd, certdrop-zone watch");
    let main = Fixture::start(
        false,
        &opts.issue,
        &opts.zone,
        &[
            Line {
                name: "persist",
                persist: true,
            },
            Line {
                name: "dns01",
                persist: false,
            },
        ],
    );
    let jit = opts.jit.then(|| {
        Fixture::start(
            true,
            &opts.issue,
            &opts.zone,
            &[Line {
                name: "jit",
                persist: true,
            }],
        )
    });
    let mut kinds = vec![(Kind::Persist, &main), (Kind::Dns01, &main)];
    if let Some(j) = &jit {
        kinds.push((Kind::Jit, j));
    }
    // One unmeasured renewal of each first: the certificate of the
    // first run may have come over either challenge, and caches warm.
    for (kind, fx) in &kinds {
        let s = measure::renew(fx, *kind, 0);
        assert!(s.ok(), "warm-up {}: {}", kind.label(), s.stderr);
        fx.settle();
    }
    let mut samples = Vec::new();
    for rep in 1..=opts.runs {
        for (kind, fx) in &kinds {
            let s = measure::renew(fx, *kind, rep);
            eprintln!(
                "persist bench: {:>8} run {rep:>2}: {:.3} s wall, {:.3} s CPU, {} file(s) in dnsextra/{}",
                kind.label(),
                s.wall,
                s.user + s.sys,
                s.files.len(),
                if s.ok() { "" } else { "  FAILED" }
            );
            if !s.ok() {
                eprintln!(
                    "exit {}, certificate changed: {}\n{}",
                    s.code, s.changed, s.stderr
                );
            }
            samples.push(s);
            // Back at rest before the next run: the dns-01 clean-up
            // rebuild done, the watcher past its quiet period.
            assert!(fx.settle(), "zone not at rest: {}", fx.watch_log());
            std::thread::sleep(opts.rest);
        }
    }
    let load_after = report::loadavg();
    let versions = report::versions(&opts.issue);
    let out = report::Report {
        runs: opts.runs,
        samples,
        load_before,
        load_after,
        elapsed: t0.elapsed().as_secs_f64(),
        versions,
        jit: opts.jit,
    };
    out.write(&opts.out, &opts.out.with_extension("json"));
    let failed = out.samples.iter().filter(|s| !s.ok()).count();
    drop(jit);
    drop(main);
    if failed > 0 {
        eprintln!("persist bench: {failed} run(s) failed");
        std::process::exit(1);
    }
}

const USAGE: &str = "usage: persist [--runs N] [--out FILE.md] [--no-jit] \
                     [--rest-ms MS] [--issue BIN] [--zone BIN]";

/// Command-line options.
#[cfg(target_os = "linux")]
struct Opts {
    runs: usize,
    out: std::path::PathBuf,
    jit: bool,
    /// Pause once the zone is at rest, before the next run.
    rest: std::time::Duration,
    issue: std::path::PathBuf,
    zone: std::path::PathBuf,
}

#[cfg(target_os = "linux")]
impl Opts {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Opts, String> {
        use std::path::PathBuf;
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
        let top = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let env_or = |var: &str, name: &str| {
            std::env::var_os(var).map_or_else(|| target.join("release").join(name), PathBuf::from)
        };
        let mut o = Opts {
            runs: 30,
            out: top.join("bench/persist/results.md"),
            jit: true,
            rest: measure::REST,
            issue: env_or("CERTDROP_ISSUE", "certdrop-issue"),
            zone: env_or("CERTDROP_ZONE", "certdrop-zone"),
        };
        while let Some(a) = args.next() {
            let mut value = || args.next().ok_or(format!("{a}: needs a value"));
            match a.as_str() {
                // What `cargo bench` adds.
                "--bench" => {}
                "--runs" => {
                    o.runs = value()?
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or("--runs: a number above 0")?
                }
                "--out" => o.out = PathBuf::from(value()?),
                "--issue" => o.issue = PathBuf::from(value()?),
                "--zone" => o.zone = PathBuf::from(value()?),
                "--no-jit" => o.jit = false,
                "--rest-ms" => {
                    o.rest = std::time::Duration::from_millis(
                        value()?.parse().map_err(|_| "--rest-ms: milliseconds")?,
                    )
                }
                other => return Err(format!("{other}: unknown option")),
            }
        }
        Ok(o)
    }
}
