//! Publishing: files, link, manifest, signature; silence when nothing
//! changed; renewals and pruning; keys/ never read.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::site::{Site, IDENTITY, NAMESPACE};

/// `0A:1B` form of a serial as openssl -set_serial gives it.
fn serial(n: u32) -> String {
    format!("{n:02X}")
}

#[test]
fn first_publish_writes_a_signed_version() {
    let site = Site::new();
    let files = site.www(10);
    site.install("www", &files);
    let ran = site.run(&["run"]).expect(0);
    assert!(ran.stderr.is_empty(), "{}", ran.stderr);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", ran.stdout);
    assert!(
        lines[0].starts_with("www: published serial 0A, valid until 20"),
        "{}",
        lines[0]
    );

    // pub/www -> .v/www.<stamp>, holding exactly the public files.
    let link = site.link("www");
    assert!(link.starts_with(".v") && link.to_string_lossy().contains("/www."));
    assert_eq!(site.read("pub/www/cert.pem"), files.cert);
    assert_eq!(site.read("pub/www/chain.pem"), files.chain);
    assert_eq!(site.read("pub/www/fullchain.pem"), files.fullchain);
    assert_eq!(site.read("pub/www/pubkey.pem"), files.pubkey);
    let mut listing: Vec<String> = std::fs::read_dir(site.path("pub/www"))
        .expect("pub/www")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    listing.sort();
    assert_eq!(
        listing,
        [
            "cert.pem",
            "chain.pem",
            "fullchain.pem",
            "manifest",
            "manifest.sig",
            "pubkey.pem"
        ]
    );
    for f in &listing {
        let mode = std::fs::metadata(site.path(&format!("pub/www/{f}")))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "{f}");
    }

    // The manifest: documented fields, and sha256sum-style digests.
    let manifest = String::from_utf8(site.read("pub/www/manifest")).expect("utf-8");
    let fields: Vec<&str> = manifest.lines().collect();
    assert_eq!(fields[0], "certdrop-manifest 1");
    assert_eq!(fields[1], "line www");
    assert_eq!(fields[2], "names example.org www.example.org");
    assert_eq!(fields[3], "serial 0A");
    assert!(fields[4].starts_with("not-before 20") && fields[4].ends_with('Z'));
    assert!(fields[5].starts_with("not-after 20"));
    assert!(fields[6].starts_with("published 20"));
    assert_eq!(fields.len(), 11);
    crate::site::sh(
        &site.path("pub/www"),
        "sed -n 's/^sha256 //p' manifest | sha256sum -c --quiet",
    );

    // The real ssh-keygen accepts the signature; so does verify.
    let v = site.ssh_keygen_verify("www").expect(0);
    assert!(
        v.stdout
            .contains(&format!("Good \"{NAMESPACE}\" signature for {IDENTITY}")),
        "{v:?}"
    );
    site.verify("pub", &[]).expect(0).silent();
    site.verify("pub", &["--identity", IDENTITY])
        .expect(0)
        .silent();
}

#[test]
fn a_second_run_is_silent() {
    let site = Site::new();
    site.install("www", &site.www(1));
    site.run(&["run"]).expect(0);
    let link = site.link("www");
    site.run(&["run"]).expect(2).silent();
    site.run(&[]).expect(64);
    assert_eq!(site.link("www"), link);
    // Re-published by the issuer unchanged (a new version dir in certs/):
    // still the same certificate, nothing to do.
    site.store()
        .publish("www", None, None, None)
        .expect("republish");
    site.run(&["run"]).expect(2).silent();
    // -f publishes it again.
    let ran = site.run(&["run", "-f"]).expect(0);
    assert!(
        ran.stdout.starts_with("www: published serial 01,"),
        "{ran:?}"
    );
    assert_ne!(site.link("www"), link);
}

