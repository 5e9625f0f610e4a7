//! `pull`, kind pub: a tree made by a real `run`, received with real rsync
//! into a staging directory, verified, installed into recv/pub; nothing
//! new is silent; a renewal switches; tampered trees and older trees are
//! refused with the held tree unchanged byte for byte; `-n` runs nothing.

use std::os::unix::fs::MetadataExt;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::receiver::{config, pull, rsync, rsync_config, snapshot, verify, words, Node};
use crate::site::{keygen, sh, Site, NAMESPACE};

/// A signing site with www and mail published, and a receiver that pulled
/// them once from pub/ with rsync.
fn received() -> Site {
    let mut site = Site::new();
    site.lines
        .push(("mail".into(), crate::site::names(&["mail.example.org"])));
    site.install("www", &site.www(1));
    site.install("mail", &site.leaf(2, &["mail.example.org"], 30));
    site.run(&["run"]).expect(0);
    rsync_config(&site, "pub");
    let ran = pull(&site, &[]).expect(0);
    assert_eq!(ran.stderr, "");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{ran:?}");
    assert!(
        lines[0].starts_with("mail: switched to serial 02, valid until "),
        "{ran:?}"
    );
    assert!(
        lines[1].starts_with("www: switched to serial 01, valid until "),
        "{ran:?}"
    );
    site
}

#[test]
fn the_first_pull_installs_nothing_new_is_silent_and_a_renewal_switches() {
    let site = received();
    verify(&site, "recv/pub").expect(0).silent();
    assert_eq!(
        site.read("recv/pub/www/cert.pem"),
        site.read("pub/www/cert.pem")
    );
    // Installed from the verified bytes: version directories of its own,
    // no file shared with (or linked into) staging.
    let link = std::fs::read_link(site.path("recv/pub/www")).expect("link");
    assert!(link.starts_with(".v"), "{}", link.display());
    let (held, staged) = (
        std::fs::metadata(site.path("recv/pub/www/fullchain.pem")).expect("held"),
        std::fs::metadata(site.path("recv/staging/www/fullchain.pem")).expect("staged"),
    );
    assert_ne!(held.ino(), staged.ino());
    assert_eq!(held.mode() & 0o777, 0o644);

    pull(&site, &[]).expect(2).silent();
    let ran = pull(&site, &["-v"]).expect(2);
    ran.stderr_has("www: unchanged");

    // A renewal upstream: www switches, mail stays, both still verify.
    let mail = line(&site, "mail");
    site.install("www", &site.www(3));
    site.run(&["run"]).expect(0);
    let ran = pull(&site, &[]).expect(0);
    assert_eq!(ran.stderr, "");
    assert_eq!(ran.stdout.lines().count(), 1, "{ran:?}");
    ran.stdout_starts("www: switched to serial 03, valid until ");
    assert_eq!(
        site.read("recv/pub/www/cert.pem"),
        site.read("pub/www/cert.pem")
    );
    assert_eq!(line(&site, "mail"), mail);
    verify(&site, "recv/pub").expect(0).silent();
    // The manifest still verifies with ssh-keygen at the receiving end.
    let manifest = std::fs::File::open(site.path("recv/pub/www/manifest")).expect("manifest");
    let ran: certdrop_testkit::Ran = std::process::Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(site.path("allowed_signers"))
        .args(["-I", crate::site::IDENTITY, "-n", NAMESPACE, "-s"])
        .arg(site.path("recv/pub/www/manifest.sig"))
        .stdin(manifest)
        .output()
        .expect("ssh-keygen")
        .into();
    ran.expect(0);

    // --json: one report per line, nothing else on stdout.
    site.install("www", &site.www(4));
    site.run(&["run"]).expect(0);
    let ran = pull(&site, &["--json"]).expect(0);
    let reports: serde_json::Value = serde_json::from_str(&ran.stdout).expect("JSON");
    let reports = reports.as_array().expect("an array");
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert_eq!(reports[0]["line"], "mail");
    assert_eq!(reports[0]["status"], "unchanged");
    assert_eq!(reports[1]["line"], "www");
    assert_eq!(reports[1]["status"], "switched");
    assert!(reports[1]["received"]
        .as_str()
        .expect("received")
        .starts_with("serial 04, valid until "));
    let version = reports[1]["version"].as_str().expect("version");
    assert_eq!(
        std::fs::read_link(site.path("recv/pub/www")).expect("link"),
        PathBuf::from(version)
    );

    // A line that vanished upstream is kept (said with -v).
    sh(site.root(), "rm pub/mail");
    let ran = pull(&site, &["-v"]).expect(2);
    ran.stderr_has("mail: not in staging, kept");
    assert!(site.path("recv/pub/mail/cert.pem").exists());
}

