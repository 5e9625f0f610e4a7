//! Secondaries by zone transfer, with real nsd on loopback: the key file
//! `tsig-key` writes is one nsd-checkconf accepts (and never overwritten);
//! zone.toml's [xfr] is refused with file:line: key: why; a primary nsd
//! serving what certdrop-zone builds NOTIFYs two secondary nsds, which
//! transfer under the key; `secondaries` says which one lags; an AXFR
//! without the key is refused by the primary.

use std::process::Command;

use certdrop_testkit::nsd::{Extra, Nsd};
use certdrop_testkit::tree::mode;
use certdrop_testkit::{free_port, Run};

use crate::site::{read, Tree};

const ZONE: &str = "example.test";

/// `tsig-key xfr -o tsig/xfr.key` in `tree`; returns the file's path text.
fn key(tree: &Tree) -> String {
    std::fs::create_dir_all(tree.path("tsig")).expect("mkdir");
    let path = tree.path("tsig/xfr.key");
    let ran = crate::site::run(&["tsig-key", "xfr", "-o", &path.display().to_string()]).expect(0);
    ran.stdout_has("TSIG key \"xfr\" (hmac-sha256) written");
    path.display().to_string()
}

/// zone.toml for one unsigned zone, with `top` and the `[xfr]` text.
fn config(tree: &Tree, top: &str, xfr: &str) {
    tree.config(ZONE, top, "signer = \"none\"\n");
    let text = read(&tree.path("zone.toml"));
    tree.write("zone.toml", &format!("{text}\n[xfr]\n{xfr}"));
}

#[test]
fn tsig_key_writes_a_clause_nsd_accepts_and_never_overwrites() {
    let tree = Tree::new();
    let path = key(&tree);
    assert_eq!(mode(std::path::Path::new(&path)), 0o600);
    let text = read(std::path::Path::new(&path));
    assert!(
        text.starts_with("key:\n\tname: \"xfr\"\n\talgorithm: hmac-sha256\n\tsecret: \""),
        "{text}"
    );
    let d = tree.path("nsd").display().to_string();
    let conf = tree.write(
        "nsd/nsd.conf",
        &format!("server:\n  zonesdir: \"{d}\"\ninclude: \"{path}\"\nzone:\n  name: {ZONE}\n  zonefile: z\n  provide-xfr: 127.0.0.1 xfr\n"),
    );
    Command::new("nsd-checkconf").arg(&conf).ran().expect(0);
    // The same file again: refused, the first key kept.
    crate::site::run(&["tsig-key", "xfr", "-o", &path]).one_error("refused: the file exists");
    assert_eq!(read(std::path::Path::new(&path)), text);
    let other = tree.path("other.key").display().to_string();
    crate::site::run(&["tsig-key", "xfr", "-o", &other, "-a", "hmac-md5"])
        .expect(64)
        .stderr_has("expected one of hmac-sha256, hmac-sha384, hmac-sha512");
    crate::site::run(&["-n", "tsig-key", "xfr", "-o", &other]).expect(64);
    assert!(!tree.path("other.key").exists());
}

