//! What one pass over the services shares (the configuration, the
//! allowed_signers text, the printer, the mode) and the two things every
//! step of a service's run does with it: fill `{pidfile}` into a command
//! and run that command. Its own module so that the deployment
//! (src/deploy.rs) and the no-op fast path (src/quiet.rs) both use it
//! without using each other.

use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Failure;
use certdrop_core::output::Output;

use crate::command;
use crate::config::{Config, Service};
use crate::definition::PIDFILE;

/// What a run may do.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    /// Act even when the rule says nothing is due.
    pub force: bool,
    /// Say what would happen; change nothing.
    pub check: bool,
}

/// Everything a service's run needs besides the service.
pub struct Ctx<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// The allowed_signers text, when manifests are checked.
    pub signers: Option<String>,
    /// Output.
    pub out: &'a Output,
    /// Run mode.
    pub mode: Mode,
    /// The part of the no-op fingerprint every service shares, once per pass.
    pub shared: std::cell::OnceCell<[u8; 32]>,
    /// A deployment record was written this pass: the state directory is
    /// fsynced once at its end (src/state.rs, `save`).
    pub saved: std::cell::Cell<bool>,
    /// The earliest allowed_signers valid-before still ahead, once a pass
    /// (src/quiet.rs, `signers_until`).
    pub signers_until: std::cell::OnceCell<Option<i64>>,
    /// The no-op records (src/quiet.rs), read once and written once a pass.
    pub quiet: crate::quiet::Records,
    /// What the pass's fingerprints looked at, for the no-op plan
    /// (src/plan.rs).
    pub plan: crate::plan::Collector,
}

impl Ctx<'_> {
    /// A command with `{pidfile}` filled in; a command that needs a pid
    /// file the definition does not give is a configuration error (78).
    pub fn command(&self, svc: &Service, cmd: &str) -> Result<String> {
        if !cmd.contains(PIDFILE) {
            return Ok(cmd.to_string());
        }
        match &svc.def.pidfile {
            Some(p) => Ok(cmd.replace(PIDFILE, &command::quote(&p.to_string_lossy()))),
            None => Err(Error::config(format!(
                "`{cmd}`: uses {PIDFILE} but no pidfile is set"
            ))),
        }
    }

    /// Run `cmd`; its refusal is a failure of class `refused` (78 for a
    /// pre-flight check, 69 for the action).
    pub fn run(&self, cmd: &str, refused: Failure) -> Result<()> {
        command::run(
            cmd,
            &self.config.state,
            self.config.command_timeout,
            refused,
        )
        .map(|_| ())
    }
}
