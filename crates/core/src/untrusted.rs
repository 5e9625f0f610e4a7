//! The one reader for files another stage wrote: dns-01 fragments in
//! dnsextra/, host keys in phonehome/, certificates in certs/, a received
//! pub/ tree (DESIGN.md: "a reader never trusts what it reads"). A file is
//! read only if it is a regular file reached without following a symlink at
//! the last step: no FIFO that blocks the reader forever, no device, no
//! socket, no link to a file elsewhere. It must be small (a hostile writer
//! cannot make the reader allocate gigabytes) and, where the rules say so,
//! have one link and the writer's owner. The file is checked with lstat(2)
//! before it is opened (a device is never opened), opened with O_NOFOLLOW
//! and O_NONBLOCK, and checked again with fstat(2), so a file swapped in
//! between is caught. Directories above the file may be symlinks: the
//! certificate store's line directories are, by design.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::OFlag;

use crate::error::Error;

/// Largest file read by default: a certificate chain, a manifest or a host
/// key is a few KiB; this leaves room for long chains and RSA 8192 keys.
pub const MAX_FILE: u64 = 1024 * 1024;

/// What a file must be to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Largest size in bytes.
    pub max_size: u64,
    /// The uid that must own it (the writer's), if checked.
    pub owner: Option<u32>,
    /// Refuse a file with more than one hard link (a link to a file the
    /// writer does not own, in a directory it does).
    pub one_link: bool,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules::new(MAX_FILE)
    }
}

impl Rules {
    /// At most `max_size` bytes, any owner, any number of links.
    pub const fn new(max_size: u64) -> Rules {
        Rules {
            max_size,
            owner: None,
            one_link: false,
        }
    }

    /// Also require this owner (none: any owner).
    pub const fn owner(mut self, uid: Option<u32>) -> Rules {
        self.owner = uid;
        self
    }

    /// Also refuse hard links.
    pub const fn one_link(mut self) -> Rules {
        self.one_link = true;
        self
    }
}

/// Why a file was not read.
#[derive(Debug)]
pub enum Refused {
    /// It does not exist.
    Missing,
    /// It is a symlink, a directory, a FIFO, a socket or a device.
    Kind(&'static str),
    /// It has more than one hard link.
    Links(u64),
    /// It is larger than the rules allow.
    TooLarge(u64),
    /// It is owned by another uid than the writer's.
    Owner {
        /// Its owner.
        found: u32,
        /// The writer's uid.
        want: u32,
    },
    /// It was replaced between the check and the open.
    Replaced,
    /// It is not UTF-8 text (only from [`read_text`]).
    NotText,
    /// Another I/O error (permission, ...).
    Io(io::Error),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Missing => write!(f, "missing"),
            Refused::Kind(kind) => write!(f, "{kind}, not a regular file"),
            Refused::Links(n) => write!(f, "a hard link ({n} links)"),
            Refused::TooLarge(max) => write!(f, "larger than {max} bytes"),
            Refused::Owner { found, want } => {
                write!(f, "owned by uid {found}, not the writer's uid {want}")
            }
            Refused::Replaced => write!(f, "replaced while being read"),
            Refused::NotText => write!(f, "not UTF-8 text"),
            Refused::Io(e) => write!(f, "unreadable: {e}"),
        }
    }
}

impl Refused {
    /// Whether the file is simply absent.
    pub fn is_missing(&self) -> bool {
        matches!(self, Refused::Missing)
    }

    /// The exit-contract error for `path`: a missing or unreadable file is
    /// missing input (66), a file refused for what it is is bad data (65).
    pub fn error(&self, path: &Path) -> Error {
        match self {
            Refused::Missing | Refused::Io(_) => {
                Error::noinput(format!("{}: {self}", path.display()))
            }
            _ => Error::data(format!("{}: refused: {self}", path.display())),
        }
    }
}

/// Open `path` for reading if it passes `rules` (see the module header).
pub fn open(path: &Path, rules: &Rules) -> Result<File, Refused> {
    let before = std::fs::symlink_metadata(path).map_err(io_refusal)?;
    check(&before, rules)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            // O_NOFOLLOW on a symlink swapped in: ELOOP (Linux, FreeBSD) or
            // EMLINK (FreeBSD before 14 documents EMLINK).
            Some(code) if code == nix::libc::ELOOP || code == nix::libc::EMLINK => {
                Refused::Replaced
            }
            _ => io_refusal(e),
        })?;
    let opened = file.metadata().map_err(Refused::Io)?;
    if opened.ino() != before.ino() || opened.dev() != before.dev() {
        return Err(Refused::Replaced);
    }
    check(&opened, rules)?;
    Ok(file)
}

/// Read all of `path` if it passes `rules`.
pub fn read(path: &Path, rules: &Rules) -> Result<Vec<u8>, Refused> {
    let file = open(path, rules)?;
    let mut data = Vec::new();
    file.take(rules.max_size + 1)
        .read_to_end(&mut data)
        .map_err(Refused::Io)?;
    // It may have grown since fstat: the bound holds on what was read.
    if data.len() as u64 > rules.max_size {
        return Err(Refused::TooLarge(rules.max_size));
    }
    Ok(data)
}

