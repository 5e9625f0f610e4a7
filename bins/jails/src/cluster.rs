//! cluster.toml: one signing site and its service sites, their hosts and
//! the jails on each, which sites run nsd secondaries, which services live
//! where, and how pub/ and the outboxes travel (DESIGN.md, issue 15).
//! Each host's jails become a [`Site`] taken from the same file, so the
//! privilege table, jail.conf, fstabs and crontabs apply per host; the
//! rules between hosts (keys that must not travel, secondaries without a
//! TSIG key, a pull from nowhere) are [`rules`]'s, the rendered cluster
//! files [`files`]'s. Every error names the cluster file's line.

mod files;
mod raw;
mod rules;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use certdrop_core::error::Error;
use certdrop_core::tomlcfg::Source;
use toml::Spanned;

use crate::site::{RawCron, RawSite, Site, Stage};
use raw::RawCluster;

pub use files::{remove_stale, render};
pub use rules::problems;

/// When a service host pulls pub/, and the signing host every outbox,
/// unless the cluster says (`pull_when`).
pub const DEFAULT_PULL_WHEN: &str = "*/5 * * * *";
/// When a service host's csr jail refreshes its outbox (`csr_when`).
pub const DEFAULT_CSR_WHEN: &str = "*/15 * * * *";
/// The transport's time limit in pull.toml unless `[transport] timeout`.
pub const DEFAULT_TIMEOUT: &str = "5m";
/// The key type of a csr line unless the service says (`key`).
pub const DEFAULT_KEY: &str = "ecdsa-p256";
/// The principal of the publication key unless `[publish] principal`.
pub const DEFAULT_PUBLISH_PRINCIPAL: &str = "publish@certdrop";
/// The namespace pub/ and outbox manifests are signed in (SSHSIG).
pub const NAMESPACE: &str = "certdrop-manifest@certdrop";

/// A validated cluster (before [`rules::problems`]).
#[derive(Debug)]
pub struct Cluster {
    pub path: PathBuf,
    pub name: String,
    /// The signing site.
    pub signing: String,
    /// The host of the signing site that runs the issue jail.
    pub issuer: String,
    pub zones: Vec<String>,
    pub at_zones: usize,
    pub tsig: Option<Tsig>,
    pub dns_port: u16,
    pub timeout: String,
    /// `ssh-ed25519 BASE64` of the publication key, and its principal.
    pub publish_key: String,
    pub publish_principal: String,
    pub sites: Vec<ClusterSite>,
    pub hosts: Vec<Host>,
    pub services: Vec<Service>,
    /// Lines of the file, for messages of [`rules`].
    pub at: At,
}

/// The TSIG key of the zone transfers: its name and the key clause file
/// `certdrop-zone tsig-key` wrote (on every nsd host, at this path).
#[derive(Debug, Clone)]
pub struct Tsig {
    pub name: String,
    pub file: String,
}

/// A site: its hosts, whether they run nsd secondaries, how it pulls.
#[derive(Debug)]
pub struct ClusterSite {
    pub name: String,
    pub hosts: Vec<String>,
    pub secondary: bool,
    /// `ssh-ed25519 BASE64` of its outbox key, when given.
    pub outbox_key: Option<String>,
    /// The pub/ transport (the site's `pull`, else `[transport] pub`).
    pub pull: Option<Vec<String>>,
    /// The outbox transport (`[transport] outbox`).
    pub outbox: Option<Vec<String>>,
    pub at_name: usize,
    pub at_secondary: usize,
    pub at_pull: usize,
}

/// A host: its addresses and its jails as a site.
#[derive(Debug)]
pub struct Host {
    pub name: String,
    pub site: String,
    pub addresses: Vec<IpAddr>,
    pub jails: Site,
    pub at_name: usize,
}

impl Host {
    /// The first jail of the host that runs `stage`.
    pub fn jail(&self, stage: Stage) -> Option<&crate::site::Jail> {
        self.jails.jails.iter().find(|j| j.stages.contains(&stage))
    }
}

/// A service: its certificate line, where it runs, its names.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Service {
    pub line: String,
    pub host: String,
    pub site: String,
    pub names: Vec<String>,
    pub key: String,
    pub max_key_age: Option<String>,
    /// TLSA owners (3 1 1) of the line: the issuer's `tlsa` (the staged
    /// key's record must be served before the switch) and the zone's map.
    pub tlsa: Vec<String>,
    /// Its key is made on its own host (`certdrop-trigger csr`), not by the
    /// issuer.
    pub csr: bool,
    #[serde(skip)]
    pub at_line: usize,
    #[serde(skip)]
    pub at_csr: usize,
}

