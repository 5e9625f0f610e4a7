//! The lock on a state directory: flock(2) on a lock file inside it. The
//! kernel drops the lock when the process dies, so there is no stale pid file
//! to clean up; a second run waits for the first (up to a limit) or skips.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Name of the lock file inside a state directory.
pub const LOCK_FILE: &str = ".lock";
/// How often a waiting run retries the lock.
const POLL: Duration = Duration::from_millis(50);

/// An exclusive lock held until dropped.
#[derive(Debug)]
pub struct StateLock {
    _lock: Flock<File>,
    path: PathBuf,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock and the wait ran out.
    #[error("{}: another run holds the lock", .0.display())]
    Busy(PathBuf),
    /// The lock file could not be opened or locked.
    #[error("{}: cannot lock: {}", .0.display(), .1)]
    Io(PathBuf, io::Error),
}

impl StateLock {
    /// Take the lock on `dir`, waiting at most `wait` for another holder.
    pub fn acquire(dir: &Path, wait: Duration) -> Result<StateLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let deadline = Instant::now() + wait;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| LockError::Io(path.clone(), e))?;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(StateLock { _lock: lock, path }),
                Err((f, Errno::EWOULDBLOCK)) => {
                    if Instant::now() >= deadline {
                        return Err(LockError::Busy(path));
                    }
                    file = f;
                    std::thread::sleep(POLL);
                }
                Err((_, errno)) => return Err(LockError::Io(path, errno.into())),
            }
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_waits_then_gives_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = StateLock::acquire(dir.path(), Duration::ZERO).expect("first");
        let start = Instant::now();
        let second = StateLock::acquire(dir.path(), Duration::from_millis(200));
        assert!(matches!(second, Err(LockError::Busy(_))));
        assert!(start.elapsed() >= Duration::from_millis(200));
        drop(first);
        StateLock::acquire(dir.path(), Duration::ZERO).expect("free again");
    }
}