#[test]
fn xfr_mistakes_name_file_line_and_key() {
    let tree = Tree::new();
    tree.sources(ZONE);
    let key = key(&tree);
    let top = "[\"true\"]\nserver = \"127.0.0.1:5300\"";
    // `config` puts [xfr] on line 16: its keys from line 17 on.
    let sec = |n: &str, a: &str| format!("[[xfr.secondary]]\nname = \"{n}\"\naddress = \"{a}\"\n");
    let keyed = |rest: &str| format!("tsig_key = \"{key}\"\n{rest}");
    let cases = [
        (
            sec("site1", "127.0.0.2"),
            ":18: xfr.tsig_key: secondary 'site1' needs a TSIG key",
        ),
        (
            keyed(&sec("Site1", "127.0.0.2")),
            ":19: xfr.secondary.name: 'Site1'",
        ),
        (
            keyed(&sec("site1", "site1.example")),
            ":20: xfr.secondary 'site1': address: 'site1.example': expected an IP address",
        ),
        (
            keyed(&format!(
                "{}{}",
                sec("s1", "127.0.0.2"),
                sec("s1", "127.0.0.3")
            )),
            ":22: xfr.secondary.name: 's1' defined twice",
        ),
        (
            keyed(&format!(
                "{}{}",
                sec("s1", "127.0.0.2:53"),
                sec("s2", "127.0.0.2")
            )),
            ":23: xfr.secondary 's2': address: 127.0.0.2:53 is also secondary 's1'",
        ),
        (
            keyed(&sec("s1", "127.0.0.1:5300")),
            ":20: xfr.secondary 's1': address: 127.0.0.1:5300 is the primary",
        ),
        (keyed("secondaries = []\n"), "unknown key"),
        ("tsig_key = \"nokey\"\n".into(), ":17: xfr.tsig_key: "),
    ];
    for (xfr, want) in &cases {
        config(&tree, top, xfr);
        let ran = tree.run(&["-n"]).expect(78);
        ran.stderr_has(want);
        assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    }
    // The key file itself: its mode, its clause, its algorithm.
    let bad = |text: &str, mode: u32, want: &str| {
        let p = tree.write("bad.key", text);
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .expect("chmod");
        config(
            &tree,
            top,
            &format!("tsig_key = \"bad.key\"\n{}", sec("s1", "127.0.0.2")),
        );
        tree.run(&["-n"]).expect(78).one_error(want);
    };
    let good = read(std::path::Path::new(&key));
    bad(&good, 0o644, ":17: xfr.tsig_key: ");
    bad(&good, 0o640, "(mode 640); chmod 600 it");
    bad("zone:\n name: x\n", 0o600, "line 1: expected 'key:' first");
    bad(
        &good.replace("hmac-sha256", "hmac-md5"),
        0o600,
        "bad.key: line 3: 'algorithm': expected one of",
    );
    // A malformed secret line: file, line and attribute, never the secret.
    let secret = good
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret: \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("a secret line")
        .to_owned();
    let malformed = [
        (
            good.replace("secret: \"", "secret: \"!"),
            "bad.key: line 4: 'secret': not base64",
        ),
        (
            good.replace("secret: \"", "secret \""),
            "bad.key: line 4: expected 'attribute: value'",
        ),
        (
            good.replace(&format!("{secret}\""), &secret),
            "bad.key: line 4: 'secret': unbalanced quotes",
        ),
    ];
    for (text, want) in &malformed {
        let p = tree.write("bad.key", text);
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod");
        let ran = tree.run(&["-n"]).expect(78).one_error(want);
        assert!(!ran.stderr.contains(&secret), "{}", ran.stderr);
        assert!(!ran.stderr.contains(&secret[..8]), "{}", ran.stderr);
    }
    // All well: -n says what it checked.
    config(
        &tree,
        top,
        &keyed(&format!(
            "{}{}",
            sec("s1", "127.0.0.2"),
            sec("s2", "[::1]:5353")
        )),
    );
    tree.run(&["-n"]).expect(0).stdout_has(&format!(
        "configuration ok (1 zone(s), 2 secondary(ies), TSIG key \"xfr\" (hmac-sha256) from {key})"
    ));
}

/// nsd.conf lines for a secondary of the primary at `primary_port`.
fn secondary_extra(port: u16, primary_port: u16, key: &str) -> Extra {
    Extra {
        port: Some(port),
        top: format!("include: \"{key}\"\n"),
        zone: format!(
            "  allow-notify: 127.0.0.1 xfr\n  request-xfr: AXFR 127.0.0.1@{primary_port} xfr\n"
        ),
    }
}