/// Where recv/pub/<name> points, and what it holds there.
fn line(site: &Site, name: &str) -> (PathBuf, BTreeMap<String, Node>) {
    let link = site.path(&format!("recv/pub/{name}"));
    (
        std::fs::read_link(&link).expect("a line link"),
        snapshot(&link),
    )
}

/// Serve a copy of pub/ (served/), changed by `tamper`, with www renewed
/// upstream and mail too, so that good newer lines are there: the pull
/// must exit 65 with exactly `want` and switch nothing at all. Returns
/// the site, served/ still tampered.
#[track_caller]
fn refused(tamper: &dyn Fn(&Site), want: &dyn Fn(&Site) -> String) -> Site {
    let site = received();
    site.install("www", &site.www(5));
    site.install("mail", &site.leaf(6, &["mail.example.org"], 30));
    site.run(&["run"]).expect(0);
    sh(site.root(), "cp -a pub served");
    tamper(&site);
    config(&site, "pub", &rsync(&site, "served"), "pub", "");
    let before = snapshot(&site.path("recv/pub"));
    let ran = pull(&site, &[]).expect(65);
    assert_eq!(ran.stdout, "");
    assert_eq!(ran.stderr, format!("certdrop-publish: {}\n", want(&site)));
    assert_eq!(
        snapshot(&site.path("recv/pub")),
        before,
        "held tree changed"
    );
    verify(&site, "recv/pub").expect(0);
    site
}

/// Change served/www with `script` (run in served/www, `$KEY` the leaf's
/// private key file), then write the manifest's digests afresh and sign it
/// with the site's own key: a tree its signer really signed.
fn resigned(site: &Site, script: &str) {
    sh(
        &site.path("served/www"),
        &format!(
            "KEY={key}
             {script}
             grep -v '^sha256 ' manifest > m
             for f in $(sed -n 's/^sha256 [0-9a-f]*  //p' manifest); do
               echo \"sha256 $(sha256sum $f | cut -d' ' -f1)  $f\" >> m
             done
             mv m manifest && rm manifest.sig
             ssh-keygen -q -Y sign -n {NAMESPACE} -f {sign} manifest",
            key = site.path("pki/leaf.key").display(),
            sign = site.path("sign_key").display(),
        ),
    );
}

/// The label of the first PEM block of pki/leaf.key (`PRIVATE KEY`).
fn key_label(site: &Site) -> String {
    let text = site.read_text("pki/leaf.key");
    let first = text.lines().next().expect("a BEGIN line");
    first
        .trim_start_matches("-----BEGIN ")
        .trim_end_matches('-')
        .to_string()
}

#[test]
fn a_signed_private_key_appended_to_fullchain_is_refused_by_pull_and_verify() {
    let site = refused(
        &|site| resigned(site, "cat \"$KEY\" >> fullchain.pem"),
        &|site| {
            format!(
                "{}: refused: holds a private key (PEM {})",
                site.path("recv/staging/www/fullchain.pem").display(),
                key_label(site)
            )
        },
    );
    assert!(site.read_text("pki/leaf.key").contains("PRIVATE KEY"));
    let ran = verify(&site, "served").expect(65);
    assert_eq!(ran.stdout, "");
    assert_eq!(
        ran.stderr,
        format!(
            "certdrop-publish: {}: refused: holds a private key (PEM {})\n",
            site.path("served/www/fullchain.pem").display(),
            key_label(&site)
        )
    );
}

