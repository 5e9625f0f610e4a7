//! kill -9 of certdrop-zone (issue 12): a signed zone served by a real
//! nsd; each round changes a record in the zone's sources and runs
//! `build`, which assembles, checks, signs (ldns-signzone), installs and
//! reloads nsd; the run is SIGKILLed at a random point (crash.rs). Then:
//! - the previous good state is intact: the installed zone file is whole
//!   and verifies with ldns-verify-zone, holding the old or the new
//!   record; nsd serves the old or the new serial, signed;
//! - the next `build` converges: exit 0 (2 only if the killed run had
//!   recorded its install), nsd serves the new serial and record, signed,
//!   and the installed file verifies;
//! - no `.tmp.*` is left in the build tree or in nsd's zone directory.

use std::path::Path;
use std::process::Command;

use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::{within, Run, Tmpfs, Tree};

use crate::crash::{
    assert_no_temp_left, binary, calibrate, draw, finish, iterations, kill_at, temp_files,
    tree_in_memory, Gate, Rng, RUN_LIMIT,
};

const ZONE: &str = "example.test";
/// The record each round changes.
const CHANGED: &str = "change.example.test";

/// A zone tree: sources, ldns keys, nsd, zone.toml whose reload runs
/// through a gate.
struct Site {
    nsd: Nsd,
    reload: Gate,
    _fs: Tmpfs,
    tree: Tree,
}

impl Site {
    fn new() -> Site {
        let (fs, tree) = tree_in_memory(&["keys", "zones", "build", "gates"]);
        let d = tree.root();
        tree.write(
            "soa",
            &format!(
                "$TTL 60\n@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. ( 1 3600 900 1209600 60 )\n"
            ),
        );
        let mut keys = Vec::new();
        for ksk in [true, false] {
            let mut cmd = Command::new("ldns-keygen");
            cmd.current_dir(d.join("keys"))
                .args(["-a", "ECDSAP256SHA256"]);
            if ksk {
                cmd.arg("-k");
            }
            let ran = cmd.arg(ZONE).ran().expect(0);
            keys.push(format!("\"keys/{}\"", ran.stdout.trim()));
        }
        let nsd = Nsd::start(&d.join("nsd"), &d.join("zones"), &[ZONE]);
        let reload = Gate::new(
            &d.join("gates"),
            "reload",
            &format!("nsd-control -c {} reload \"$1\"", nsd.conf.display()),
        );
        tree.write(
            "zone.toml",
            &format!(
                "build = \"build\"\ninstall = \"zones\"\n\
                 reload = [\"sh\", \"{}\", \"{{zone}}\"]\n[[zone]]\nname = \"{ZONE}\"\n\
                 soa = \"soa\"\nprimary = \"primary\"\nkeys = [{}]\n",
                reload.script().display(),
                keys.join(", ")
            ),
        );
        let site = Site {
            nsd,
            reload,
            _fs: fs,
            tree,
        };
        site.change(0);
        site
    }

    /// The sources of round `n`: the changed record says `round-n`.
    fn change(&self, n: usize) {
        self.tree.write(
            "primary",
            &format!("@ NS ns1\nns1 A 127.0.0.1\nchange TXT \"round-{n}\"\n"),
        );
    }

    fn build(&self) -> Command {
        let conf = self.tree.path("zone.toml");
        binary(
            "certdrop-zone",
            &["-c", conf.to_str().expect("utf8"), "build"],
        )
    }

    fn installed(&self) -> std::path::PathBuf {
        self.tree.path(&format!("zones/{ZONE}.zone"))
    }

    /// The installed zone file verifies with ldns-verify-zone; its serial
    /// and changed record.
    fn installed_verifies(&self, context: &str) -> (u32, String) {
        let file = self.installed();
        let ran = Command::new("ldns-verify-zone").arg(&file).ran();
        assert_eq!(
            ran.code, 0,
            "the installed zone does not verify: {ran:?}\n{context}"
        );
        zone_facts(&file)
            .unwrap_or_else(|| panic!("the installed zone is not whole: {file:?}\n{context}"))
    }

    /// What nsd serves: the serial and the changed record, both signed.
    fn served(&self) -> Option<(u32, String)> {
        let soa = self.nsd.ask("SOA", ZONE, true);
        let txt = self.nsd.ask("TXT", CHANGED, true);
        let signed = |rows: &[(String, String, String)]| rows.iter().any(|(_, t, _)| t == "RRSIG");
        if !signed(&soa) || !signed(&txt) {
            return None;
        }
        let serial = soa
            .iter()
            .find(|(_, t, _)| t == "SOA")
            .and_then(|(_, _, r)| r.split_whitespace().nth(2)?.parse().ok())?;
        let value = txt.iter().find(|(_, t, _)| t == "TXT")?.2.clone();
        Some((serial, value))
    }