/// Lines of top-level keys.
#[derive(Debug, Default)]
pub struct At {
    pub signing: usize,
}

impl Cluster {
    /// Read and validate `path`: 66 when it cannot be read, 78 for any
    /// error in it (one line, `file:line: key: why`).
    pub fn load(path: &Path) -> certdrop_core::error::Result<Cluster> {
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::noinput(format!("{}: no such file", path.display()))
            }
            _ => Error::unreadable(path, "cannot read", &e),
        })?;
        let src = Source { path, text: &text };
        let raw: RawCluster = src.parse().map_err(Error::config)?;
        Cluster::from_raw(&src, raw)
    }

    fn from_raw(src: &Source, raw: RawCluster) -> certdrop_core::error::Result<Cluster> {
        let err = |span: std::ops::Range<usize>, key: &str, why: &str| {
            Error::config(src.err(span, key, why))
        };
        let line = |span: std::ops::Range<usize>| src.line(span.start);
        raw::word(&raw.cluster, "cluster", src).map_err(Error::config)?;
        let publish_key = raw::public_key(src, &raw.publish.key, "publish.key")?;
        let publish_principal = raw
            .publish
            .principal
            .map(|p| p.into_inner())
            .unwrap_or_else(|| DEFAULT_PUBLISH_PRINCIPAL.into());
        let transport = raw.transport.unwrap_or_default();
        for (key, t) in [
            ("transport.pub", &transport.pub_),
            ("transport.outbox", &transport.outbox),
        ] {
            if let Some(t) = t {
                raw::transport(src, t, key).map_err(Error::config)?;
            }
        }
        // Sites, and the site of every host.
        let mut sites: Vec<ClusterSite> = Vec::new();
        let mut site_of: BTreeMap<String, String> = BTreeMap::new();
        for s in raw.sites {
            raw::dns_name(&s.name, "site.name", src).map_err(Error::config)?;
            let name = s.name.get_ref().clone();
            if sites.iter().any(|o| o.name == name) {
                return Err(err(
                    s.name.span(),
                    "site.name",
                    &format!("'{name}' defined twice"),
                ));
            }
            for h in s.hosts.get_ref() {
                if let Some(other) = site_of.insert(h.clone(), name.clone()) {
                    return Err(err(
                        s.hosts.span(),
                        &format!("site '{name}': hosts"),
                        &format!("host '{h}' is also site '{other}''s; a host belongs to one site"),
                    ));
                }
            }
            if let Some(p) = &s.pull {
                raw::transport(src, p, &format!("site '{name}': pull")).map_err(Error::config)?;
            }
            let outbox_key = match &s.outbox_key {
                Some(k) => Some(raw::public_key(
                    src,
                    k,
                    &format!("site '{name}': outbox_key"),
                )?),
                None => None,
            };
            sites.push(ClusterSite {
                at_name: line(s.name.span()),
                at_secondary: s
                    .secondary
                    .as_ref()
                    .map_or(line(s.name.span()), |x| line(x.span())),
                at_pull: s
                    .pull
                    .as_ref()
                    .map_or(line(s.name.span()), |x| line(x.span())),
                hosts: s.hosts.into_inner(),
                secondary: s.secondary.is_some_and(|x| x.into_inner()),
                outbox_key,
                pull: s
                    .pull
                    .map(|p| p.into_inner())
                    .or_else(|| transport.pub_.as_ref().map(|p| p.get_ref().clone())),
                outbox: transport.outbox.as_ref().map(|p| p.get_ref().clone()),
                name,
            });
        }
        if !sites.iter().any(|s| s.name == *raw.signing.get_ref()) {
            return Err(err(
                raw.signing.span(),
                "signing",
                &format!("no [[site]] '{}'", raw.signing.get_ref()),
            ));
        }
        // Hosts: names, addresses, sites, and which jail set.
        let mut seen: BTreeMap<IpAddr, String> = BTreeMap::new();
        let mut hosts_raw = Vec::new();
        for h in raw.hosts {
            raw::dns_name(&h.name, "host.name", src).map_err(Error::config)?;
            let name = h.name.get_ref().clone();
            if hosts_raw
                .iter()
                .any(|(n, _, _, _): &(String, _, _, _)| *n == name)
            {
                return Err(err(
                    h.name.span(),
                    "host.name",
                    &format!("'{name}' defined twice"),
                ));
            }
            let key = format!("host '{name}': address");
            if h.address.get_ref().is_empty() {
                return Err(err(h.address.span(), &key, "at least one address"));
            }
            let mut addresses = Vec::new();
            for a in h.address.get_ref() {
                let ip: IpAddr = a.parse().map_err(|_| {
                    err(
                        h.address.span(),
                        &key,
                        &format!("'{a}' is not an IP address"),
                    )
                })?;
                if let Some(other) = seen.insert(ip, name.clone()) {
                    return Err(err(
                        h.address.span(),
                        &key,
                        &format!(
                            "{ip} is also host '{other}''s; every host needs its own addresses"
                        ),
                    ));
                }
                addresses.push(ip);
            }
            let Some(site) = site_of.get(&name).cloned() else {
                return Err(err(
                    h.name.span(),
                    "host.name",
                    &format!("'{name}' is in no [[site]]'s hosts"),
                ));
            };
            if !raw.jails.contains_key(h.jails.get_ref()) {
                return Err(err(
                    h.jails.span(),
                    &format!("host '{name}': jails"),
                    &format!("no [[jails.{}]]", h.jails.get_ref()),
                ));
            }
            hosts_raw.push((name, site, addresses, h));
        }
        for s in &sites {
            if let Some(h) = s.hosts.iter().find(|h| {
                !site_of.contains_key(*h) || !hosts_raw.iter().any(|(n, _, _, _)| n == *h)
            }) {
                return Err(Error::config(format!(
                    "{}:{}: site '{}': hosts: no [[host]] '{h}'",
                    src.path.display(),
                    s.at_name,
                    s.name
                )));
            }
        }
        // The issuer's host: the signing site's one host with an issue jail.
        let signing = raw.signing.get_ref().clone();
        let stages_of = |set: &str| -> Vec<Stage> {
            raw.jails
                .get(set)
                .map(|js| {
                    js.iter()
                        .flat_map(|j| j.stages.get_ref().iter().copied())
                        .collect()
                })
                .unwrap_or_default()
        };
        let issuers: Vec<&String> = hosts_raw
            .iter()
            .filter(|(_, s, _, h)| {
                *s == signing && stages_of(h.jails.get_ref()).contains(&Stage::Issue)
            })
            .map(|(n, _, _, _)| n)
            .collect();
        let issuer =
            match issuers[..] {
                [one] => one.clone(),
                [] => {
                    return Err(err(
                        raw.signing.span(),
                        "signing",
                        &format!(
                            "site '{signing}' has no host with an issue jail: nothing would sign"
                        ),
                    ))
                }
                _ => {
                    return Err(err(
                        raw.signing.span(),
                        "signing",
                        &format!(
                        "site '{signing}' has an issue jail on hosts {}: one issuer per cluster",
                        issuers.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                    ))
                }
            };
        let names: Vec<String> = hosts_raw.iter().map(|h| h.0.clone()).collect();
        let services = raw::services(src, raw.services, &names, &site_of, &issuer)?;
        let pulled: Vec<String> = sites
            .iter()
            .filter(|s| services.iter().any(|v| v.csr && v.site == s.name))
            .map(|s| s.name.clone())
            .collect();
        let pull_when = raw
            .pull_when
            .unwrap_or_else(|| Spanned::new(0..0, DEFAULT_PULL_WHEN.into()));
        let csr_when = raw
            .csr_when
            .unwrap_or_else(|| Spanned::new(0..0, DEFAULT_CSR_WHEN.into()));
        let mut hosts = Vec::new();
        for (name, site, addresses, h) in hosts_raw {
            let jails = host_jails(
                src,
                &raw.jails,
                &h,
                &addresses,
                &Pulls {
                    issuer: name == issuer,
                    sites: &pulled,
                    csr: services.iter().any(|v| v.csr && v.host == name),
                    pull_when: &pull_when,
                    csr_when: &csr_when,
                },
            )?;
            let site_raw = RawSite {
                site: h.name.clone(),
                data: raw.data.clone(),
                config: raw.config.clone(),
                jail_root: raw.jail_root.clone(),
                bindir: raw.bindir.clone(),
                mailto: raw.mailto.clone(),
                templates: None,
                repo: raw.repo.clone(),
                jails,
            };
            let jails = Site::from_raw(src, site_raw).map_err(Error::config)?;
            hosts.push(Host {
                at_name: line(h.name.span()),
                name,
                site,
                addresses,
                jails,
            });
        }
        let tsig = match raw.tsig {
            None => None,
            Some(t) => {
                raw::plain(&t.name, "tsig.name", src).map_err(Error::config)?;
                raw::plain(&t.file, "tsig.file", src).map_err(Error::config)?;
                if !Path::new(t.file.get_ref()).is_absolute() {
                    return Err(err(
                        t.file.span(),
                        "tsig.file",
                        "an absolute path: nsd and certdrop-zone read it in their jails",
                    ));
                }
                Some(Tsig {
                    name: t.name.into_inner(),
                    file: t.file.into_inner(),
                })
            }
        };
        let zones = raw
            .zones
            .unwrap_or_else(|| Spanned::new(raw.signing.span(), Vec::new()));
        for z in zones.get_ref() {
            raw::plain(&Spanned::new(zones.span(), z.clone()), "zones", src)
                .map_err(Error::config)?;
        }
        Ok(Cluster {
            path: src.path.to_path_buf(),
            name: raw.cluster.into_inner(),
            signing,
            issuer,
            at_zones: line(zones.span()),
            zones: zones.into_inner(),
            tsig,
            dns_port: raw.dns_port.unwrap_or(53),
            timeout: transport.timeout.unwrap_or_else(|| DEFAULT_TIMEOUT.into()),
            publish_key,
            publish_principal,
            sites,
            hosts,
            services,
            at: At {
                signing: line(raw.signing.span()),
            },
        })
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The site named `name`.
    pub fn site(&self, name: &str) -> Option<&ClusterSite> {
        self.sites.iter().find(|s| s.name == name)
    }

    /// The primary nsd: the signing site's first host with a zone jail.
    pub fn primary(&self) -> Option<&Host> {
        self.hosts
            .iter()
            .find(|h| h.site == self.signing && h.jail(Stage::Zone).is_some())
    }

    /// The nsd secondaries: the hosts with a zone jail of every site that
    /// says `secondary = true`.
    pub fn secondaries(&self) -> Vec<&Host> {
        self.hosts
            .iter()
            .filter(|h| self.site(&h.site).is_some_and(|s| s.secondary))
            .filter(|h| h.jail(Stage::Zone).is_some())
            .collect()
    }

    /// The sites whose outboxes the issuer pulls: those with a csr line.
    pub fn pulled(&self) -> Vec<&ClusterSite> {
        self.sites
            .iter()
            .filter(|s| self.services.iter().any(|v| v.csr && v.site == s.name))
            .collect()
    }
}

/// What the cluster adds to a host's crontabs.
struct Pulls<'a> {
    /// The host is the issuer's: it pulls the outboxes of `sites`.
    issuer: bool,
    sites: &'a [String],
    /// It makes keys and CSRs for csr lines.
    csr: bool,
    pull_when: &'a Spanned<String>,
    csr_when: &'a Spanned<String>,
}

