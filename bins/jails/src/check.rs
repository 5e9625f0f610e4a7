//! The privilege table of DESIGN.md applied to a site, and the rules
//! between jails that make a site work at all (one user, group and
//! address per jail, a writer for every granted key, pid files a jail can
//! write): every problem as one line naming the file, the line and the
//! jail.

use std::collections::BTreeMap;
use std::path::Path;

use crate::site::{allowed, ip4_addresses, Access, Jail, Site, Stage, SHARED};

/// Every way `site` breaks the privilege table; empty when it keeps it.
pub fn problems(site: &Site) -> Vec<String> {
    let file = site.path.display();
    let mut out = Vec::new();
    let mut writers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut readers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut uids: BTreeMap<u32, &str> = BTreeMap::new();
    // The line of the first jail that writes or reads each directory.
    let mut first_at: BTreeMap<&str, usize> = BTreeMap::new();
    for j in &site.jails {
        let stages = j
            .stages
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ");
        if j.uid == 0 || j.gid == 0 {
            out.push(format!(
                "{file}:{}: jail '{}': uid and gid 0 are root; every stage runs as its own unprivileged user",
                j.at.uid, j.name
            ));
        }
        if let Some(other) = uids.insert(j.uid, &j.name) {
            out.push(format!(
                "{file}:{}: jail '{}': uid {} is also jail '{other}''s; one user per jail keeps their files apart",
                j.at.uid, j.name, j.uid
            ));
        }
        for m in &j.mounts {
            let best = j.stages.iter().filter_map(|s| allowed(*s, &m.dir)).max();
            let secret = SHARED.iter().any(|(d, _, s)| *d == m.dir && *s);
            match best {
                None if secret => out.push(format!(
                    "{file}:{}: jail '{}': mounts {}/, which holds secrets: only the issue jail may",
                    j.at.mounts, j.name, m.dir
                )),
                None => out.push(format!(
                    "{file}:{}: jail '{}': mounts {}/, which its stages ({stages}) may not see",
                    j.at.mounts, j.name, m.dir
                )),
                Some(Access::Read) if m.access == Access::Write => out.push(format!(
                    "{file}:{}: jail '{}': mounts {}/ read-write, but its stages ({stages}) may only read it",
                    j.at.mounts, j.name, m.dir
                )),
                _ => {}
            }
            match m.access {
                Access::Write => writers.entry(&m.dir).or_default().push(&j.name),
                Access::Read => readers.entry(&m.dir).or_default().push(&j.name),
            }
            first_at.entry(&m.dir).or_insert(j.at.mounts);
        }
    }
    for j in site.jails.iter().filter(|j| !j.keys.is_empty()) {
        if !j
            .stages
            .iter()
            .any(|s| matches!(s, Stage::Web | Stage::Trigger))
        {
            out.push(format!(
                "{file}:{}: jail '{}': keys = [...] grants a service its own key; its stages ({}) serve nothing",
                j.at.keys,
                j.name,
                j.stages.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
            ));
        }
        for line in &j.keys {
            if let Some(other) = site.jails.iter().find(|o| {
                o.name != j.name && o.keys.contains(line) && !o.stages.contains(&Stage::Issue)
            }) {
                if other.name < j.name {
                    out.push(format!(
                        "{file}:{}: jail '{}': the key of line '{line}' is also granted to jail '{}'; one service jail per key",
                        j.at.keys, j.name, other.name
                    ));
                }
            }
        }
    }
    // The line of the mounts of the named jail, for a directory's problem.
    let at = |name: &str| {
        site.jails
            .iter()
            .find(|j| j.name == name)
            .map_or(0, |j| j.at.mounts)
    };
    for (dir, jails) in &writers {
        if jails.len() > 1 {
            out.push(format!(
                "{file}:{}: jail '{}': mounts: {dir}/ is written by jails {}; one writer per directory",
                at(jails[1]),
                jails[1],
                jails.join(", ")
            ));
        }
    }
    for (dir, jails) in &readers {
        if !writers.contains_key(dir) {
            out.push(format!(
                "{file}:{}: jail '{}': mounts: {dir}/ is read by jail{} {} but written by none",
                first_at.get(dir).copied().unwrap_or(0),
                jails[0],
                if jails.len() > 1 { "s" } else { "" },
                jails.join(", ")
            ));
        }
    }
    // keys/ and archive/ belong with the certificates they pair with: the
    // jail that writes certs/ must be the one that holds keys/.
    if let (Some(k), Some(c)) = (writers.get("keys"), writers.get("certs")) {
        if k != c {
            out.push(format!(
                "{file}:{}: jail '{}': mounts: keys/ is written by {} and certs/ by {}: the issuer holds both",
                at(k[0]),
                k[0],
                k.join(", "),
                c.join(", ")
            ));
        }
    }
    // A granted key is written by the issuer into keys/<line>/: without a
    // jail that writes keys/, the grant mounts a directory nobody fills.
    if !writers.contains_key("keys") {
        for j in site.jails.iter().filter(|j| !j.keys.is_empty()) {
            out.push(format!(
                "{file}:{}: jail '{}': keys: no jail writes keys/ (the issue jail, mounts keys = \"rw\"), so no key is ever granted",
                j.at.keys, j.name
            ));
        }
    }
    out.extend(apart(site));
    out.extend(pidfiles(site));
    out
}

