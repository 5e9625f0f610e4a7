//! zonebuild/: the example tree built by make, step by step, against a real
//! nsd; a second make does nothing; a new fragment rebuilds through install.

use std::path::Path;
use std::process::Command;

use crate::site::{answered, V1, V2};
use certdrop_testkit::nsd::Nsd;

pub(crate) fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read zonebuild") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

pub(crate) fn make(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("make")
        .arg("-C")
        .arg(dir)
        .arg(format!(
            "CERTDROP_ZONE={}",
            env!("CARGO_BIN_EXE_certdrop-zone")
        ))
        .args(args)
        .output()
        .expect("make");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn make_builds_step_by_step_and_only_what_changed() {
    let tmp = certdrop_testkit::Tree::new();
    let tree = tmp.path("zonebuild");
    std::fs::create_dir_all(&tree).expect("mkdir");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../zonebuild"),
        &tree,
    );
    let nsd = Nsd::start(&tmp.path("nsd"), &tree.join("zones"), &["example.test"]);
    let conf = std::fs::read_to_string(tree.join("zone.toml")).expect("zone.toml");
    let conf = conf.replace(
        "reload = [\"nsd-control\", \"reload\", \"{zone}\"]",
        &format!("reload = {}", nsd.reload_command()),
    );
    std::fs::write(tree.join("zone.toml"), conf).expect("write");

    let (ok, text) = make(&tree, &["setup"]);
    assert!(ok, "{text}");
    assert!(tree.join("keys/example.test.ksk.key").exists());
    std::fs::write(
        tree.join("dnsextra/a"),
        format!("_acme-challenge.www.example.test. 60 IN TXT \"{V1}\"\n"),
    )
    .expect("frag");
    let (ok, text) = make(&tree, &[]);
    assert!(ok, "{text}");
    for step in ["assembled, serial", "signed into", "installed and reloaded"] {
        assert!(text.contains(step), "{step}: {text}");
    }
    let serial = nsd
        .wait_serial_change("example.test", None)
        .expect("served");
    let has_v1 = |rows: &[(String, String, String)]| rows.iter().any(|(_, _, r)| r.contains(V1));
    assert!(has_v1(&answered(
        &nsd,
        "TXT",
        "_acme-challenge.www.example.test",
        false,
        has_v1
    )));
    assert!(nsd
        .ask("DNSKEY", "example.test", false)
        .iter()
        .any(|(_, t, _)| t == "DNSKEY"));

    // Nothing changed: the filters run, nothing else does.
    let (ok, text) = make(&tree, &[]);
    assert!(ok, "{text}");
    assert!(
        !text.contains("assembled") && !text.contains("signed") && !text.contains("installed"),
        "{text}"
    );

    // A hostile drop: each filter says a few lines and the count, and
    // nothing is rebuilt (no entry got through).
    for i in 0..1000 {
        std::fs::write(tree.join(format!("dnsextra/junk{i:04}")), "junk\n").expect("junk");
        std::fs::create_dir(tree.join(format!("phonehome/bad_{i:04}"))).expect("host");
    }
    let (ok, text) = make(&tree, &[]);
    assert!(ok, "{text}");
    assert!(!text.contains("assembled"), "{text}");
    for dir in ["dnsextra", "phonehome"] {
        assert!(
            text.contains(&format!(
                "{dir}: 995 more rejected entries not shown (1000 in all"
            )),
            "{text}"
        );
    }
    // Five and the count per directory, and the map's lines without a
    // certificate (tlsa.map names two).
    let said = text
        .lines()
        .filter(|l| l.starts_with("certdrop-zone: "))
        .count();
    assert_eq!(said, 2 * 6 + 2, "{text}");
    for i in 0..1000 {
        std::fs::remove_file(tree.join(format!("dnsextra/junk{i:04}"))).expect("rm");
        std::fs::remove_dir(tree.join(format!("phonehome/bad_{i:04}"))).expect("rm");
    }

    // A new fragment: every step again, and nsd serves both values.
    std::fs::write(
        tree.join("dnsextra/b"),
        format!("_acme-challenge.www.example.test. 60 IN TXT \"{V2}\"\n"),
    )
    .expect("frag");
    let (ok, text) = make(&tree, &[]);
    assert!(ok && text.contains("installed and reloaded"), "{text}");
    assert!(nsd
        .wait_serial_change("example.test", Some(serial))
        .is_some());
    assert_eq!(
        answered(
            &nsd,
            "TXT",
            "_acme-challenge.www.example.test",
            false,
            |r| r.len() == 2
        )
        .len(),
        2
    );

    // A broken primary stops make at assemble; nothing served changes.
    let served = std::fs::read(tree.join("zones/example.test.zone")).expect("zone");
    std::fs::write(
        tree.join("primary/example.test"),
        "@ NS ns1\nns1 A 127.0.0.1\nns1 CNAME www\n",
    )
    .expect("write");
    let (ok, text) = make(&tree, &[]);
    assert!(!ok && text.contains("CNAME beside other data"), "{text}");
    assert_eq!(
        std::fs::read(tree.join("zones/example.test.zone")).expect("zone"),
        served
    );
}