#[test]
fn renewals_make_new_versions_and_old_ones_are_pruned() {
    let site = Site::new();
    let mut links = Vec::new();
    for n in 1..=5 {
        let files = site.www(n);
        site.install("www", &files);
        let ran = site.run(&["run"]).expect(0);
        assert!(
            ran.stdout
                .starts_with(&format!("www: published serial {},", serial(n))),
            "{ran:?}"
        );
        assert_eq!(site.read("pub/www/cert.pem"), files.cert);
        links.push(site.link("www"));
        site.ssh_keygen_verify("www").expect(0);
    }
    // keep = 3: the visible version and the two before it.
    let expected: Vec<String> = links[2..]
        .iter()
        .map(|l| l.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(site.versions(), expected);
}

#[test]
fn keys_are_never_read_nor_published() {
    let site = Site::new();
    let store = site.store();
    let secret = b"-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n";
    store
        .write_key(&store.key_path("www"), secret)
        .expect("key");
    site.install("www", &site.www(1));
    // A key misplaced into the public tree is not copied either.
    let version = std::fs::canonicalize(site.path("certs/www")).expect("version");
    std::fs::write(version.join("key.pem"), secret).expect("stray key");
    std::fs::set_permissions(site.path("keys"), std::fs::Permissions::from_mode(0o000))
        .expect("chmod 000");
    let ran = site.run(&["run"]);
    std::fs::set_permissions(site.path("keys"), std::fs::Permissions::from_mode(0o700))
        .expect("chmod back");
    ran.expect(0);
    for entry in walk(&site.path("pub")) {
        assert_ne!(entry.file_name().and_then(|n| n.to_str()), Some("key.pem"));
        if entry.is_file() {
            let data = std::fs::read(&entry).expect("read");
            assert!(
                !data.windows(6).any(|w| w == b"secret"),
                "{}",
                entry.display()
            );
        }
    }
    site.verify("pub", &[]).expect(0);
}

/// Every path below `dir` (not following symlinks).
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.symlink_metadata().expect("meta").is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn check_mode_gates_and_writes_nothing() {
    let site = Site::new();
    site.install("www", &site.www(7));
    let ran = site.run(&["-n"]).expect(0);
    assert!(
        ran.stdout
            .starts_with("www: would publish serial 07, valid until "),
        "{ran:?}"
    );
    assert!(ran.stdout.contains("configuration ok (1 line(s))"));
    assert!(!site.path("pub").exists());
    site.run(&["check"]).expect(0);
    site.run(&["run"]).expect(0);
    let ran = site.run(&["-n", "run"]).expect(0);
    assert!(!ran.stdout.contains("would publish"), "{ran:?}");
}

#[test]
fn one_refused_line_does_not_stop_another() {
    let mut site = Site::new();
    site.lines
        .push(("mail".into(), crate::site::names(&["mail.example.org"])));
    site.install("www", &site.www(1));
    // mail's certificate covers the wrong name.
    site.install("mail", &site.leaf(2, &["smtp.example.org"], 30));
    let ran = site.run(&["run"]).expect(0);
    assert!(
        ran.stdout.starts_with("www: published serial 01,"),
        "{ran:?}"
    );
    assert_eq!(
        ran.stderr,
        "certdrop-publish: mail: refused: names [smtp.example.org] differ from [mail.example.org]\n"
    );
    assert!(!site.path("pub/mail").exists());
    // Nothing published this time: the refusal decides (65).
    site.run(&["run"]).expect(65);
    // Only the named line.
    site.run(&["run", "www"]).expect(2).silent();
    site.run(&["run", "nope"]).expect(64);
}

#[test]
fn json_reports_every_line() {
    let site = Site::new();
    site.install("www", &site.www(3));
    let ran = site.run(&["--json", "run"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).expect("json");
    assert_eq!(v[0]["line"], "www");
    assert_eq!(v[0]["status"], "published");
    assert_eq!(v[0]["serial"], "03");
    assert!(v[0]["version"]
        .as_str()
        .expect("version")
        .starts_with(".v/www."));
    let ran = site.run(&["--json", "run"]).expect(2);
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).expect("json");
    assert_eq!(v[0]["status"], "unchanged");
}

#[test]
fn a_damaged_publication_or_a_new_signing_key_is_republished() {
    let site = Site::new();
    site.install("www", &site.www(1));
    site.run(&["run"]).expect(0);
    // The signature is lost: the same certificate is published again.
    std::fs::remove_file(site.path("pub/www/manifest.sig")).expect("rm");
    let ran = site.run(&["run"]).expect(0);
    assert!(
        ran.stdout.starts_with("www: published serial 01,"),
        "{ran:?}"
    );
    site.run(&["run"]).expect(2).silent();
    // A new signing key: republished, signed by it.
    std::fs::remove_file(site.path("sign_key")).expect("rm");
    std::fs::remove_file(site.path("sign_key.pub")).expect("rm");
    crate::site::keygen(&site.path("sign_key"), IDENTITY);
    site.verify("pub", &[]).expect(0);
    site.run(&["run"]).expect(0);
    site.verify("pub", &[]).expect(65);
    let public = std::fs::read_to_string(site.path("sign_key.pub")).expect("pub");
    site.write("allowed_signers", &format!("{IDENTITY} {public}"));
    site.verify("pub", &[]).expect(0);
    site.ssh_keygen_verify("www").expect(0);
}

#[test]
fn an_ip_address_line_is_published() {
    // certdrop-issue's IP identifiers (RFC 8738): iPAddress SANs, named in
    // publish.toml as written (the IPv6 one in another spelling).
    let mut site = Site::new();
    site.lines = vec![(
        "ips".into(),
        crate::site::names(&["2001:DB8:0::7", "192.0.2.7"]),
    )];
    let files = site.leaf(11, &["192.0.2.7", "2001:db8::7"], 30);
    site.install("ips", &files);
    let ran = site.run(&["run"]).expect(0);
    ran.stdout_has("ips: published serial 0B");
    let manifest = String::from_utf8(site.read("pub/ips/manifest")).expect("utf-8");
    assert!(
        manifest.lines().any(|l| l == "names 192.0.2.7 2001:db8::7"),
        "{manifest}"
    );
    site.verify("pub", &[]).expect(0).silent();
    // Another address is refused as another name would be.
    site.install("ips", &site.leaf(12, &["192.0.2.7", "2001:db8::8"], 30));
    let ran = site.run(&["run"]).expect(65);
    ran.stderr_has("names [192.0.2.7, 2001:db8::8] differ from [192.0.2.7, 2001:db8::7]");
}