    /// Whether the build's state records the last assembled serial as
    /// installed.
    fn recorded(&self) -> bool {
        let text = std::fs::read_to_string(self.tree.path(&format!("build/state/{ZONE}.json")))
            .unwrap_or_default();
        let number = |key: &str| {
            let at = text.find(&format!("\"{key}\""))? + key.len() + 2;
            let rest = text[at..].trim_start_matches([':', ' ']);
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest[..end].parse::<u32>().ok()
        };
        number("serial").is_some() && number("serial") == number("installed")
    }

    /// The build's and nsd's temporary files.
    fn temp_left(&self) -> Vec<std::path::PathBuf> {
        let mut v = temp_files(&self.tree.path("build"));
        v.extend(temp_files(&self.tree.path("zones")));
        v
    }
}

/// The serial and the changed record's value of a zone file (None if
/// either is missing).
fn zone_facts(file: &Path) -> Option<(u32, String)> {
    let text = std::fs::read_to_string(file).ok()?;
    let mut serial = None;
    let mut value = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 7 && f[3] == "SOA" {
            serial = f[6].parse().ok();
        }
        if f.len() >= 5 && f[0].trim_end_matches('.') == CHANGED && f[3] == "TXT" {
            value = Some(f[4..].join(" "));
        }
    }
    Some((serial?, value?))
}

#[test]
fn kill_9_of_zone_builds_keeps_the_served_zone_and_converges() {
    let mut rng = Rng::for_test("zone");
    let rounds = iterations();
    let started = std::time::Instant::now();
    let site = Site::new();
    finish(site.build()).expect(0);
    let mut good = site.installed_verifies("first build");
    assert!(
        within(RUN_LIMIT, || site.served() == Some(good.clone())),
        "nsd does not serve the first build: {:?}",
        site.served()
    );
    // A calibration round: one change built to the end.
    site.change(1);
    let before = site.tree.listing("build/tmp");
    let (took, span) = calibrate(site.build(), &site.tree.path("calibration.log"), || {
        site.tree.listing("build/tmp") != before
    });
    eprintln!("crash zone: calibration {took:?}, {span:?} from the first write");
    good = site.installed_verifies("calibration");
    let mut killed_runs = 0;
    for n in 0..rounds {
        let value = format!("\"round-{}\"", n + 2);
        site.change(n + 2);
        let point = draw(&mut rng, &["reload"], took, span);
        let before_tmp = site.tree.listing("build/tmp");
        let log = site.tree.path(&format!("round-{n}.log"));
        let k = kill_at(
            site.build(),
            &log,
            &point,
            || site.tree.listing("build/tmp") != before_tmp,
            &[&site.reload],
        );
        killed_runs += usize::from(k.killed);
        let context = format!(
            "round {n}: {point:?}, {}; killed run:\n{}",
            if k.killed { "killed" } else { "ended" },
            k.output
        );
        // The previous good state: the installed file is whole and
        // verifies, the old zone or the new one; nsd serves one of them.
        let now = site.installed_verifies(&context);
        assert!(
            now == good || now.1 == value,
            "installed zone {now:?}: neither the old {good:?} nor the new record {value}\n{context}"
        );
        let served = site.served();
        assert!(
            served
                .as_ref()
                .is_some_and(|(s, v)| (*s == good.0 && *v == good.1) || *v == value),
            "nsd serves {served:?}: neither {good:?} nor the new record\n{context}"
        );
        // The next build converges.
        // Nothing is left to do (2) only when the killed run had
        // installed the new zone and recorded it.
        let done = site.recorded() && zone_facts(&site.installed()).is_some_and(|f| f.1 == value);
        let ran = finish(site.build());
        let context = format!("{context}\nnext run: {ran:?}");
        let ok: &[i32] = match (k.killed, done) {
            (false, _) => &[2],
            (true, true) => &[0, 2],
            (true, false) => &[0],
        };
        assert!(ok.contains(&ran.code), "did not converge\n{context}");
        let now = site.installed_verifies(&context);
        assert_eq!(now.1, value, "the new record is not installed\n{context}");
        assert!(
            within(RUN_LIMIT, || site.served() == Some(now.clone())),
            "nsd does not serve the new zone {now:?}: {:?}\n{context}",
            site.served()
        );
        assert!(now.0 != good.0, "the serial did not change\n{context}");
        good = now;
        assert_no_temp_left(site.tree.root(), &site.temp_left(), &context);
        eprintln!("crash zone: round {n}: {point:?}: killed {}", k.killed);
    }
    eprintln!(
        "crash zone: {rounds} rounds ({killed_runs} killed) in {:?}",
        started.elapsed()
    );
}