/// A host's jails from its set: `{address}` in `ip4` made the host's
/// first IPv4 address, and the cluster's crontab entries added to the
/// first jail of their stage (the pulls to the publish jail, the csr run
/// to the csr jail).
fn host_jails(
    src: &Source,
    sets: &BTreeMap<String, Vec<crate::site::RawJail>>,
    h: &raw::RawHost,
    addresses: &[IpAddr],
    pulls: &Pulls,
) -> certdrop_core::error::Result<Vec<crate::site::RawJail>> {
    let name = h.name.get_ref();
    let err =
        |span: std::ops::Range<usize>, key: &str, why: &str| Error::config(src.err(span, key, why));
    let mut jails = sets.get(h.jails.get_ref()).cloned().unwrap_or_default();
    let v4 = addresses.iter().find(|a| a.is_ipv4());
    for j in &mut jails {
        if let Some(ip4) = &mut j.ip4 {
            if ip4.get_ref().contains("{address}") {
                let Some(a) = v4 else {
                    return Err(err(
                        ip4.span(),
                        &format!("host '{name}': jail '{}': ip4", j.name.get_ref()),
                        "{address} but the host has no IPv4 address",
                    ));
                };
                *ip4 = Spanned::new(
                    ip4.span(),
                    ip4.get_ref().replace("{address}", &a.to_string()),
                );
            }
        }
    }
    // The pulls and the csr run, in the first jail of their stage.
    let cron = |when: &Spanned<String>, run: String| RawCron {
        when: when.clone(),
        run: Spanned::new(when.span(), run),
    };
    if let Some(j) = jails
        .iter_mut()
        .find(|j| j.stages.get_ref().contains(&Stage::Publish))
    {
        if pulls.issuer {
            for s in pulls.sites {
                j.cron.push(cron(
                    pulls.pull_when,
                    format!("certdrop-publish -c {{config}}/pull-{s}.toml pull"),
                ));
            }
        } else {
            j.cron.push(cron(
                pulls.pull_when,
                "certdrop-publish -c {config}/pull.toml pull".into(),
            ));
        }
    }
    if pulls.csr {
        if let Some(j) = jails
            .iter_mut()
            .find(|j| j.stages.get_ref().contains(&Stage::Csr))
        {
            j.cron.push(cron(
                pulls.csr_when,
                "certdrop-trigger -c {config}/trigger.toml csr".into(),
            ));
        }
    }
    Ok(jails)
}
