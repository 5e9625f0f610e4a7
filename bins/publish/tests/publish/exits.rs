//! The exit contract around the lines: usage, configuration, signing key,
//! lock, unwritable pub/.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::site::{publish, Site};

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
        let out = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", "", "-f"])
            .arg(site.path("sign_key"))
            .output()
            .expect("ssh-keygen");
        assert!(out.status.success());
        let ran = site.run(&["run"]).expect(65);
        ran.stderr_has("not an ed25519 key");
    }
    // A passphrase-protected key cannot sign unattended.
    let _ = std::fs::remove_file(site.path("sign_key"));
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "secret", "-f"])
        .arg(site.path("sign_key"))
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success());
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