#[test]
fn secondaries_get_the_build_by_notify_and_a_lagging_one_is_named() {
    let tree = Tree::new();
    tree.sources(ZONE);
    let key = key(&tree);
    let ports = [free_port(), free_port()];
    let notify: String = ports
        .iter()
        .map(|p| format!("  notify: 127.0.0.1@{p} xfr\n"))
        .collect();
    let primary = Nsd::start_with(
        &tree.path("nsd"),
        &tree.path("zones"),
        &[ZONE],
        &Extra {
            port: None,
            top: format!("include: \"{key}\"\n"),
            zone: format!("{notify}  provide-xfr: 127.0.0.1 xfr\n"),
        },
    );
    let mut sites: Vec<Nsd> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let dir = tree.path(&format!("site{}", i + 1));
            Nsd::start_with(
                &dir,
                &dir.join("zones"),
                &[ZONE],
                &secondary_extra(*p, primary.addr.port(), &key),
            )
        })
        .collect();
    let secs: String = ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "[[xfr.secondary]]\nname = \"site{}\"\naddress = \"127.0.0.1:{p}\"\n",
                i + 1
            )
        })
        .collect();
    let top = format!(
        "{}\nserver = \"{}\"\nserve_wait = \"10s\"",
        primary.reload_command(),
        primary.addr
    );
    config(&tree, &top, &format!("tsig_key = \"{key}\"\n{secs}"));

    // build installs and reloads the primary; it does not wait for the
    // secondaries (-v says how many it leaves to nsd).
    let ran = tree.run(&["-v", "build"]).expect(0);
    ran.stderr_has("2 secondary(ies) configured: nsd notifies them; not waited for");
    let serial = primary.serial(ZONE).expect("primary serves the zone");
    for s in &sites {
        assert!(
            s.wait_serial(ZONE, serial),
            "secondary lacks {serial}:\n{}",
            s.log()
        );
    }
    assert!(
        sites[0].log().contains("TSIG verified with key xfr"),
        "{}",
        sites[0].log()
    );
    let ran = tree.run(&["-v", "secondaries", "--wait", "20s"]).expect(0);
    for (i, p) in ports.iter().enumerate() {
        ran.stderr_has(&format!(
            "zone {ZONE}: site{} (127.0.0.1:{p}) serves serial {serial}: current",
            i + 1
        ));
    }

    // site2 goes down; the next build reaches site1 only.
    sites[1].stop();
    tree.write(
        &format!("primary/{ZONE}"),
        "@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.0.1\nnew A 127.0.0.1\n",
    );
    tree.run(&["build"]).expect(0);
    let newer = primary
        .wait_serial_change(ZONE, Some(serial))
        .expect("new serial");
    assert!(sites[0].wait_serial(ZONE, newer), "{}", sites[0].log());
    let ran = tree.run(&["secondaries", "--wait", "1s"]).expect(69);
    ran.one_error(&format!(
        "zone {ZONE}: site2 (127.0.0.1:{}) does not answer",
        ports[1]
    ));
    let ran = tree.run(&["secondaries", "--json"]).expect(69);
    let doc: serde_json::Value = serde_json::from_str(&ran.stdout).expect("json");
    assert_eq!(doc["current"], false);
    let rows = &doc["zones"][0]["secondaries"];
    assert_eq!(
        (rows[0]["current"].clone(), rows[0]["serial"].clone()),
        (true.into(), newer.into())
    );
    assert_eq!(
        (rows[1]["name"].clone(), rows[1]["current"].clone()),
        ("site2".into(), false.into())
    );
    assert!(ran.stderr.is_empty(), "{}", ran.stderr);

    // A third secondary with another key never gets the zone: it answers
    // SERVFAIL, and is named beside site2.
    let wrong = tree.path("wrong.key").display().to_string();
    crate::site::run(&["tsig-key", "xfr", "-o", &wrong]).expect(0);
    let port3 = free_port();
    let dir = tree.path("site3");
    sites.push(Nsd::start_with(
        &dir,
        &dir.join("zones"),
        &[ZONE],
        &secondary_extra(port3, primary.addr.port(), &wrong),
    ));
    let third = format!("[[xfr.secondary]]\nname = \"site3\"\naddress = \"127.0.0.1:{port3}\"\n");
    config(&tree, &top, &format!("tsig_key = \"{key}\"\n{secs}{third}"));
    let ran = tree.run(&["secondaries"]).expect(69);
    ran.stderr_has(&format!(
        "zone {ZONE}: site2 (127.0.0.1:{}) does not answer",
        ports[1]
    ));
    ran.stderr_has(&format!(
        "zone {ZONE}: site3 (127.0.0.1:{port3}) answers SERVFAIL"
    ));
    assert_eq!(ran.stderr.lines().count(), 2, "{}", ran.stderr);
    assert!(
        sites[2].log().contains("bad tsig signature"),
        "{}",
        sites[2].log()
    );

    // A zone transfer without the key is refused; with it, served.
    let axfr = |tsig: Option<String>| {
        let mut cmd = Command::new("drill");
        if let Some(y) = tsig {
            cmd.args(["-y", &y]);
        }
        cmd.args([
            "-p",
            &primary.addr.port().to_string(),
            "@127.0.0.1",
            ZONE,
            "AXFR",
        ]);
        let out = cmd.output().expect("drill");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let refused = axfr(None);
    assert!(
        refused.contains("rcode: REFUSED") && !refused.contains("new.example.test"),
        "{refused}"
    );
    let secret = read(std::path::Path::new(&key));
    let secret = secret.split('"').nth(3).expect("secret");
    let served = axfr(Some(format!("xfr:{secret}:hmac-sha256")));
    assert!(served.contains("new.example.test."), "{served}");
}
