//! certdrop-check: the monitoring stage. Parse arguments, build the
//! validated configuration, look at every line once (look.rs: store, pub/,
//! issuer state; served.rs: the endpoints), then say it in the form asked
//! for: problem lines, the Nagios plugin's status line and exit code, a
//! Prometheus textfile, JSON. `dane` checks one service against its TLSA
//! records; `probe` prints what one endpoint serves. It reads certs/, pub/ and the issuer's state, writes only its
//! textfile, and talks to the endpoints and DNS servers it is told about.

mod cli;
mod config;
mod dane;
mod look;
mod nagios;
mod probe;
mod report;
mod served;
mod textfile;

use std::process::ExitCode;

use certdrop_core::error::{Error, Result};
use certdrop_core::exit::{self, Failure, Outcome};
use certdrop_core::output::Output;
use certdrop_probe::Versions;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::report::{Report, Status};

/// Program name in messages.
const PROGRAM: &str = "certdrop-check";

/// How the result of a look is said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// One line per problem (nothing when all is well).
    Lines,
    /// The whole report as JSON.
    Json,
}

fn main() -> ExitCode {
    // A plugin's usage error is UNKNOWN (3), with a status line, not 64.
    let plugin = std::env::args()
        .skip(1)
        .any(|a| a == "nagios" || a == "--nagios");
    let cli = match <Cli as clap::Parser>::try_parse() {
        Ok(cli) => cli,
        Err(e) if plugin && e.use_stderr() => {
            let why = e.to_string();
            let first = why.lines().next().unwrap_or("usage error");
            println!("{}", nagios::unknown(first.trim_start_matches("error: ")));
            return ExitCode::from(Status::Unknown.plugin_code());
        }
        Err(_) => {
            return match exit::parse_args::<Cli>() {
                Ok(_) => ExitCode::from(exit::SOFTWARE),
                Err(code) => code,
            }
        }
    };
    let out = match Output::from_cli(PROGRAM, &cli) {
        Ok(out) => out,
        // A bad --syslog-facility or --syslog-tag: for a plugin, UNKNOWN.
        Err(e) if cli.plugin() => {
            Output::stderr(PROGRAM).print(&nagios::unknown(&e.msg));
            return ExitCode::from(Status::Unknown.plugin_code());
        }
        Err(e) => return exit::exit_code(Err(e.report(&Output::stderr(PROGRAM)))),
    };
    if cli.plugin() {
        return plugin_main(&cli, &out);
    }
    exit::exit_code(run(cli, &out).map_err(|e| e.report(&out)))
}

/// The plugin: every failure is a status line and exit 3.
fn plugin_main(cli: &Cli, out: &Output) -> ExitCode {
    let lines = match &cli.command {
        Some(Command::Nagios { lines } | Command::Run { lines }) => lines.clone(),
        _ => Vec::new(),
    };
    let status = match look_and_write(cli, &lines, true, out) {
        Ok(None) => Status::Ok,
        Ok(Some(report)) => {
            out.print(&nagios::render(&report));
            report.status
        }
        Err(e) => {
            out.print(&nagios::unknown(&e.msg));
            Status::Unknown
        }
    };
    ExitCode::from(status.plugin_code())
}

