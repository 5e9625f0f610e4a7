//! The DANE-safe key rollover of the demo site, hands off (issue text:
//! "dane_rollover_without_outage"): the key of line `www` reaches its
//! maximum age, the next key is staged, nsd serves TLSA for both keys, and
//! only once that has held for 2 × TTL (the issuer asks nsd) does the next
//! key get a certificate, which is published and served by nginx; then the
//! old key's record goes. Only cron passes drive it. A watcher samples the
//! whole time: the key nginx serves must always match a TLSA record nsd
//! serves.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::jailed::{spki_sha256, Opts, Site};

/// TTL of the zone's records: the next key must be served 2 × TTL = 6 s.
const TTL: u32 = 3;
/// The first key is replaced after this long (it must stay well above the
/// time the rollover takes, or the new key would be rolled over at once).
const MAX_KEY_AGE: u64 = 20;
/// Below 2 × TTL, so the TLSA check, not this timer, is what holds back.
const ROLLOVER_WAIT: u64 = 1;
/// How long the old key's record stays after the switch.
const RETIRE_AFTER: u64 = 5;
/// Give up on the rollover after this long.
const DEADLINE: Duration = Duration::from_secs(120);

/// One look at the site: what nginx serves and what nsd serves, asked in
/// that order: TLSA first, so a correct rollover (record before use, use
/// before removal) can never look wrong by the timing of the two queries.
struct Sample {
    at: SystemTime,
    /// SHA-256 of the SPKI nginx serves; None if it did not answer.
    served: Option<Vec<u8>>,
    /// TLSA 3 1 1 data nsd serves, sorted.
    tlsa: Vec<Vec<u8>>,
}

impl Sample {
    fn ok(&self) -> bool {
        self.served.as_ref().is_some_and(|s| self.tlsa.contains(s))
    }
}

impl std::fmt::Debug for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = |b: &Vec<u8>| hex(b)[..12].to_string();
        write!(
            f,
            "{:.3} served {:?} tlsa {:?}",
            secs(self.at),
            self.served.as_ref().map(short),
            self.tlsa.iter().map(short).collect::<Vec<_>>()
        )
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// SHA-256 of the one public key of a PEM file (TLSA 3 1 1 data).
fn pubkey_sha256(pem: &[u8]) -> Vec<u8> {
    let mut der = certdrop_core::certinfo::pem_blocks(pem, "PUBLIC KEY").expect("public key");
    assert_eq!(der.len(), 1, "one public key");
    certdrop_core::certinfo::spki_sha256(&der.remove(0)).to_vec()
}

/// The samples, one line per change of what was seen (and every bad one).
fn dump(samples: &[Sample]) -> String {
    let mut out = String::new();
    let mut last: Option<&Sample> = None;
    let mut same = 0;
    for s in samples {
        let unchanged = last.is_some_and(|l| l.served == s.served && l.tlsa == s.tlsa);
        if unchanged && s.ok() {
            same += 1;
            continue;
        }
        if same > 0 {
            out += &format!("  ... {same} more like it\n");
            same = 0;
        }
        out += &format!("  {}{s:?}\n", if s.ok() { "" } else { "BAD " });
        last = Some(s);
    }
    if same > 0 {
        out += &format!("  ... {same} more like it\n");
    }
    out
}

fn sample(site: &Site) -> Sample {
    let mut tlsa = site.tlsa();
    tlsa.sort();
    let served = site.served().map(|der| spki_sha256(&der));
    Sample {
        at: SystemTime::now(),
        served,
        tlsa,
    }
}