/// One user, one group and one address set per jail, as install.sh and
/// jail(8) need them: install.sh makes each jail's user and a group of
/// the same name with pw(8) on the host, where a second jail of the same
/// user name would silently get the first one's uid, and pw refuses a gid
/// already taken; jail(8) refuses a jail whose address another jail has
/// when either has more than one ("IPv4 addresses clash").
fn apart(site: &Site) -> Vec<String> {
    let file = site.path.display();
    let mut out = Vec::new();
    for (i, j) in site.jails.iter().enumerate() {
        let before = &site.jails[..i];
        if let Some(o) = before.iter().find(|o| o.user == j.user) {
            out.push(format!(
                "{file}:{}: jail '{}': user '{}' is also jail '{}''s; install.sh makes one user per jail, with its own uid",
                j.at.user, j.name, j.user, o.name
            ));
        }
        if let Some(o) = before
            .iter()
            .find(|o| o.gid == j.gid && o.user != j.user && o.uid != j.uid)
        {
            out.push(format!(
                "{file}:{}: jail '{}': gid {} is also jail '{}''s; install.sh makes a group per jail with its gid, and pw(8) refuses a gid taken",
                j.at.gid, j.name, j.gid, o.name
            ));
        }
        let mine = addresses(j);
        for o in before {
            let theirs = addresses(o);
            if mine.len() < 2 && theirs.len() < 2 {
                continue;
            }
            if let Some(a) = mine.iter().find(|a| theirs.contains(a)) {
                out.push(format!(
                    "{file}:{}: jail '{}': ip4: {a} is also jail '{}''s, and one of them has several addresses: jail(8) refuses to start it (IPv4 addresses clash)",
                    j.at.ip4, j.name, o.name
                ));
            }
        }
    }
    out
}

/// The addresses of a jail (checked when the site was read).
fn addresses(j: &Jail) -> Vec<std::net::Ipv4Addr> {
    j.ip4
        .as_deref()
        .map(|a| ip4_addresses(a).unwrap_or_default())
        .unwrap_or_default()
}

/// A daemon's pid file must be writable by the jail's user: config is
/// read-only in every jail, and under data a jail writes only its state
/// directory and the directories it mounts read-write (on Linux the rest
/// of data is a read-only tmpfs; on FreeBSD root's mount points).
fn pidfiles(site: &Site) -> Vec<String> {
    let file = site.path.display();
    let mut out = Vec::new();
    for j in &site.jails {
        for (d, line) in j.daemons.iter().zip(&j.at.pidfiles) {
            let Some(pid) = d.pidfile.as_deref().map(Path::new) else {
                continue;
            };
            let why = if pid.starts_with(&site.config) {
                format!(
                    "lies in config ({}), which every jail mounts read-only",
                    site.config.display()
                )
            } else if pid.starts_with(&site.data)
                && !pid.starts_with(&j.state)
                && !j
                    .mounts
                    .iter()
                    .any(|m| m.access == Access::Write && pid.starts_with(site.data.join(&m.dir)))
            {
                format!(
                    "lies in data ({}) outside the jail's state directory and the directories it writes",
                    site.data.display()
                )
            } else {
                continue;
            };
            out.push(format!(
                "{file}:{line}: jail '{}': daemons.pidfile: {} {why}: the daemon cannot write it; use {{state}}/",
                j.name,
                pid.display()
            ));
        }
    }
    out
}