fn run(cli: Cli, out: &Output) -> Result<Outcome> {
    let form = if cli.json { Form::Json } else { Form::Lines };
    match &cli.command {
        None => looked(&cli, &[], form, out),
        Some(Command::Run { lines }) => looked(&cli, lines, form, out),
        // Handled by plugin_main.
        Some(Command::Nagios { .. }) => Err(Error::software("nagios: not dispatched")),
        Some(Command::Dane {
            name,
            port,
            server,
            resolver,
            connect,
            protocol,
            timeout,
        }) => {
            let dns = match (server, resolver) {
                (Some(s), _) => dane::Source::Server(*s),
                (None, Some(r)) => dane::Source::Resolver(*r),
                (None, None) => return Err(Error::usage("dane: --server or --resolver is needed")),
            };
            dane::run(
                &dane::Request {
                    name: name.clone(),
                    port: *port,
                    dns,
                    connect: *connect,
                    protocol: protocol.clone(),
                    timeout: *timeout,
                },
                out,
            )
        }
        Some(Command::Probe {
            endpoint,
            sni,
            protocol,
            tls12,
            tls13,
            timeout,
        }) => probe::run(
            &probe::Request {
                endpoint: endpoint.clone(),
                sni: sni.clone(),
                protocol: protocol.clone(),
                versions: match (tls12, tls13) {
                    (true, _) => Versions::Tls12,
                    (_, true) => Versions::Tls13,
                    _ => Versions::Any,
                },
                timeout: *timeout,
                json: cli.json,
            },
            out,
        ),
    }
}

/// `run` (and no command): look, write the textfile, say it.
fn looked(cli: &Cli, lines: &[String], form: Form, out: &Output) -> Result<Outcome> {
    let Some(report) = look_and_write(cli, lines, false, out)? else {
        return Ok(Outcome::Reported);
    };
    match form {
        Form::Json => {
            let text = serde_json::to_string_pretty(&report)
                .map_err(|e| Error::software(format!("report: cannot serialize: {e}")))?;
            out.print(&text);
        }
        Form::Lines => {
            for l in &report.lines {
                out.verbose(&summary(l));
                for p in &l.problems {
                    out.print(&format!("{}: {}", p.status.word(), p.text));
                }
            }
        }
    }
    match report.status {
        Status::Ok | Status::Warning => Ok(Outcome::Reported),
        Status::Critical => Err(Error::reported(Failure::Data)),
        Status::Unknown => Err(Error::reported(Failure::Unavailable)),
    }
}

/// Load the configuration, look, write the textfile (the configured one,
/// or --prometheus; the plugin writes only --prometheus, since Icinga runs
/// it beside cron's `run`). With -n: the configuration only (None).
fn look_and_write(
    cli: &Cli,
    lines: &[String],
    plugin: bool,
    out: &Output,
) -> Result<Option<Report>> {
    let mut config = Config::load(&cli.config)?;
    // Thresholds from the command line (one Icinga service per policy).
    config.warning_days = cli.warning.unwrap_or(config.warning_days);
    config.critical_days = cli.critical.unwrap_or(config.critical_days);
    if config.critical_days > config.warning_days {
        return Err(Error::usage(format!(
            "critical: {} days: more than warning ({})",
            config.critical_days, config.warning_days
        )));
    }
    let textfile = match plugin {
        true => cli.prometheus.clone(),
        false => cli.prometheus.clone().or_else(|| config.textfile.clone()),
    };
    if cli.check {
        out.print(&format!(
            "{}: configuration ok ({} line(s) configured)",
            config.path.display(),
            config.lines.len()
        ));
        return Ok(None);
    }
    let report = match look::run(&config, lines) {
        Ok(r) => r,
        Err(e) => {
            // Say in the textfile too that the check could not look.
            if let Some(path) = &textfile {
                textfile::write(path, &textfile::render_failed(certdrop_core::clock::now()))?;
            }
            return Err(e);
        }
    };
    if let Some(path) = &textfile {
        textfile::write(path, &textfile::render(&report))?;
        out.verbose(&format!("{}: written", path.display()));
    }
    Ok(Some(report))
}

/// `-v`: one line per line, what was found.
fn summary(l: &report::Line) -> String {
    let days = l
        .days_left()
        .map_or("no certificate read".to_string(), |d| {
            format!("{d:.1} days left")
        });
    format!(
        "{}: {} ({days}, {} endpoint(s){})",
        l.line,
        l.status.word(),
        l.endpoints.len(),
        if l.next_key { ", next key staged" } else { "" }
    )
}
