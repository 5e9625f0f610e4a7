//! The plaintext dialogues that lead to a TLS handshake (STARTTLS and its
//! kin): the line-based ones (SMTP, IMAP, POP3, ManageSieve) in `text`,
//! LDAP's extended operation in `ldap`, XMPP's stream features in `xmpp`.
//! Each reads the server's greeting, asks for TLS, and returns once the
//! server says go ahead; anything else is a [`Fail`] naming the step. The
//! whole dialogue reads through the probe's [`Wire`], so every step is
//! bounded by the probe's deadline and byte budget.

mod ldap;
mod text;
mod xmpp;

use crate::error::Fail;
use crate::wire::Wire;
use crate::{Protocol, Target};

/// Bring `wire` to the point where the TLS handshake starts.
pub(crate) fn negotiate(wire: &mut Wire, target: &Target) -> Result<(), Fail> {
    match target.protocol {
        Protocol::Tls => Ok(()),
        Protocol::Smtp => text::smtp(wire),
        Protocol::Imap => text::imap(wire),
        Protocol::Pop3 => text::pop3(wire),
        Protocol::Sieve => text::sieve(wire),
        Protocol::Ldap => ldap::start_tls(wire),
        Protocol::XmppClient => xmpp::start_tls(wire, target.server_name, xmpp::Role::Client),
        Protocol::XmppServer => xmpp::start_tls(wire, target.server_name, xmpp::Role::Server),
    }
}