#[test]
fn dane_rollover_without_outage() {
    let site = Site::new(Opts {
        line: format!(
            "max_key_age = \"{MAX_KEY_AGE}s\"\nrollover_wait = \"{ROLLOVER_WAIT}s\"\nretire_after = \"{RETIRE_AFTER}s\""
        ),
        ttl: TTL,
    });
    let started = Instant::now();

    // The first pass deploys the configuration, issues, publishes, and
    // has nginx serve the certificate; nsd serves its key's record.
    let first = site.cron();
    assert_eq!(first.code, 0, "first pass: {first:?}\n{}", site.logs());
    assert!(
        first.stderr.is_empty(),
        "first pass: {first:?}\n{}",
        site.logs()
    );
    let served = site.served().expect("nginx serves after the first pass");
    let a = spki_sha256(&served);
    assert_eq!(
        a,
        pubkey_sha256(&std::fs::read(site.path("data/certs/www/pubkey.pem")).expect("pubkey")),
        "nginx serves the issued key"
    );
    assert_eq!(site.tlsa(), vec![a.clone()], "{}", site.logs());
    assert!(!site.path("data/certs/www/next").exists());

    // The watcher: from here on nginx must answer, with a key nsd vouches for.
    let stop = AtomicBool::new(false);
    let (samples, passes, next_b, issued_at) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut v = Vec::new();
            loop {
                // One more look after the drive has ended: the end state.
                let last = stop.load(Ordering::Relaxed);
                v.push(sample(&site));
                if last {
                    return v;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drive(&site, &a, started)));
        stop.store(true, Ordering::Relaxed);
        let samples = watcher.join().expect("watcher");
        match result {
            Ok((passes, b, issued)) => (samples, passes, b, issued),
            Err(e) => {
                eprintln!("samples:\n{}", dump(&samples));
                std::panic::resume_unwind(e)
            }
        }
    });
    let elapsed = started.elapsed();
    eprintln!(
        "rollover: {passes} cron passes, {} samples, {:.1}s in all",
        samples.len(),
        elapsed.as_secs_f64()
    );
    let b = next_b;
    let bad: Vec<&Sample> = samples.iter().filter(|s| !s.ok()).collect();
    let phases = |served: &Vec<u8>, tlsa: &[&Vec<u8>]| {
        samples.iter().any(|s| {
            s.served.as_ref() == Some(served)
                && s.tlsa.len() == tlsa.len()
                && tlsa.iter().all(|t| s.tlsa.contains(t))
        })
    };
    let dump = || dump(&samples);

    // The watcher really watched, through every phase of the rollover.
    assert!(
        samples.len() >= 50,
        "only {} samples\n{}",
        samples.len(),
        dump()
    );
    assert!(
        phases(&a, &[&a]),
        "never saw A served with A's record alone\n{}",
        dump()
    );
    assert!(
        phases(&a, &[&a, &b]),
        "never saw A served with both records\n{}",
        dump()
    );
    assert!(
        phases(&b, &[&b]),
        "never saw B served with B's record alone\n{}",
        dump()
    );

    // The next key signed only after nsd had served its record, without a
    // gap, for 2 × TTL: measured from the watcher's own samples before the
    // certificate was written.
    let before: Vec<&Sample> = samples.iter().filter(|s| s.at < issued_at).collect();
    let since = before
        .iter()
        .rposition(|s| !s.tlsa.contains(&b))
        .map(|i| i + 1)
        .unwrap_or(0);
    let first_seen = before
        .get(since)
        .unwrap_or_else(|| panic!("B's record not served before its certificate\n{}", dump()))
        .at;
    let held = issued_at
        .duration_since(first_seen)
        .unwrap_or(Duration::ZERO);
    eprintln!(
        "next key's record served {:.1}s before its certificate (2 x TTL = {}s)",
        held.as_secs_f64(),
        2 * TTL
    );
    assert!(
        held >= Duration::from_secs(2 * u64::from(TTL)),
        "certificate for the next key {:.3}s after its record was served, want >= {}s\n{}",
        held.as_secs_f64(),
        2 * TTL,
        dump()
    );

    // At no sample was the served key without a record (or nginx silent).
    assert!(
        bad.is_empty(),
        "{} of {} samples without a matching TLSA record (or no answer from nginx):\n{}\n{}",
        bad.len(),
        samples.len(),
        dump(),
        site.logs()
    );
}

