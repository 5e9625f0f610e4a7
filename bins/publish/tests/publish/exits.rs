//! The exit contract around the lines, each class against its real cause:
//! usage (64), configuration (78), signing key (65, 66), a lock another run
//! holds (75), an unwritable pub/ and a full disk (73), a FIFO planted in
//! certs/ or in a received pub/ (65, named as refused, without blocking).
//! A bad certificate (65) and a line with no certificate yet (66) are in
//! gate.rs; `verify`'s classes in verify.rs.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::site::{publish, Site};
use certdrop_testkit::tree::mkfifo;
use certdrop_testkit::{sh, Tmpfs};

#[test]
fn usage_errors_exit_64() {
    publish(&["--frobnicate"]).expect(64);
    publish(&["verify"]).expect(64);
    publish(&["--help"]).expect(0);
}

#[test]
fn configuration_errors_name_file_line_and_key() {
    let site = Site::new();
    site.install("www", &site.www(1));
    let config = site.write(
        "bad.toml",
        &format!("{}keys = \"keys\"\n", site.config_text()),
    );
    // `keys` after a [[line]] header belongs to the line: unknown there.
    let ran = publish(&["-c", config.to_str().expect("utf-8"), "run"]).expect(78);
    assert!(
        ran.stderr.contains("bad.toml:") && ran.stderr.contains("keys"),
        "{}",
        ran.stderr
    );
    let config = site.write(
        "bad.toml",
        &format!("keys = \"keys\"\n{}", site.config_text()),
    );
    let ran = publish(&["-c", config.to_str().expect("utf-8"), "run"]).expect(78);
    assert_eq!(
        ran.stderr,
        format!(
            "certdrop-publish: {}:1: keys: certdrop-publish never reads private keys: remove this key\n",
            config.display()
        )
    );
    publish(&["-c", "/nonexistent/publish.toml", "run"]).expect(78);
}

#[test]
fn a_signing_key_others_can_read_is_refused() {
    let site = Site::new();
    site.install("www", &site.www(1));
    std::fs::set_permissions(
        site.path("sign_key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let ran = site.run(&["run"]).expect(65);
    ran.stderr_has("sign_key: signing key: refused: mode 0644");
    assert!(!site.path("pub/www").exists());
    site.run(&["-n"]).expect(65);
    std::fs::remove_file(site.path("sign_key")).expect("rm");
    site.run(&["run"]).expect(66);
}

#[test]
fn a_signing_key_of_another_type_is_refused() {
    let site = Site::new();
    std::fs::remove_file(site.path("sign_key")).expect("rm");
    site.install("www", &site.www(1));
    for kind in ["ecdsa", "rsa"] {
        let _ = std::fs::remove_file(site.path("sign_key"));
        sh(
            site.root(),
            &format!("ssh-keygen -q -t {kind} -N '' -f sign_key"),
        );
        let ran = site.run(&["run"]).expect(65);
        ran.stderr_has("not an ed25519 key");
    }
    // A passphrase-protected key cannot sign unattended.
    let _ = std::fs::remove_file(site.path("sign_key"));
    sh(
        site.root(),
        "ssh-keygen -q -t ed25519 -N secret -f sign_key",
    );
    let ran = site.run(&["run"]).expect(65);
    ran.stderr_has("encrypted with a passphrase");
}

#[test]
fn a_held_lock_is_a_temporary_failure() {
    let site = Site::new();
    site.install("www", &site.www(1));
    std::fs::create_dir(site.path("pub")).expect("mkdir");
    let lock =
        certdrop_core::lock::StateLock::acquire(&site.path("pub"), Duration::ZERO).expect("lock");
    let ran = site.run(&["run"]).expect(75);
    ran.stderr_has("another run holds the lock");
    // -n takes no lock.
    site.run(&["-n"]).expect(0);
    drop(lock);
    site.run(&["run"]).expect(0);
}

#[test]
fn an_unwritable_pub_dir_exits_73() {
    let site = Site::new();
    site.install("www", &site.www(1));
    // A file where pub/ should be: no user, not even root, can write into it.
    site.write("pub", "not a directory");
    let ran = site.run(&["run"]).expect(73);
    ran.stderr_has("pub: cannot create");
}

#[test]
fn a_full_disk_exits_73() {
    let site = Site::new();
    site.install("www", &site.www(1));
    let fs = Tmpfs::mount(&site.path("pub"), "64k");
    let filler = fs.fill();
    let ran = site.run(&["run"]).expect(73);
    assert!(
        ran.stderr.contains("No space left on device") && ran.stderr.contains("pub"),
        "{}",
        ran.stderr
    );
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(!site.path("pub/www").exists(), "nothing half-published");
    // With room again, the same run publishes.
    std::fs::remove_file(&filler).expect("rm filler");
    site.run(&["run"]).expect(0);
    site.verify("pub", &[]).expect(0);
    drop(fs);
}

#[test]
fn a_fifo_planted_in_certs_is_refused_without_blocking() {
    let site = Site::new();
    site.install("www", &site.www(1));
    let chain = std::fs::canonicalize(site.path("certs/www"))
        .expect("version")
        .join("chain.pem");
    std::fs::remove_file(&chain).expect("rm");
    mkfifo(&chain);
    let ran = site.run(&["run"]).expect(65);
    assert_eq!(
        ran.stderr,
        format!(
            "certdrop-publish: www: {}: refused: a FIFO, not a regular file\n",
            site.path("certs/www/chain.pem").display()
        )
    );
    site.run(&["-n"]).expect(65);
    assert!(!site.path("pub/www").exists());
}

#[test]
fn a_fifo_planted_in_a_received_tree_is_refused_without_blocking() {
    let site = Site::new();
    site.install("www", &site.www(1));
    site.run(&["run"]).expect(0);
    let chain = std::fs::canonicalize(site.path("pub/www"))
        .expect("version")
        .join("chain.pem");
    std::fs::remove_file(&chain).expect("rm");
    mkfifo(&chain);
    let ran = site.verify("pub", &[]).expect(65);
    assert_eq!(
        ran.stderr,
        format!(
            "certdrop-publish: {}: refused: a FIFO, not a regular file\n",
            site.path("pub/www/chain.pem").display()
        )
    );
}
