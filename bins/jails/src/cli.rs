//! Raw command-line arguments of certdrop-jails (clap derive). Usage errors
//! exit 64 (EX_USAGE).

use std::path::PathBuf;

use certdrop_core::output::{Global, LogArgs};
use clap::{Parser, Subcommand};

/// certdrop-jails renders one site description (site.toml: the jails, their
/// users, which shared directories each mounts read-only or read-write,
/// what each runs and when) into the files that build the site:
///
///   jail.conf          jail.conf(5) entries, one per jail
///   fstab.<jail>       nullfs(5) mounts, ro/rw as the privilege table says
///   crontab.<jail>     the jail user's crontab(5)
///   rc.conf.<jail>     rc.conf(5) knobs of the jail's daemons: certdrop's
///                      watch daemons through the package's rc.d scripts
///                      (certdrop_zone, _trigger, _publish), the others
///   rc.d.<jail>        through this rc.d script (certdrop_jail), started
///                      before them by the jail's /etc/rc
///   install.sh         users, directories with owners and modes, mount
///                      points, fstabs, crontabs, each jail's rc.conf knobs
///                      and rc.d script (FreeBSD host, as root)
///   update.sh          takes a commit of the configuration repository
///                      live only after every jail's checks pass
///   linux/             the same site on Linux: each jail as its own user in
///                      its own mount namespace with read-only bind mounts
///                      (jail-<name>, install, start, stop, cron, update)
///
/// `cluster` renders every host of a cluster (one signing site, service
/// sites) from one cluster description into DIR/<host>/: each host's site
/// files plus nsd.conf transfer parts, zone.toml's [xfr], pull.toml files,
/// trigger.toml's [outbox]/[[csr]], allowed_signers, issue.toml's and
/// publish.toml's lines; it refuses a cluster where a private key would
/// travel, a secondary has no TSIG key or a site pulls from nowhere.
///
/// `check` refuses a site that breaks the privilege table (a jail writing
/// where it may only read, keys/ outside the issue jail, a shared
/// directory nobody writes) or cannot work (a cron time that never fires,
/// a user, gid or address two jails cannot share, a pid file the daemon
/// cannot write), one line per problem; `render` checks first.
/// Templates come from jail-templates/ (built in); a file of the same name
/// in the site's `templates` directory replaces one.
///
/// Exit codes: 0 files written (or the check passed), 2 nothing changed,
/// 64 usage, 66 a missing or unreadable site, cluster, template or public
/// key file, 73 cannot write, 78 a bad site or cluster.
///
/// Example: certdrop-jails cluster cluster.toml -o /usr/local/etc/certdrop-cluster
#[derive(Debug, Parser)]
#[command(name = "certdrop-jails", version, verbatim_doc_comment)]
pub struct Cli {
    /// Explain (print each file as it is written, the privilege table).
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Check and render, write nothing; print what would change.
    #[arg(short = 'n', long, global = true)]
    pub check: bool,
    /// Where messages go (--log, --syslog-*).
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// What `certdrop_core::exit::main` reads: -v, the logging options.
impl Global for Cli {
    fn verbose(&self) -> u8 {
        self.verbose
    }
    fn log(&self) -> &LogArgs {
        &self.log
    }
}

impl Cli {
    /// The command to dispatch, `-n/--check` made the `check` command
    /// first: `render -n SITE -o DIR` checks the site and says what
    /// rendering would write into DIR, writing nothing.
    pub fn command(self) -> Command {
        match self.command {
            Command::Render { site, out } if self.check => Command::Check {
                site,
                out: Some(out),
            },
            command => command,
        }
    }
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the site, then write the rendered files into DIR (only those
    /// that changed).
    Render {
        /// The site description.
        site: PathBuf,
        /// Output directory.
        #[arg(short = 'o', long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Check a cluster description (sites, hosts and their jails, the
    /// signing site, secondaries, services, transports), then write each
    /// host's files into DIR/<host>/ (only those that changed): its site
    /// files as `render` writes them, nsd.conf parts, zone.toml's [xfr],
    /// pull.toml files, trigger.toml's [outbox]/[[csr]], allowed_signers,
    /// issue.toml's and publish.toml's lines. With -n, write nothing and
    /// print what would change.
    Cluster {
        /// The cluster description.
        cluster: PathBuf,
        /// Output directory (one directory per host).
        #[arg(short = 'o', long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Check the site against the privilege table; one line per problem.
    Check {
        /// The site description.
        site: PathBuf,
        /// Also render, and print what would change in DIR (what
        /// `render -n` does).
        #[arg(short = 'o', long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}
