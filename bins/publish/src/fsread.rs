//! Reading files nobody vouches for: certs/ written by another jail, a pub/
//! tree received over nullfs, rsync or git. A file is read only if it is a
//! regular file reached without following a symlink at the last step (no
//! FIFO that blocks, no device, no link to elsewhere) and is not larger than
//! a bound, so a hostile writer can neither hang nor exhaust the reader.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::OFlag;

/// Largest file read: a certificate chain or manifest is a few KiB; this
/// leaves room for long chains and RSA 8192 keys without letting a writer
/// make the reader allocate gigabytes.
pub const MAX_FILE: u64 = 1024 * 1024;

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// It does not exist.
    Missing,
    /// It is a symlink, a directory, a FIFO, a device or a socket.
    NotRegular,
    /// It is larger than [`MAX_FILE`].
    TooLarge,
    /// Another I/O error (permission, ...).
    Io(io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Missing => write!(f, "missing"),
            ReadError::NotRegular => write!(f, "not a regular file"),
            ReadError::TooLarge => write!(f, "larger than {MAX_FILE} bytes"),
            ReadError::Io(e) => write!(f, "cannot read: {e}"),
        }
    }
}

/// Open `path` for reading if it is a regular file (not through a final
/// symlink, never blocking on a FIFO).
pub fn open_regular(path: &Path) -> Result<File, ReadError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ReadError::Missing,
            // O_NOFOLLOW on a symlink: ELOOP (Linux, FreeBSD) or EMLINK
            // (FreeBSD before 14 documents EMLINK).
            _ if matches!(
                e.raw_os_error(),
                Some(code) if code == nix::libc::ELOOP || code == nix::libc::EMLINK
            ) =>
            {
                ReadError::NotRegular
            }
            _ => ReadError::Io(e),
        })?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    Ok(file)
}

/// Read all of `path`, checked as described in the module header.
pub fn read(path: &Path) -> Result<Vec<u8>, ReadError> {
    read_open(open_regular(path)?)
}

/// Read all of a file opened by [`open_regular`], at most [`MAX_FILE`].
pub fn read_open(file: File) -> Result<Vec<u8>, ReadError> {
    let mut data = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut data)
        .map_err(ReadError::Io)?;
    if data.len() as u64 > MAX_FILE {
        return Err(ReadError::TooLarge);
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_links_fifos_and_directories() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("file");
        std::fs::write(&file, b"data").expect("write");
        assert_eq!(read(&file).expect("read"), b"data");
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert!(matches!(read(&link), Err(ReadError::NotRegular)));
        let fifo = tmp.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        assert!(matches!(read(&fifo), Err(ReadError::NotRegular)));
        assert!(matches!(read(tmp.path()), Err(ReadError::NotRegular)));
        assert!(matches!(
            read(&tmp.path().join("none")),
            Err(ReadError::Missing)
        ));
    }

    #[test]
    fn refuses_large_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let big = tmp.path().join("big");
        std::fs::write(&big, vec![b'x'; MAX_FILE as usize + 1]).expect("write");
        assert!(matches!(read(&big), Err(ReadError::TooLarge)));
    }
}