/// [`read`], as UTF-8 text.
pub fn read_text(path: &Path, rules: &Rules) -> Result<String, Refused> {
    String::from_utf8(read(path, rules)?).map_err(|_| Refused::NotText)
}

/// [`read`], with `None` when the file does not exist.
pub fn read_optional(path: &Path, rules: &Rules) -> Result<Option<Vec<u8>>, Refused> {
    match read(path, rules) {
        Ok(data) => Ok(Some(data)),
        Err(Refused::Missing) => Ok(None),
        Err(e) => Err(e),
    }
}

fn io_refusal(e: io::Error) -> Refused {
    match e.kind() {
        io::ErrorKind::NotFound => Refused::Missing,
        _ => Refused::Io(e),
    }
}

/// The checks on metadata, before the open and again after it.
fn check(meta: &Metadata, rules: &Rules) -> Result<(), Refused> {
    let ft = meta.file_type();
    let kind = if ft.is_symlink() {
        Some("a symlink")
    } else if ft.is_dir() {
        Some("a directory")
    } else if ft.is_fifo() {
        Some("a FIFO")
    } else if ft.is_socket() {
        Some("a socket")
    } else if ft.is_block_device() || ft.is_char_device() {
        Some("a device")
    } else if !ft.is_file() {
        Some("not a regular file")
    } else {
        None
    };
    if let Some(kind) = kind {
        return Err(Refused::Kind(kind));
    }
    if rules.one_link && meta.nlink() > 1 {
        return Err(Refused::Links(meta.nlink()));
    }
    if meta.len() > rules.max_size {
        return Err(Refused::TooLarge(rules.max_size));
    }
    if let Some(want) = rules.owner {
        if meta.uid() != want {
            return Err(Refused::Owner {
                found: meta.uid(),
                want,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Failure;

    #[test]
    fn refuses_links_fifos_sockets_devices_and_directories() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("file");
        std::fs::write(&file, b"data").expect("write");
        let rules = Rules::default();
        assert_eq!(read(&file, &rules).expect("read"), b"data");
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert!(matches!(
            read(&link, &rules),
            Err(Refused::Kind("a symlink"))
        ));
        let fifo = tmp.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let e = read(&fifo, &rules).expect_err("a FIFO is refused without blocking");
        assert_eq!(e.to_string(), "a FIFO, not a regular file");
        assert_eq!(e.error(&fifo).class, Failure::Data);
        let sock = tmp.path().join("sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
        assert!(matches!(
            read(&sock, &rules),
            Err(Refused::Kind("a socket"))
        ));
        assert!(matches!(
            read(Path::new("/dev/null"), &rules),
            Err(Refused::Kind("a device"))
        ));
        assert!(matches!(
            read(tmp.path(), &rules),
            Err(Refused::Kind("a directory"))
        ));
        let none = tmp.path().join("none");
        assert!(read(&none, &rules).expect_err("missing").is_missing());
        assert_eq!(read_optional(&none, &rules).expect("absent is fine"), None);
        let e = read(&none, &rules).expect_err("missing").error(&none);
        assert_eq!(e.class, Failure::NoInput);
    }

    #[test]
    fn refuses_large_files_hard_links_and_strangers() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let big = tmp.path().join("big");
        std::fs::write(&big, vec![b'x'; 101]).expect("write");
        assert!(matches!(
            read(&big, &Rules::new(100)),
            Err(Refused::TooLarge(100))
        ));
        assert!(read(&big, &Rules::new(101)).is_ok());
        let hard = tmp.path().join("hard");
        std::fs::hard_link(&big, &hard).expect("link");
        assert!(read(&hard, &Rules::default()).is_ok());
        assert!(matches!(
            read(&hard, &Rules::default().one_link()),
            Err(Refused::Links(2))
        ));
        let me = nix::unistd::geteuid().as_raw();
        let rules = Rules::default().owner(Some(me + 1));
        assert!(matches!(read(&big, &rules), Err(Refused::Owner { .. })));
        assert!(read(&big, &Rules::default().owner(Some(me))).is_ok());
        std::fs::write(&big, [0xff, 0xfe]).expect("write");
        assert!(matches!(
            read_text(&big, &Rules::default()),
            Err(Refused::NotText)
        ));
    }

    #[test]
    fn directories_above_may_be_symlinks() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(tmp.path().join("v1")).expect("mkdir");
        std::fs::write(tmp.path().join("v1/cert.pem"), b"c").expect("write");
        std::os::unix::fs::symlink("v1", tmp.path().join("www")).expect("symlink");
        let got = read(&tmp.path().join("www/cert.pem"), &Rules::default());
        assert_eq!(got.expect("read through a directory link"), b"c");
    }
}
