//! The rules of a cluster, one line per problem naming the cluster file's
//! line: each host keeps the privilege table (src/check.rs), no private
//! key travels between hosts, every secondary has a TSIG key, every
//! service host pulls pub/ from somewhere and the signing host every
//! outbox it needs.

use crate::check;
use crate::site::{Access, Jail, Stage};

use super::Cluster;

/// Every way `c` breaks the rules; empty when it keeps them.
pub fn problems(c: &Cluster) -> Vec<String> {
    let file = c.path.display();
    let mut out: Vec<String> = Vec::new();
    // The privilege table, per host; a jail set several hosts share says
    // its problem once.
    for h in &c.hosts {
        for p in check::problems(&h.jails) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    // Keys that would travel.
    for v in &c.services {
        if !v.csr && v.host != c.issuer {
            out.push(format!(
                "{file}:{}: service '{}': csr = false: its key would be made by the issuer on host '{}' and travel to host '{}'; a service on another host makes its own key (csr)",
                v.at_csr, v.line, c.issuer, v.host
            ));
        }
        if v.csr {
            let host = c.host(&v.host);
            match host.and_then(|h| h.jail(Stage::Csr)) {
                None => out.push(format!(
                    "{file}:{}: service '{}': host '{}' has no jail with stage csr to make its key and CSR",
                    v.at_line, v.line, v.host
                )),
                Some(j) => {
                    for dir in ["keys", "outbox"] {
                        if !writes(j, dir) {
                            out.push(format!(
                                "{file}:{}: host '{}': jail '{}': mounts: makes keys and CSRs but does not mount {dir} = \"rw\"",
                                j.at.mounts, v.host, j.name
                            ));
                        }
                    }
                }
            }
        }
    }
    for h in &c.hosts {
        for j in h.jails.jails.iter().filter(|j| !j.keys.is_empty()) {
            for line in &j.keys {
                let Some(v) = c.services.iter().find(|v| v.line == *line) else {
                    out.push(format!(
                        "{file}:{}: host '{}': jail '{}': keys: no [[service]] '{line}'",
                        j.at.keys, h.name, j.name
                    ));
                    continue;
                };
                let home = if v.csr { &v.host } else { &c.issuer };
                if *home != h.name {
                    out.push(format!(
                        "{file}:{}: host '{}': jail '{}': keys: the key of line '{line}' lives on host '{home}'; a key grant across hosts would make it travel",
                        j.at.keys, h.name, j.name
                    ));
                } else if v.csr && !j.stages.contains(&Stage::Csr) {
                    // certdrop-trigger csr keeps keys/<line>/ 0700 for
                    // its own user: no group grant reaches another jail.
                    out.push(format!(
                        "{file}:{}: host '{}': jail '{}': keys: the key of csr line '{line}' is its csr jail's own; run the service in that jail",
                        j.at.keys, h.name, j.name
                    ));
                }
            }
        }
    }
    // Zone transfers.
    let secondaries = c.secondaries();
    for s in c.sites.iter().filter(|s| s.secondary) {
        if c.tsig.is_none() {
            out.push(format!(
                "{file}:{}: site '{}': secondary = true but the cluster has no [tsig] key: zone transfers would go unauthenticated",
                s.at_secondary, s.name
            ));
        }
        if !secondaries.iter().any(|h| h.site == s.name) {
            out.push(format!(
                "{file}:{}: site '{}': secondary = true but none of its hosts has a jail with stage zone (nsd)",
                s.at_secondary, s.name
            ));
        }
    }
    if !secondaries.is_empty() && c.zones.is_empty() {
        out.push(format!(
            "{file}:{}: zones: secondaries but no zone for them to transfer",
            c.at_zones
        ));
    }
    if !secondaries.is_empty() && c.primary().is_none() {
        out.push(format!(
            "{file}:{}: signing: site '{}' has no host with a zone jail: the secondaries would transfer from no primary",
            c.at.signing, c.signing
        ));
    }
    // Pulls.
    let issuer = c.host(&c.issuer);
    for h in c.hosts.iter().filter(|h| h.name != c.issuer) {
        let site = c.site(&h.site);
        match (h.jail(Stage::Publish), h.jail(Stage::Trigger)) {
            (None, Some(t)) => out.push(format!(
                "{file}:{}: host '{}': jail '{}' runs a trigger but no jail of the host (stage publish) pulls pub/: it pulls from nowhere",
                h.at_name, h.name, t.name
            )),
            (Some(_), _) if site.is_some_and(|s| s.pull.is_none()) => out.push(format!(
                "{file}:{}: site '{}': pulls pub/ from nowhere: no pull = [...] and no [transport] pub",
                site.map_or(0, |s| s.at_pull),
                h.site
            )),
            (Some(p), _) if !writes(p, "pub") => out.push(format!(
                "{file}:{}: host '{}': jail '{}': mounts: pulls pub/ but does not mount pub = \"rw\"",
                p.at.mounts, h.name, p.name
            )),
            _ => {}
        }
    }
    let pulled = c.pulled();
    if let Some(i) = issuer.filter(|_| !pulled.is_empty()) {
        match i.jail(Stage::Publish) {
            None => out.push(format!(
                "{file}:{}: host '{}': pulls the outboxes of {} but has no jail with stage publish",
                i.at_name,
                i.name,
                names(&pulled)
            )),
            Some(p) if !writes(p, "inbox") => out.push(format!(
                "{file}:{}: host '{}': jail '{}': mounts: pulls outboxes into inbox/ but does not mount inbox = \"rw\"",
                p.at.mounts, i.name, p.name
            )),
            _ => {}
        }
        if let Some(j) = i
            .jail(Stage::Issue)
            .filter(|j| !j.mounts.iter().any(|m| m.dir == "inbox"))
        {
            out.push(format!(
                "{file}:{}: host '{}': jail '{}': mounts: issues from CSRs in inbox/ but does not mount inbox = \"ro\"",
                j.at.mounts, i.name, j.name
            ));
        }
    }
    for s in pulled {
        if s.outbox.is_none() {
            out.push(format!(
                "{file}:{}: site '{}': its CSRs are pulled from nowhere: no [transport] outbox",
                s.at_name, s.name
            ));
        }
        if s.outbox_key.is_none() {
            out.push(format!(
                "{file}:{}: site '{}': has csr lines but no outbox_key: its outbox could not be verified",
                s.at_name, s.name
            ));
        }
        let hosts: Vec<&str> = c
            .services
            .iter()
            .filter(|v| v.csr && v.site == s.name)
            .map(|v| v.host.as_str())
            .collect();
        if hosts.iter().any(|h| *h != hosts[0]) {
            out.push(format!(
                "{file}:{}: site '{}': csr lines on several hosts; one outbox per site (inbox/{})",
                s.at_name, s.name, s.name
            ));
        }
    }
    out
}

/// Whether `j` mounts `dir` read-write.
fn writes(j: &Jail, dir: &str) -> bool {
    j.mounts
        .iter()
        .any(|m| m.dir == dir && m.access == Access::Write)
}

/// "site1, site2", for messages.
fn names(sites: &[&super::ClusterSite]) -> String {
    sites
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
