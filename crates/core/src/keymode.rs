//! The one rule for the mode of a private key file, shared by every binary
//! that reads one (certdrop-issue its line keys, certdrop-trigger the keys
//! it deploys), so that the same file gets the same verdict and the same
//! words from both (DESIGN.md: "refuses key files readable by others").
//!
//! Others may neither read nor write it; its group may not write it and
//! may read it only when it is the group the caller allows (a line's
//! `key_group`; for a service's key, the group the service reads it as).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Mode bits never allowed: group write or execute, any access by others.
const NEVER: u32 = 0o037;
/// Mode bits allowed only to the permitted group: group read.
const GROUP_READ: u32 = 0o040;

/// Refuse `path` (its metadata `meta`, symlinks followed) when its mode
/// lets others, or a group other than `group`, read or write it (65).
pub fn check(path: &Path, meta: &std::fs::Metadata, group: Option<u32>) -> Result<()> {
    let mode = meta.permissions().mode() & 0o777;
    let group_may_read = group == Some(meta.gid());
    let open = mode & NEVER != 0 || (mode & GROUP_READ != 0 && !group_may_read);
    if open {
        return Err(Error::data(format!(
            "{}: refused: private key is readable or writable by group or others (mode {mode:03o}); chmod 600 it",
            path.display()
        )));
    }
    Ok(())
}

/// [`check`] on the file `path` names (symlinks followed); a file that
/// cannot be examined is an I/O error naming it.
pub fn check_file(path: &Path, group: Option<u32>) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "read key", &e))?;
    check(path, &meta, group)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Failure;

    #[test]
    fn others_never_group_only_when_allowed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        std::fs::write(&path, b"key").expect("write");
        let gid = std::fs::metadata(&path).expect("meta").gid();
        let verdict = |mode: u32, group: Option<u32>| {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            check_file(&path, group)
        };
        for mode in [0o600, 0o400, 0o700] {
            assert!(verdict(mode, None).is_ok(), "{mode:o}");
        }
        for mode in [0o644, 0o666, 0o604, 0o602, 0o640, 0o660] {
            let e = verdict(mode, None).expect_err("open");
            assert_eq!(e.class, Failure::Data);
            assert!(
                e.msg.ends_with(&format!(
                    "key.pem: refused: private key is readable or writable by group or others (mode {mode:o}); chmod 600 it"
                )),
                "{}",
                e.msg
            );
        }
        assert!(verdict(0o640, Some(gid)).is_ok());
        assert!(verdict(0o640, Some(gid + 1)).is_err());
        assert!(verdict(0o660, Some(gid)).is_err(), "group write");
        assert!(verdict(0o644, Some(gid)).is_err(), "others read");
    }
}
