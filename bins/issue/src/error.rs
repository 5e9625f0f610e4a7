//! The issuer's error: one line saying subject, action and cause, and the
//! class of failure that decides the exit code (DESIGN.md exit contract).

use std::fmt;
use std::time::Duration;

use certdrop_core::exit::Failure;

/// A failure of one operation, ready to print.
#[derive(Debug, Clone)]
pub struct Error {
    /// Which exit code it maps to.
    pub class: Failure,
    /// The one line: `subject: action: cause`.
    pub msg: String,
    /// When the CA asked us to come back (HTTP Retry-After), if it did.
    pub retry_after: Option<Duration>,
}

impl Error {
    /// An error of the given class.
    pub fn new(class: Failure, msg: impl Into<String>) -> Error {
        Error {
            class,
            msg: msg.into(),
            retry_after: None,
        }
    }

    /// A configuration error (exit 78).
    pub fn config(msg: impl Into<String>) -> Error {
        Error::new(Failure::Config, msg)
    }

    /// Bad input data (exit 65).
    pub fn data(msg: impl Into<String>) -> Error {
        Error::new(Failure::Data, msg)
    }

    /// A temporary failure (exit 75).
    pub fn temp(msg: impl Into<String>) -> Error {
        Error::new(Failure::Temporary, msg)
    }

    /// Cannot write output (exit 73).
    pub fn cantcreat(msg: impl Into<String>) -> Error {
        Error::new(Failure::CantCreate, msg)
    }

    /// Missing input (exit 66).
    pub fn noinput(msg: impl Into<String>) -> Error {
        Error::new(Failure::NoInput, msg)
    }

    /// Prefix the message with a subject.
    pub fn context(mut self, subject: &str) -> Error {
        self.msg = format!("{subject}: {}", self.msg);
        self
    }

    /// An I/O failure on `path` while doing `action`, classed by its kind.
    pub fn io(path: &std::path::Path, action: &str, e: &std::io::Error) -> Error {
        let class = match e.kind() {
            std::io::ErrorKind::NotFound => Failure::NoInput,
            _ if action.starts_with("read") => Failure::NoInput,
            _ => Failure::CantCreate,
        };
        Error::new(class, format!("{}: {action}: {e}", path.display()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;
