//! The plaintext dialogues that lead to a TLS handshake (STARTTLS and its
//! kin), one module per protocol family. Each reads the server's greeting,
//! asks for TLS, and returns once the server says go ahead; anything else
//! is a [`Fail`] naming the step.

use crate::error::Fail;
use crate::wire::Wire;
use crate::{Protocol, Target};

/// Bring `wire` to the point where the TLS handshake starts.
pub(crate) fn negotiate(_wire: &mut Wire, target: &Target) -> Result<(), Fail> {
    match target.protocol {
        Protocol::Tls => Ok(()),
        other => Err(Fail::new(
            "STARTTLS",
            crate::ErrorKind::Input,
            format!("{} is not implemented yet", other.name()),
        )),
    }
}
