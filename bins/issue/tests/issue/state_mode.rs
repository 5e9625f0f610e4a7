//! The line state files' mode: `state/<line>.json` is 0640 in the state
//! directory's group, and the directory is the gate. A new state directory
//! is 0700 (nobody else reaches the files); one its owner made 2750 for a
//! monitor's group keeps that mode, and that group, and only it, reads the
//! state (failures, back-off) and not the account beside it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use crate::site::{mode, run_bin, Site};
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
    // A failing run (the CA is down) rewrites the line's state: its failure.
    let config = site.write_config();
    let Site {
        dir,
        pebble,
        relay,
        web,
        ..
    } = site;
    drop((relay, web, pebble));
    run_bin(&config, &["issue", "--force", "www"]).expect(69);
    let file = dir.path("state/www.json");
    let meta = std::fs::metadata(&file).expect("state");
    assert_eq!(meta.mode() & 0o7777, 0o640);
    assert_eq!(meta.gid(), MONITOR, "the file takes the directory's group");
    assert!(std::fs::read_to_string(&file)
        .expect("state")
        .contains("\"failures\": 1"));
    // The run kept the directory as its owner made it.
    assert_eq!(
        std::fs::metadata(&state).expect("dir").mode() & 0o7777,
        0o2750
    );
    assert!(readable_by_monitor(&file));
    assert!(!readable_by_monitor(&dir.path("state/account.json")));
    assert!(!readable_by_monitor(&dir.path("keys/www/key.pem")));
}
