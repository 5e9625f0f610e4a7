//! What the servers that drop to a user of their own (postfix, dovecot,
//! slapd, prosody) need of a test's tree: tests run as root in 0700 temp
//! directories, which those users cannot enter. [`traversable`] lets them
//! through (search permission only, nothing listed or written).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Give "search" (x) permission to everyone on `dir` and each of its
/// ancestors that lacks it, so a daemon's user can reach files below
/// `dir` it is given by name. Directories that have it (`/`, `/tmp`) are
/// left alone; nothing becomes readable or writable.
pub fn traversable(dir: &Path) {
    for d in dir.ancestors() {
        let Ok(meta) = std::fs::metadata(d) else {
            continue;
        };
        let mode = meta.permissions().mode();
        if mode & 0o011 != 0o011 {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode | 0o011))
                .expect("chmod a+x");
        }
    }
}

/// Make `file` readable by everyone (a certificate a daemon reads after
/// dropping privileges; never a private key).
pub fn readable(file: &Path) {
    let mode = std::fs::metadata(file).expect("stat").permissions().mode();
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode | 0o044))
        .expect("chmod a+r");
}
