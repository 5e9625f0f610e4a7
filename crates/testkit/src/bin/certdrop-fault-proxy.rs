//! `certdrop-fault-proxy`: the test kit's fault proxy as a program, for the
//! fault benchmark (bench/faults.py, issue 11), which starts its own Pebble
//! and puts this in front of it. Dev-only (feature `pebble`); never installed.
//!
//! ```text
//! certdrop-fault-proxy --upstream https://127.0.0.1:14000/dir --cert pebble.pem
//!     --key pebble.key --ca ca.pem [--rate PERCENT] [--seed N] [--faults 500,503,reset,lost]
//! ```
//!
//! It serves TLS with the upstream's own certificate and key, so a client
//! that trusts the upstream trusts the proxy. It prints its directory URL
//! as the first line on stdout, then answers commands on stdin, one line
//! each, one line back:
//!
//! - `rate PERCENT SEED`: fault PERCENT % of requests from now on, seeded (`ok`);
//! - `stats`: the counters since the last `stats` as one JSON line, then
//!   counting starts afresh: `requests`, `seen` (per endpoint),
//!   `orders_created`, `certificates_issued` (finalize accepted by the CA),
//!   `certificates_downloaded`, `faults` (per kind), `applied` (each fault:
//!   `[ms since counting began, endpoint, fault]`) and `errors` (requests
//!   the proxy could not relay) and `bad_nonces` (Pebble's own badNonce
//!   answers: `[ms, endpoint]`);
//! - end of input: the last `stats`, then it stops.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use certdrop_testkit::pebble::{FaultProxy, RandomFault, RandomFaults};

const USAGE: &str = "usage: certdrop-fault-proxy --upstream URL --cert PEM --key PEM --ca PEM \
[--rate PERCENT] [--seed N] [--faults 500,503,reset,lost]";

/// The command line, validated.
struct Args {
    upstream: String,
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    random: RandomFaults,
}

fn parse_args() -> Result<Args, String> {
    let mut flags: BTreeMap<String, String> = BTreeMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let known = [
            "--upstream",
            "--cert",
            "--key",
            "--ca",
            "--rate",
            "--seed",
            "--faults",
        ];
        if !known.contains(&flag.as_str()) {
            return Err(format!("{flag}: unknown option"));
        }
        let value = it.next().ok_or(format!("{flag}: needs a value"))?;
        flags.insert(flag, value);
    }
    let mut need = |f: &str| flags.remove(f).ok_or(format!("{f}: missing"));
    let (upstream, cert, key, ca) = (
        need("--upstream")?,
        need("--cert")?,
        need("--key")?,
        need("--ca")?,
    );
    let percent = parse_percent(flags.get("--rate").map_or("0", String::as_str))?;
    let seed = parse_seed(flags.get("--seed").map_or("1", String::as_str))?;
    let kinds = match flags.get("--faults") {
        None => RandomFault::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|k| {
                RandomFault::parse(k).ok_or(format!("--faults: {k}: not 500, 503, reset or lost"))
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(Args {
        upstream,
        cert: cert.into(),
        key: key.into(),
        ca: ca.into(),
        random: RandomFaults {
            percent,
            kinds,
            seed,
        },
    })
}

fn parse_percent(s: &str) -> Result<u8, String> {
    s.parse()
        .ok()
        .filter(|p| *p <= 100)
        .ok_or(format!("rate: {s}: not a percentage 0-100"))
}

fn parse_seed(s: &str) -> Result<u64, String> {
    s.parse().map_err(|_| format!("seed: {s}: not a number"))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("certdrop-fault-proxy: arguments: {e}\n{USAGE}");
            return ExitCode::from(64);
        }
    };
    let proxy = match FaultProxy::in_front_of(&args.upstream, &args.cert, &args.key, &args.ca) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("certdrop-fault-proxy: start: {e}");
            return ExitCode::from(1);
        }
    };
    proxy.set_random(Some(args.random.clone()));
    let mut out = io::stdout().lock();
    if writeln!(out, "{}", proxy.directory_url)
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(1);
    }
    let mut since = Instant::now();
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["stats"] => stats(&proxy, &mut since),
            ["rate", p, s] => match (parse_percent(p), parse_seed(s)) {
                (Ok(percent), Ok(seed)) => {
                    proxy.set_random(Some(RandomFaults {
                        percent,
                        seed,
                        ..args.random.clone()
                    }));
                    "ok".to_string()
                }
                (Err(e), _) | (_, Err(e)) => format!("error: {e}"),
            },
            _ => format!("error: {line}: not `stats` or `rate PERCENT SEED`"),
        };
        if writeln!(out, "{answer}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return ExitCode::from(1);
        }
    }
    let _ = writeln!(out, "{}", stats(&proxy, &mut since));
    ExitCode::SUCCESS
}

/// The counters since `since` as one JSON line; then counting starts afresh.
fn stats(proxy: &FaultProxy, since: &mut Instant) -> String {
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let requests = proxy.requests();
    for (_, e) in &requests {
        *seen.entry(format!("{e:?}")).or_default() += 1;
    }
    let applied = proxy.faults_applied();
    let mut faults: BTreeMap<String, u32> = BTreeMap::new();
    for (_, _, f) in &applied {
        *faults.entry(f.clone()).or_default() += 1;
    }
    let obj = |m: &BTreeMap<String, u32>| {
        let kv: Vec<String> = m
            .iter()
            .map(|(k, v)| format!("{}: {v}", json_str(k)))
            .collect();
        format!("{{{}}}", kv.join(", "))
    };
    let applied: Vec<String> = applied
        .iter()
        .map(|(t, e, f)| {
            let ms = t.saturating_duration_since(*since).as_millis();
            format!("[{ms}, {}, {}]", json_str(&format!("{e:?}")), json_str(f))
        })
        .collect();
    let errors: Vec<String> = proxy.errors().iter().map(|e| json_str(e)).collect();
    let bad_nonces: Vec<String> = proxy
        .bad_nonces()
        .iter()
        .map(|(t, e)| {
            let ms = t.saturating_duration_since(*since).as_millis();
            format!("[{ms}, {}]", json_str(&format!("{e:?}")))
        })
        .collect();
    let line = format!(
        "{{\"requests\": {}, \"seen\": {}, \"orders_created\": {}, \"certificates_issued\": {}, \
         \"certificates_downloaded\": {}, \"faults\": {}, \"applied\": [{}], \"errors\": [{}], \"bad_nonces\": [{}]}}",
        requests.len(),
        obj(&seen),
        proxy.orders_created(),
        proxy.certificates_issued(),
        proxy.certificates_downloaded(),
        obj(&faults),
        applied.join(", "),
        errors.join(", "),
        bad_nonces.join(", ")
    );
    proxy.reset_counters();
    *since = Instant::now();
    line
}

/// `s` as a JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
