//! The one error type of every certdrop binary: a line that says subject,
//! action and cause (STYLE.md 6), and the class of failure that decides the
//! exit code (DESIGN.md, "Conventions"). The class is chosen once, where
//! the cause is known (a full disk is 73 wherever it happens), and carried
//! up unchanged, so no call site has to guess it again.

use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

use crate::exit::Failure;
use crate::lock::LockError;
use crate::output::Output;

/// A failure of one operation, ready to print as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Which exit code it maps to.
    pub class: Failure,
    /// The one line: `subject: action: cause`.
    pub msg: String,
    /// When the other side asked us to come back (an HTTP Retry-After, a
    /// back-off), for a temporary failure.
    pub retry_after: Option<Duration>,
}

/// Shorthand for results carrying [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of the given class.
    pub fn new(class: Failure, msg: impl Into<String>) -> Error {
        Error {
            class,
            msg: msg.into(),
            retry_after: None,
        }
    }

    /// The command line was wrong (exit 64).
    pub fn usage(msg: impl Into<String>) -> Error {
        Error::new(Failure::Usage, msg)
    }

    /// The configuration is wrong (exit 78).
    pub fn config(msg: impl Into<String>) -> Error {
        Error::new(Failure::Config, msg)
    }

    /// Input data is bad: a certificate, a fragment, a manifest (exit 65).
    pub fn data(msg: impl Into<String>) -> Error {
        Error::new(Failure::Data, msg)
    }

    /// An input is missing or unreadable (exit 66).
    pub fn noinput(msg: impl Into<String>) -> Error {
        Error::new(Failure::NoInput, msg)
    }

    /// A service (the CA, nsd, a DNS server, the service being deployed
    /// to) is down or refused (exit 69).
    pub fn unavailable(msg: impl Into<String>) -> Error {
        Error::new(Failure::Unavailable, msg)
    }

    /// A temporary failure; the next run may succeed (exit 75).
    pub fn temp(msg: impl Into<String>) -> Error {
        Error::new(Failure::Temporary, msg)
    }

    /// An internal error: something that should not happen (exit 70).
    pub fn software(msg: impl Into<String>) -> Error {
        Error::new(Failure::Software, msg)
    }

    /// Output could not be written (exit 73): `PATH: ACTION: CAUSE`, e.g.
    /// `build/tmp/example.org.zone: cannot write: No space left on device`.
    pub fn cantcreat(path: &Path, action: &str, e: &io::Error) -> Error {
        Error::new(
            Failure::CantCreate,
            format!("{}: {action}: {e}", path.display()),
        )
    }

    /// An input file could not be read (exit 66): `PATH: ACTION: CAUSE`.
    pub fn unreadable(path: &Path, action: &str, e: &io::Error) -> Error {
        Error::new(
            Failure::NoInput,
            format!("{}: {action}: {e}", path.display()),
        )
    }

    /// An I/O failure on `path` while doing `action`, classed by what was
    /// being done: reading is missing input (66), anything else is output
    /// that could not be created (73). A missing file is 66 either way.
    pub fn io(path: &Path, action: &str, e: &io::Error) -> Error {
        let reading = action.starts_with("read") || action.starts_with("cannot read");
        if reading || e.kind() == io::ErrorKind::NotFound {
            Error::unreadable(path, action, e)
        } else {
            Error::cantcreat(path, action, e)
        }
    }

    /// Prefix the message with a subject: `subject: message`.
    pub fn context(mut self, subject: impl fmt::Display) -> Error {
        self.msg = format!("{subject}: {}", self.msg);
        self
    }

    /// The same error with another class (a cause whose meaning depends on
    /// the caller, such as a file that is input to one and output to another).
    pub fn class(mut self, class: Failure) -> Error {
        self.class = class;
        self
    }

    /// Attach the time the other side asked us to wait.
    pub fn retry_after(mut self, wait: Duration) -> Error {
        self.retry_after = Some(wait);
        self
    }

    /// A failure whose lines were printed where they happened (several
    /// zones, services or lines each failing on its own): carries only the
    /// class, and [`Error::report`] prints nothing more.
    pub fn reported(class: Failure) -> Error {
        Error::new(class, String::new())
    }

    /// Print the line on stderr (unless it was printed already) and return
    /// the class: the last step of every command before the exit code.
    pub fn report(self, out: &Output) -> Failure {
        if !self.msg.is_empty() {
            out.error(&self.msg);
        }
        self.class
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

/// A lock another run holds is temporary (75); one that cannot be created
/// is output that cannot be written (73).
impl From<LockError> for Error {
    fn from(e: LockError) -> Error {
        match e {
            LockError::Busy(_) => Error::temp(e.to_string()),
            _ => Error::new(Failure::CantCreate, e.to_string()),
        }
    }
}

/// Collects the failures of independent pieces of work (zones, services,
/// lines): each is printed when it happens, the worst class decides the
/// exit code.
#[derive(Debug, Default)]
pub struct Worst(Option<Failure>);

impl Worst {
    /// Print `e` and remember its class if it is the worst so far.
    pub fn add(&mut self, out: &Output, e: Error) {
        let class = e.report(out);
        self.0 = Some(self.0.map_or(class, |w| w.max(class)));
    }

    /// The worst class seen, if any.
    pub fn get(&self) -> Option<Failure> {
        self.0
    }

    /// `Ok(outcome)` when nothing failed, else the worst failure (printed).
    pub fn or(self, outcome: crate::exit::Outcome) -> Result<crate::exit::Outcome, Error> {
        match self.0 {
            Some(class) => Err(Error::reported(class)),
            None => Ok(outcome),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classed_by_what_was_done() {
        let p = Path::new("/x/y");
        let full = io::Error::from_raw_os_error(nix::libc::ENOSPC);
        let e = Error::io(p, "cannot write", &full);
        assert_eq!(e.class, Failure::CantCreate);
        assert!(e.msg.starts_with("/x/y: cannot write: "), "{}", e.msg);
        let gone = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(Error::io(p, "cannot rename", &gone).class, Failure::NoInput);
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(Error::io(p, "read key", &denied).class, Failure::NoInput);
        assert_eq!(Error::io(p, "create", &denied).class, Failure::CantCreate);
    }

    #[test]
    fn context_prefixes_and_class_changes() {
        let e = Error::data("bad")
            .context("certs/www")
            .class(Failure::Config);
        assert_eq!(e.to_string(), "certs/www: bad");
        assert_eq!(e.class, Failure::Config);
    }

    #[test]
    fn a_busy_lock_is_temporary() {
        let e: Error = LockError::Busy(std::path::PathBuf::from("/s")).into();
        assert_eq!(e.class, Failure::Temporary);
    }
}
