//! The privilege table of DESIGN.md applied to a site: every problem as
//! one line naming the file, the line and the jail.

use std::collections::BTreeMap;

use crate::site::{allowed, Access, Site, Stage, SHARED};

/// Every way `site` breaks the privilege table; empty when it keeps it.
pub fn problems(site: &Site) -> Vec<String> {
    let file = site.path.display();
    let mut out = Vec::new();
    let mut writers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut readers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut uids: BTreeMap<u32, &str> = BTreeMap::new();
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
    for (dir, jails) in &writers {
        if jails.len() > 1 {
            out.push(format!(
                "{file}: {dir}/ is written by jails {}; one writer per directory",
                jails.join(", ")
            ));
        }
    }
    for (dir, jails) in &readers {
        if !writers.contains_key(dir) {
            out.push(format!(
                "{file}: {dir}/ is read by jail{} {} but written by none",
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
                "{file}: keys/ is written by {} and certs/ by {}: the issuer holds both",
                k.join(", "),
                c.join(", ")
            ));
        }
    }
    out
}