/// Cron passes until nginx serves the next key and nsd serves its record
/// alone. Returns the number of passes, the next key's TLSA data, and when
/// its certificate was written.
fn drive(site: &Site, a: &[u8], started: Instant) -> (usize, Vec<u8>, SystemTime) {
    let mut passes = 0;
    let mut next: Option<Vec<u8>> = None;
    let mut staged_pass = None;
    let pass = |n: &mut usize| {
        *n += 1;
        let r = site.cron();
        assert_eq!(r.code, 0, "pass {n}: {r:?}\n{}", site.logs());
        assert!(r.stderr.is_empty(), "pass {n}: {r:?}\n{}", site.logs());
        if !r.stdout.is_empty() {
            eprintln!(
                "[{:5.1}s] pass {n}: {}",
                started.elapsed().as_secs_f64(),
                r.stdout.trim_end()
            );
        }
        r
    };
    // Until nginx serves another key.
    let b = loop {
        assert!(
            started.elapsed() < DEADLINE,
            "no rollover after {} passes\n{}",
            passes,
            site.logs()
        );
        std::thread::sleep(Duration::from_secs(1));
        pass(&mut passes);
        let pem = std::fs::read(site.path("data/certs/www/next/pubkey.pem")).ok();
        if let Some(pem) = pem {
            let n = pubkey_sha256(&pem);
            assert_ne!(n, a, "the next key is a new key");
            if next.is_none() {
                staged_pass = Some(passes);
                // The pass that staged it also rebuilt the zone: nsd
                // serves both records, and nginx still the old key.
                let mut tlsa = site.tlsa();
                tlsa.sort();
                let mut want = vec![a.to_vec(), n.clone()];
                want.sort();
                assert_eq!(tlsa, want, "both records after staging\n{}", site.logs());
            }
            assert!(next.is_none() || next.as_ref() == Some(&n), "one next key");
            next = Some(n);
        } else if next.is_none() {
            // Not staged yet: the old certificate and key stay as they are.
            assert!(!site.path("data/keys/www/next").exists());
        }
        let served = site
            .served()
            .map(|der| spki_sha256(&der))
            .unwrap_or_else(|| panic!("nginx silent after pass {passes}\n{}", site.logs()));
        if served != a {
            break served;
        }
    };
    let staged = next.unwrap_or_else(|| panic!("nginx switched keys without a staged next key"));
    assert!(staged_pass.is_some_and(|p| p < passes));
    assert_eq!(b, staged, "nginx serves the staged key");
    // The certificate of the next key is in the store and published.
    let cert = site.path("data/certs/www/cert.pem");
    let issued_at = std::fs::metadata(&cert)
        .and_then(|m| m.modified())
        .expect("cert mtime");
    assert_eq!(
        pubkey_sha256(&std::fs::read(site.path("data/certs/www/pubkey.pem")).expect("pubkey")),
        b
    );
    assert!(!site.path("data/certs/www/next").exists(), "next/ gone");
    // The old key's record stays (certs/www/prev/) while services switch.
    assert_eq!(
        pubkey_sha256(&std::fs::read(site.path("data/certs/www/prev/pubkey.pem")).expect("prev/")),
        a
    );
    assert_eq!(
        std::fs::read(site.path("data/pub/www/fullchain.pem")).expect("pub"),
        std::fs::read(site.path("data/certs/www/fullchain.pem")).expect("certs")
    );
    // After retire_after, a pass retires it: nsd serves B's record alone.
    let mut only_b = false;
    for _ in 0..RETIRE_AFTER + 5 {
        std::thread::sleep(Duration::from_secs(1));
        pass(&mut passes);
        if site.tlsa() == vec![b.clone()] {
            only_b = true;
            let held = SystemTime::now()
                .duration_since(issued_at)
                .unwrap_or_default();
            assert!(
                held >= Duration::from_secs(RETIRE_AFTER),
                "old record retired after {held:?}, before retire_after"
            );
            break;
        }
    }
    assert!(
        only_b,
        "old record still served: {:?}\n{}",
        site.tlsa().iter().map(|t| hex(t)).collect::<Vec<_>>(),
        site.logs()
    );
    // The watcher takes its last sample of this end state once we return.
    (passes, b, issued_at)
}
