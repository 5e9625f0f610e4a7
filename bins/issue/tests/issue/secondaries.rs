//! dns-01 propagation across a primary nsd and two secondaries that get
//! the zone by NOTIFY and AXFR under TSIG: one secondary holds a wrong
//! key, so it keeps serving the old zone; the order fails after the
//! propagation timeout with one line that names that secondary and what
//! it serves, and neither the primary nor the good secondary.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use certdrop_testkit::nsd::{challenge_zone, Extra, Nsd};
use certdrop_testkit::{free_port, Tree};

use crate::site::{run_bin, Site};

const ZONE: &str = "example.test";
const KEY: &str = "K2tf3TRjvQkVCmJF3/Z9vA+3Oq7a5Wm1rGk0cXz1b9E=";
const WRONG: &str = "AAAf3TRjvQkVCmJF3/Z9vA+3Oq7a5Wm1rGk0cXz1b9E=";

/// A key clause file (mode 0600), as `certdrop-zone tsig-key` writes one.
fn key_file(tree: &Tree, rel: &str, secret: &str) -> String {
    let p = tree.write(
        rel,
        &format!("key:\n\tname: \"xfr\"\n\talgorithm: hmac-sha256\n\tsecret: \"{secret}\"\n"),
    );
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    p.display().to_string()
}

/// The records of every fragment in `dnsextra` (dot files are temporaries).
fn fragments(dnsextra: &Path) -> String {
    let mut lines: Vec<String> = std::fs::read_dir(dnsextra)
        .map(|d| {
            d.flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    lines.sort();
    lines.concat()
}

#[test]
fn a_secondary_that_misses_the_transfer_is_named_with_what_it_serves() {
    let mut site = Site::start();
    site.relay = None; // the primary below serves dnsextra/
    let tree = Tree::new();
    let good = key_file(&tree, "xfr.key", KEY);
    let wrong = key_file(&tree, "wrong.key", WRONG);
    tree.write("primary/example.test.zone", &challenge_zone(""));
    // site2 starts with the zone as it was (serial 1) and the wrong key.
    tree.write("site2/zones/example.test.zone", &challenge_zone(""));
    let ports = [free_port(), free_port()];
    let primary = Nsd::start_with(
        &tree.path("primary"),
        &tree.path("primary"),
        &[ZONE],
        &Extra {
            port: None,
            top: format!("include: \"{good}\"\n"),
            zone: format!(
                "  notify: 127.0.0.1@{} xfr\n  notify: 127.0.0.1@{} xfr\n  provide-xfr: 127.0.0.1 xfr\n",
                ports[0], ports[1]
            ),
        },
    );
    let secondary = |n: usize, key: &str| {
        let dir = tree.path(&format!("site{n}"));
        Nsd::start_with(
            &dir,
            &dir.join("zones"),
            &[ZONE],
            &Extra {
                port: Some(ports[n - 1]),
                top: format!("include: \"{key}\"\n"),
                zone: format!(
                    "  allow-notify: 127.0.0.1 xfr\n  request-xfr: AXFR 127.0.0.1@{} xfr\n",
                    primary.addr.port()
                ),
            },
        )
    };
    let (site1, site2) = (secondary(1, &good), secondary(2, &wrong));
    assert!(site1.wait_serial(ZONE, 1), "{}", site1.log());
    assert_eq!(site2.serial(ZONE), Some(1));

    // What certdrop-zone does on the signing site, in a few lines: the
    // fragments into the primary's zone, a new serial, a reload; nsd
    // notifies the secondaries.
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (stop, dnsextra) = (stop.clone(), site.path("dnsextra"));
        let (zonefile, conf) = (tree.path("primary/example.test.zone"), primary.conf.clone());
        std::thread::spawn(move || {
            let (mut served, mut serial) = (String::new(), 1);
            while !stop.load(Ordering::SeqCst) {
                let now = fragments(&dnsextra);
                if now != served {
                    serial += 1;
                    let text = challenge_zone(&now).replace("(1 3600", &format!("({serial} 3600"));
                    std::fs::write(&zonefile, text).expect("zone");
                    std::process::Command::new("nsd-control")
                        .arg("-c")
                        .arg(&conf)
                        .args(["reload", ZONE])
                        .output()
                        .expect("nsd-control");
                    served = now;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    site.line("name = \"www\"\ndomains = [\"www.example.test\"]");
    let servers = format!(
        "servers = [\"{}\", \"{}\", \"{}\"]",
        primary.addr, site1.addr, site2.addr
    );
    let text = site
        .config_text()
        .replace(
            &format!("servers = [\"{}\"]", site.pebble.dns_addr),
            &servers,
        )
        .replace("timeout = \"20s\"", "timeout = \"6s\"");
    let config = site.path("xfr.toml");
    std::fs::write(&config, text).expect("write");
    let ran = run_bin(&config, &["run"]).expect(75);
    stop.store(true, Ordering::SeqCst);
    publisher.join().expect("publisher");

    let line = ran
        .stderr
        .lines()
        .find(|l| l.contains("propagation"))
        .unwrap_or_else(|| panic!("no propagation line: {}", ran.stderr));
    assert!(
        line.contains("www: propagation: TXT _acme-challenge.www.example.test.: not visible on 1 of 3 server(s) after "),
        "{line}"
    );
    assert!(
        line.contains(&format!("{} serves \"v1\", \"v2\", not \"", site2.addr)),
        "{line}"
    );
    assert!(!line.contains(&primary.addr.to_string()), "{line}");
    assert!(!line.contains(&site1.addr.to_string()), "{line}");
    // The good secondary did get the value by NOTIFY and AXFR.
    assert!(
        site1.log().contains("TSIG verified with key xfr"),
        "{}",
        site1.log()
    );
    assert!(site1.serial(ZONE) > Some(1), "{}", site1.log());
    // The other refused it: its key does not match.
    assert!(
        site2.log().contains("bad tsig signature"),
        "{}",
        site2.log()
    );
}
