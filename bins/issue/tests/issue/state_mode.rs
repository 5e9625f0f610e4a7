//! The line state files' mode: `state/<line>.json` is 0640 in the state
//! directory's group, and the directory is the gate. A new state directory
//! is 0700 (nobody else reaches the files); one its owner made 2750 for a
//! monitor's group keeps that mode, and that group, and only it, reads the
//! state (failures, back-off) and not the account beside it. (The failure
//! a monitor reads is certdrop-check's test: tests/check/issuer.rs.)

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use crate::site::{mode, Site};
use certdrop_testkit::Run;

/// `nogroup` on Debian: a group nothing else on the machine uses.
const MONITOR: u32 = 65534;

/// Does `cat FILE` succeed as uid/gid MONITOR (no other group)?
fn readable_by_monitor(file: &std::path::Path) -> bool {
    let id = MONITOR.to_string();
    Command::new("setpriv")
        .args(["--reuid", &id, "--regid", &id, "--clear-groups", "cat"])
        .arg(file)
        .ran()
        .code
        == 0
}

#[test]
fn state_files_are_0640_in_a_directory_the_owner_may_share() {
    let site = Site::issued("www", "");
    let state = site.path("state");
    assert_eq!(mode(&state), 0o700, "a new state directory is secret");
    assert_eq!(mode(&site.path("state/www.json")), 0o640);
    assert_eq!(mode(&site.path("state/account.json")), 0o600);
    certdrop_testkit::unpriv::traversable(site.dir.root());
    // 0700: the directory keeps everyone else out.
    assert!(!readable_by_monitor(&site.path("state/www.json")));

    // Shared with the monitor's group: setgid, so new files take its group.
    nix::unistd::chown(&state, None, Some(nix::unistd::Gid::from_raw(MONITOR))).expect("chgrp");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o2750)).expect("chmod");
    // The next run rewrites the line's state (a renewal).
    let before = std::fs::metadata(site.path("state/www.json"))
        .expect("state")
        .ino();
    site.run(&["issue", "--force", "www"]).expect(0);
    let file = site.path("state/www.json");
    let meta = std::fs::metadata(&file).expect("state");
    assert_eq!(meta.mode() & 0o7777, 0o640);
    assert_eq!(meta.gid(), MONITOR, "the file takes the directory's group");
    assert_ne!(meta.ino(), before, "rewritten (a new file renamed over it)");
    // The run kept the directory as its owner made it.
    assert_eq!(
        std::fs::metadata(&state).expect("dir").mode() & 0o7777,
        0o2750
    );
    assert!(readable_by_monitor(&file));
    assert!(!readable_by_monitor(&site.path("state/account.json")));
    assert!(!readable_by_monitor(&site.path("keys/www/key.pem")));
}