#[test]
fn a_signed_key_pem_is_refused_by_pull_and_verify() {
    let site = refused(
        &|site| {
            resigned(
                site,
                "cp \"$KEY\" key.pem && echo 'sha256 0000  key.pem' >> manifest",
            )
        },
        &|site| {
            format!(
                "{}: line 12: 'key.pem': a pub/ manifest lists only \
                 cert.pem, chain.pem, fullchain.pem, pubkey.pem",
                site.path("recv/staging/www/manifest").display()
            )
        },
    );
    let ran = verify(&site, "served").expect(65);
    assert_eq!(ran.stderr.lines().count(), 1, "{ran:?}");
    ran.stderr_has("served/www/manifest: line 12: 'key.pem': a pub/ manifest lists only");
}

#[test]
fn a_changed_byte_is_refused() {
    refused(
        &|site| {
            let path = site.path("served/www/fullchain.pem");
            let mut data = std::fs::read(&path).expect("read");
            let i = data.len() / 2;
            data[i] ^= 1;
            std::fs::write(&path, data).expect("write");
        },
        &|site| {
            format!(
                "{}: SHA-256 differs from the manifest",
                site.path("recv/staging/www/fullchain.pem").display()
            )
        },
    );
}

#[test]
fn an_added_file_is_refused() {
    refused(
        &|site| {
            site.write("served/www/key.pem", "-----BEGIN PRIVATE KEY-----\n");
        },
        &|site| {
            format!(
                "{}: not listed in the manifest",
                site.path("recv/staging/www/key.pem").display()
            )
        },
    );
}

#[test]
fn a_manifest_signed_by_another_key_is_refused() {
    refused(
        &|site| {
            keygen(&site.path("intruder"), "intruder");
            sh(
                site.root(),
                &format!(
                    "cp served/www/manifest m && ssh-keygen -q -Y sign -n {NAMESPACE} -f intruder m
                     rm served/www/manifest.sig && mv m.sig served/www/manifest.sig"
                ),
            );
        },
        &|site| {
            let fp = certdrop_testkit::sh(
                site.root(),
                "ssh-keygen -l -E sha256 -f intruder.pub | cut -d' ' -f2",
            );
            format!(
                "{}: signed by {}, not an allowed signer for '{}'",
                site.path("recv/staging/www/manifest.sig").display(),
                fp.trim(),
                crate::site::IDENTITY
            )
        },
    );
}

#[test]
fn a_link_out_of_staging_is_refused() {
    // The link points at a perfectly good copy of the line: it is refused
    // for where it points, before anything in it is read.
    refused(
        &|site| {
            sh(
                site.root(),
                "cp -rL served/www outside && rm served/www && ln -s \"$PWD/outside\" served/www",
            );
        },
        &|site| {
            format!(
                "{}: points outside the tree",
                site.path("recv/staging/www").display()
            )
        },
    );
}

#[test]
fn an_older_tree_is_kept_and_newer_lines_still_switch() {
    let site = received();
    sh(site.root(), "cp -rL pub first");
    site.install("www", &site.www(7));
    site.run(&["run"]).expect(0);
    pull(&site, &[]).expect(0);
    let held_www = line(&site, "www");
    // Served again: the first www (older) beside a renewed mail (newer).
    site.install("mail", &site.leaf(8, &["mail.example.org"], 30));
    site.run(&["run"]).expect(0);
    sh(
        site.root(),
        "mkdir served && cp -r first/www served/www && cp -rL pub/mail served/mail",
    );
    config(&site, "pub", &rsync(&site, "served"), "pub", "");
    let ran = pull(&site, &[]).expect(65);
    ran.stdout_starts("mail: switched to serial 08");
    assert_eq!(ran.stderr.lines().count(), 1, "{ran:?}");
    ran.stderr_starts("certdrop-publish: www: kept: received serial 01 (not before ");
    ran.stderr_has(") is older than the held serial 07 (not before ");
    assert_eq!(line(&site, "www"), held_www);
    assert_eq!(
        site.read("recv/pub/mail/cert.pem"),
        site.read("pub/mail/cert.pem")
    );
    verify(&site, "recv/pub").expect(0);
}

