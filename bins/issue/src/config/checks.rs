//! The cross-field rules of the configuration that no single key can
//! state: each challenge type has its drop directory, the run's budget
//! holds its validation, the account file is a file of its own. Checked by
//! [`Config::parse`](super::Config::parse), so `-n` and every command
//! refuse a configuration that could never work.

use std::path::PathBuf;

use certdrop_core::error::{Error, Result};

use super::{Challenge, Config, KeyPolicy};

impl Config {
    /// The account file is none of the files a run writes itself: not a
    /// line's state file, the lock or a challenge journal, nor anything in
    /// the store or the drop directories (each would overwrite the other).
    pub(super) fn check_account_path(&self) -> Result<()> {
        let account = self.account.as_path();
        let mut own: Vec<PathBuf> = vec![
            self.state.join(certdrop_core::lock::LOCK_FILE),
            self.state.join(crate::challenge::JOURNALS),
        ];
        own.extend(
            self.lines
                .iter()
                .map(|l| crate::state::path(&self.state, &l.name)),
        );
        let trees = [
            Some(&self.store.certs),
            Some(&self.store.keys),
            Some(&self.store.archive),
            self.dnsextra.as_ref(),
            self.webroot.as_ref(),
        ];
        let clash = own.iter().any(|p| account.starts_with(p))
            || trees.into_iter().flatten().any(|t| account.starts_with(t));
        if clash {
            return Err(Error::config(format!(
                "{}: account ({}) is a file certdrop-issue writes for something else (a line's state, the lock, a journal, the store or a drop directory): give it a path of its own",
                self.path.display(),
                account.display()
            )));
        }
        Ok(())
    }

    /// The run's budget leaves room for the validation it contains.
    pub(super) fn check_budget(&self) -> Result<()> {
        if self.run_timeout <= self.validation_timeout {
            return Err(Error::config(format!(
                "{}: renew.run_timeout ({}) must be longer than renew.validation_timeout ({})",
                self.path.display(),
                certdrop_core::duration::render(self.run_timeout),
                certdrop_core::duration::render(self.validation_timeout)
            )));
        }
        Ok(())
    }

    /// Every challenge type in use has its drop directory.
    pub(super) fn check_drops(&self) -> Result<()> {
        for line in &self.lines {
            if matches!(line.key_policy, KeyPolicy::Csr(_)) && line.max_key_age.is_some() {
                return Err(Error::config(format!(
                    "{}: line '{}': max_key_age cannot apply to a CSR line (certdrop does not hold its key)",
                    self.path.display(),
                    line.name
                )));
            }
            let (missing, key) = match line.challenge {
                Challenge::Dns01 => (self.dnsextra.is_none(), "drop.dnsextra"),
                Challenge::Http01 => (self.webroot.is_none(), "drop.webroot"),
            };
            if missing {
                return Err(Error::config(format!(
                    "{}: line '{}' needs {key}",
                    self.path.display(),
                    line.name
                )));
            }
            if line.challenge == Challenge::Dns01
                && self.dns.check
                && self.dns.servers.is_empty()
                && self.dns.discover.is_none()
            {
                return Err(Error::config(format!(
                    "{}: line '{}' uses dns-01: set dns.servers (authoritative servers to poll), dns.discover, or dns.check = false",
                    self.path.display(),
                    line.name
                )));
            }
        }
        Ok(())
    }
}
