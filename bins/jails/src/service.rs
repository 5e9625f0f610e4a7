//! A site's daemon that is one of certdrop's `watch` daemons, recognised in
//! its command line so that the jail runs it through the shipped rc.d
//! script (dist/freebsd/rc.d/certdrop_<stage>) with rc.conf(5) knobs,
//! instead of a command line of its own.

use serde::Serialize;

use crate::site::Daemon;

/// The programs whose `watch` has an rc.d script, and the script's name.
const WATCHERS: [(&str, &str); 3] = [
    ("certdrop-zone", "certdrop_zone"),
    ("certdrop-trigger", "certdrop_trigger"),
    ("certdrop-publish", "certdrop_publish"),
];

/// A `watch` daemon as its rc.d script's knobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    /// The rc.d script, and the prefix of its knobs (`certdrop_zone`).
    pub name: String,
    /// `<name>_config`: the command line's `-c`.
    pub config: String,
    /// `<name>_flags`: the command line's other words, in their order.
    pub flags: String,
}

/// The service `run` is, if it is `[<bindir>/]certdrop-<stage> ... -c
/// CONFIG ... watch ...` of plain words: no quotes, expansions or shell
/// operators, which rc.conf(5) knobs could not carry as they are. Anything
/// else stays a daemon with a command line of its own.
pub fn recognise(run: &str, bindir: &str) -> Option<Service> {
    if run.contains(|c: char| "'\"\\$`;&|<>(){}[]*?~#\n".contains(c)) {
        return None;
    }
    let mut words = run.split_whitespace();
    let program = words.next()?;
    let program = program
        .strip_prefix(bindir)
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or(program);
    let name = WATCHERS.iter().find(|(p, _)| *p == program)?.1;
    let (mut config, mut watch, mut flags) = (None, false, Vec::new());
    while let Some(w) = words.next() {
        match w {
            "-c" | "--config" if config.is_none() => config = Some(words.next()?.to_string()),
            "watch" if !watch => watch = true,
            other => flags.push(other),
        }
    }
    match (config, watch) {
        (Some(config), true) => Some(Service {
            name: name.to_string(),
            config,
            flags: flags.join(" "),
        }),
        _ => None,
    }
}

/// Give each of a jail's `daemons` without a pid file its service, if it
/// is one (the first of each script only: one rc.d script runs one);
/// return the services and the other daemons.
pub fn assign(daemons: &mut [Daemon], bindir: &str) -> (Vec<Service>, Vec<Daemon>) {
    let mut services: Vec<Service> = Vec::new();
    for d in daemons.iter_mut().filter(|d| d.pidfile.is_none()) {
        d.service =
            recognise(&d.run, bindir).filter(|s| !services.iter().any(|o| o.name == s.name));
        services.extend(d.service.clone());
    }
    let others = daemons
        .iter()
        .filter(|d| d.service.is_none())
        .cloned()
        .collect();
    (services, others)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_daemon_is_its_rc_script_and_knobs() {
        let s = recognise(
            "/usr/local/bin/certdrop-zone -v -c /etc/zone.toml watch --interval 10m",
            "/usr/local/bin",
        )
        .expect("recognised");
        assert_eq!(
            s,
            Service {
                name: "certdrop_zone".into(),
                config: "/etc/zone.toml".into(),
                flags: "-v --interval 10m".into(),
            }
        );
        assert_eq!(
            recognise("certdrop-publish --config /p.toml watch", "/opt/bin")
                .expect("publish")
                .name,
            "certdrop_publish"
        );
    }

    #[test]
    fn anything_else_keeps_its_command_line() {
        for run in [
            "nsd -c /etc/nsd.conf",
            "certdrop-zone -c /etc/zone.toml build",
            "certdrop-zone watch",
            "certdrop-zone -c '/etc/zone.toml' watch",
            "certdrop-trigger -c /t.toml watch \"$x\"",
            "certdrop-issue -c /i.toml watch",
            "/opt/bin/certdrop-zone -c /z.toml watch",
            "certdrop-zone -c /z.toml watch > /dev/null",
            "certdrop-zone -c",
        ] {
            assert_eq!(recognise(run, "/usr/local/bin"), None, "{run}");
        }
    }
}