#[test]
fn the_identity_must_match() {
    let site = received();
    let text = site.read_text("recv/pull.toml");
    site.write(
        "recv/pull.toml",
        &text.replace(crate::site::IDENTITY, "someone@else"),
    );
    site.install("www", &site.www(4));
    site.run(&["run"]).expect(0);
    let before = snapshot(&site.path("recv/pub"));
    let ran = pull(&site, &[]).expect(65);
    ran.stderr_has("not an allowed signer for 'someone@else'");
    assert_eq!(snapshot(&site.path("recv/pub")), before);
}

#[test]
fn check_validates_and_runs_nothing() {
    let site = Site::new();
    site.write("allowed_signers.bad", "not a signer line\n");
    let touch = words(&["touch", "{staging}/ran"]);
    config(&site, "pub", &touch, "pub", "");
    let ran = pull(&site, &["-n"]).expect(0);
    assert_eq!(
        ran.stdout,
        format!(
            "{}: configuration ok (pull pub into {})\n",
            site.path("recv/pull.toml").display(),
            site.path("recv/pub").display()
        )
    );
    assert!(!site.path("recv/staging").exists() && !site.path("recv/pub").exists());
    // -n alone checks the pull too, on a file that only pulls.
    let alone = crate::site::publish(&[
        "-c",
        site.path("recv/pull.toml").to_str().expect("utf-8"),
        "-n",
    ]);
    assert_eq!(alone.expect(0).stdout, ran.stdout);
    for (transport, into, extra, want) in [
        (
            words(&["certdrop-no-such-rsync"]),
            "pub",
            "",
            "pull.transport: 'certdrop-no-such-rsync' not found on PATH",
        ),
        (
            words(&["/etc/passwd"]),
            "pub",
            "",
            "pull.transport: '/etc/passwd' is not an executable file",
        ),
        (touch.clone(), "staging/pub", "", "pull.into: "),
        (
            touch.clone(),
            "pub",
            "timeout = \"0s\"\n",
            "pull.timeout: must be more than 0s",
        ),
    ] {
        config(&site, "pub", &transport, into, extra);
        let ran = pull(&site, &["-n"]).expect(78);
        ran.stderr_has(want);
    }
    config(&site, "pub", &touch, "pub", "");
    let text = site.read_text("recv/pull.toml");
    site.write(
        "recv/pull.toml",
        &text.replace("../allowed_signers", "../allowed_signers.bad"),
    );
    pull(&site, &["-n"])
        .expect(78)
        .stderr_has("allowed_signers.bad: line 1");
    assert!(!site.path("recv/staging/ran").exists());
    // `run` on a file with only [pull] says so.
    let ran = crate::site::publish(&[
        "-c",
        site.path("recv/pull.toml").to_str().expect("utf-8"),
        "run",
    ]);
    ran.expect(78)
        .stderr_has("holds only [pull]: this site only pulls");
}

#[test]
fn no_allowed_signers_or_no_line_in_staging_is_no_input() {
    let site = Site::new();
    // A transport that brings nothing: no line directory in staging.
    config(&site, "pub", &words(&["true"]), "pub", "");
    let ran = pull(&site, &[]).expect(66);
    assert_eq!(
        ran.stderr,
        format!(
            "certdrop-publish: {}: no line directory\n",
            site.path("recv/staging").display()
        )
    );
    // No allowed_signers file: refused before the transport runs.
    config(&site, "pub", &words(&["touch", "{staging}/ran"]), "pub", "");
    std::fs::remove_file(site.path("allowed_signers")).expect("rm allowed_signers");
    let ran = pull(&site, &[]).expect(66);
    assert_eq!(ran.stderr.lines().count(), 1, "{ran:?}");
    ran.stderr_starts(&format!(
        "certdrop-publish: {}: ",
        site.path("recv/../allowed_signers").display()
    ));
    assert!(!site.path("recv/staging/ran").exists());
}
