//! A cluster's files, host by host: the host's site files (src/render.rs)
//! and the parts that tie the hosts together, from the built-in templates
//! of jail-templates/cluster/: nsd.conf parts for the primary and each
//! secondary, zone.toml's [xfr], pull.toml files, trigger.toml's
//! [outbox]/[[csr]], allowed_signers files, issue.toml's and
//! publish.toml's lines.

use std::net::IpAddr;
use std::path::PathBuf;

use certdrop_core::error::{Error, Result};
use serde::Serialize;
use tera::{Context, Tera, Value};

use super::{Cluster, ClusterSite, Host, Service, NAMESPACE};
use crate::render::{self, File};
use crate::site::{Jail, Stage};

/// The built-in templates of jail-templates/cluster/.
const TEMPLATES: [(&str, &str); 9] = [
    (
        "nsd-primary.conf",
        include_str!("../../../../jail-templates/cluster/nsd-primary.conf"),
    ),
    (
        "nsd-secondary.conf",
        include_str!("../../../../jail-templates/cluster/nsd-secondary.conf"),
    ),
    (
        "zone-xfr.toml",
        include_str!("../../../../jail-templates/cluster/zone-xfr.toml"),
    ),
    (
        "pull.toml",
        include_str!("../../../../jail-templates/cluster/pull.toml"),
    ),
    (
        "trigger-outbox.toml",
        include_str!("../../../../jail-templates/cluster/trigger-outbox.toml"),
    ),
    (
        "allowed_signers",
        include_str!("../../../../jail-templates/cluster/allowed_signers"),
    ),
    (
        "issue-lines.toml",
        include_str!("../../../../jail-templates/cluster/issue-lines.toml"),
    ),
    (
        "publish-lines.toml",
        include_str!("../../../../jail-templates/cluster/publish-lines.toml"),
    ),
    (
        "tlsa-lines.map",
        include_str!("../../../../jail-templates/cluster/tlsa-lines.map"),
    ),
];

/// A host as the templates see it.
#[derive(Serialize)]
struct Peer {
    name: String,
    site: String,
    /// nsd.conf(5) form: `192.0.2.11` or `192.0.2.11@5353`.
    addresses: Vec<String>,
    /// zone.toml form of the first: `192.0.2.11` or `192.0.2.11:5353`.
    address: String,
}

/// pull.toml's `[pull]` (spec: certdrop-publish pull).
#[derive(Serialize)]
struct Pull {
    kind: &'static str,
    transport: Vec<String>,
    staging: String,
    into: String,
    allowed_signers: String,
    identity: String,
    timeout: String,
}

/// trigger.toml's `[outbox]`.
#[derive(Serialize)]
struct Outbox {
    dir: String,
    keys: String,
    signing_key: String,
}

/// A line of issue.toml or publish.toml.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    service: &'a Service,
    csr: Option<String>,
    key_group: Option<String>,
}

/// Every host's files, each path under `<host>/`.
pub fn render(c: &Cluster) -> Result<Vec<File>> {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    tera.register_filter("toml", toml_value);
    for (name, text) in TEMPLATES {
        tera.add_raw_template(name, text)
            .map_err(|e| Error::config(format!("jail-templates/cluster/{name} (built in): {e}")))?;
    }
    let mut out = Vec::new();
    for h in &c.hosts {
        let dir = PathBuf::from(&h.name);
        for f in render::render(&h.jails)? {
            out.push(File {
                path: dir.join(f.path),
                ..f
            });
        }
        let mut ctx = Context::new();
        ctx.insert("cluster", &serde_json_cluster(c));
        ctx.insert("source", &c.path.display().to_string());
        ctx.insert("host", &peer(c, h));
        ctx.insert("config", &h.jails.current.display().to_string());
        ctx.insert("zones", &c.zones);
        ctx.insert("namespace", NAMESPACE);
        let mut add = |name: &str, template: &str, ctx: &Context| -> Result<()> {
            let text = tera
                .render(template, ctx)
                .map_err(|e| Error::config(format!("template cluster/{template}: {e}")))?;
            out.push(File {
                path: dir.join(name),
                text,
                executable: false,
            });
            Ok(())
        };
        let data = &h.jails.data;
        let current = &h.jails.current;
        if let Some(tsig) = &c.tsig {
            let mut x = ctx.clone();
            x.insert("tsig", &serde_tsig(tsig));
            let secondaries: Vec<Peer> = c.secondaries().iter().map(|s| peer(c, s)).collect();
            let primary = c.primary();
            if primary.is_some_and(|p| p.name == h.name) && !secondaries.is_empty() {
                x.insert("secondaries", &secondaries);
                add("nsd.xfr.conf", "nsd-primary.conf", &x)?;
                add("zone.xfr.toml", "zone-xfr.toml", &x)?;
            } else if let Some(p) = primary.filter(|_| secondaries.iter().any(|s| s.name == h.name))
            {
                x.insert("primary", &peer(c, p));
                add("nsd.xfr.conf", "nsd-secondary.conf", &x)?;
            }
        }
        // pub/ is verified wherever a trigger reads it or a pull fills it.
        if h.jail(Stage::Trigger).is_some() || h.jail(Stage::Publish).is_some() {
            let mut x = ctx.clone();
            x.insert("principal", &c.publish_principal);
            x.insert("key", &c.publish_key);
            x.insert(
                "what",
                "the publication key, the only one that may sign pub/'s manifests",
            );
            add("allowed_signers.pub", "allowed_signers", &x)?;
        }
        let issuer = c.host(&c.issuer);
        if let (Some(p), Some(i)) = (h.jail(Stage::Publish), issuer) {
            if h.name == c.issuer {
                for s in c.pulled() {
                    let Some(from) = csr_host(c, s) else { continue };
                    let mut x = ctx.clone();
                    x.insert("jail", p);
                    let file = format!("pull-{}.toml", s.name);
                    x.insert("file", &file);
                    x.insert(
                        "what",
                        &format!(
                            "the outbox of site '{}' (host {}) into inbox/{}/",
                            s.name, from.name, s.name
                        ),
                    );
                    x.insert(
                        "pull",
                        &Pull {
                            kind: "outbox",
                            transport: transport(
                                s.outbox.as_deref().unwrap_or_default(),
                                from,
                                h,
                                p,
                            ),
                            staging: staging(p, &format!("outbox-{}", s.name)),
                            into: data.join("inbox").join(&s.name).display().to_string(),
                            allowed_signers: current
                                .join(format!("allowed_signers.{}", s.name))
                                .display()
                                .to_string(),
                            identity: format!("outbox@{}", s.name),
                            timeout: c.timeout.clone(),
                        },
                    );
                    add(&file, "pull.toml", &x)?;
                    let mut x = ctx.clone();
                    x.insert("principal", &format!("outbox@{}", s.name));
                    x.insert("key", s.outbox_key.as_deref().unwrap_or_default());
                    x.insert(
                        "what",
                        &format!("the outbox key of site '{}', for its outbox only", s.name),
                    );
                    add(
                        &format!("allowed_signers.{}", s.name),
                        "allowed_signers",
                        &x,
                    )?;
                }
            } else if let Some(site) = c.site(&h.site) {
                let mut x = ctx.clone();
                x.insert("jail", p);
                x.insert("file", "pull.toml");
                x.insert("what", &format!("pub/ from the signing host {}", i.name));
                x.insert(
                    "pull",
                    &Pull {
                        kind: "pub",
                        transport: transport(site.pull.as_deref().unwrap_or_default(), i, h, p),
                        staging: staging(p, "pub"),
                        into: data.join("pub").display().to_string(),
                        allowed_signers: current.join("allowed_signers.pub").display().to_string(),
                        identity: c.publish_principal.clone(),
                        timeout: c.timeout.clone(),
                    },
                );
                add("pull.toml", "pull.toml", &x)?;
            }
        }
        let csr: Vec<&Service> = c
            .services
            .iter()
            .filter(|v| v.csr && v.host == h.name)
            .collect();
        if let (Some(j), false) = (h.jail(Stage::Csr), csr.is_empty()) {
            let mut x = ctx.clone();
            x.insert("jail", j);
            x.insert("services", &csr);
            x.insert(
                "outbox",
                &Outbox {
                    dir: data.join("outbox").display().to_string(),
                    keys: data.join("keys").display().to_string(),
                    signing_key: j.state.join("outbox_ed25519").display().to_string(),
                },
            );
            add("trigger.outbox.toml", "trigger-outbox.toml", &x)?;
        }
        if h.name == c.issuer && !c.services.is_empty() {
            let lines: Vec<Line> = c
                .services
                .iter()
                .map(|v| Line {
                    service: v,
                    csr: v.csr.then(|| {
                        data.join("inbox")
                            .join(&v.site)
                            .join(&v.line)
                            .join("csr.pem")
                            .display()
                            .to_string()
                    }),
                    key_group: (!v.csr)
                        .then(|| h.jails.jails.iter().find(|j| j.keys.contains(&v.line)))
                        .flatten()
                        .map(|j| j.gid.to_string()),
                })
                .collect();
            let mut x = ctx.clone();
            x.insert("lines", &lines);
            // Every authoritative server, as issue.toml's [dns] servers
            // names them: the issuer answers a challenge only when all of
            // them serve the value.
            let servers: Vec<String> = c
                .primary()
                .into_iter()
                .chain(c.secondaries())
                .filter_map(|h| h.addresses.first())
                .map(|a| std::net::SocketAddr::new(*a, c.dns_port).to_string())
                .collect();
            x.insert("dns_servers", &servers);
            add("issue.lines.toml", "issue-lines.toml", &x)?;
            add("publish.lines.toml", "publish-lines.toml", &x)?;
            if c.services.iter().any(|v| !v.tlsa.is_empty()) {
                add("tlsa.lines.map", "tlsa-lines.map", &x)?;
            }
        }
    }
    Ok(out)
}

/// Remove the cluster files an earlier rendering left in a host's
/// directory that this one does not make (a site that left, a host no
/// longer a secondary); returns the paths removed (73 on failure).
pub fn remove_stale(dir: &std::path::Path, files: &[File]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with("pull")
            || name.starts_with("allowed_signers.")
            || [
                "nsd.xfr.conf",
                "zone.xfr.toml",
                "trigger.outbox.toml",
                "issue.lines.toml",
                "publish.lines.toml",
            ]
            .contains(&name.as_str());
        if ours && !files.iter().any(|f| f.path == std::path::Path::new(&name)) {
            let path = e.path();
            certdrop_core::atomic::remove(&path)
                .map_err(|e| Error::cantcreat(&path, "cannot remove", &e))?;
            out.push(path);
        }
    }
    Ok(out)
}

/// The host of a site's csr lines (one per site, by the rules).
fn csr_host<'a>(c: &'a Cluster, s: &ClusterSite) -> Option<&'a Host> {
    c.services
        .iter()
        .find(|v| v.csr && v.site == s.name)
        .and_then(|v| c.host(&v.host))
}

/// A transport's arguments with the remote end filled in (`{address}`,
/// `{host}`, `{site}` of the host pulled from; `{data}` and `{config}` as
/// on every host; `{state}` the pulling jail's, for its ssh key);
/// `{staging}` stays for certdrop-publish.
fn transport(args: &[String], from: &Host, here: &Host, jail: &Jail) -> Vec<String> {
    let address = from
        .addresses
        .first()
        .map(IpAddr::to_string)
        .unwrap_or_default();
    args.iter()
        .map(|a| {
            a.replace("{address}", &address)
                .replace("{host}", &from.name)
                .replace("{site}", &from.site)
                .replace("{data}", &here.jails.data.to_string_lossy())
                .replace("{config}", &here.jails.current.to_string_lossy())
                .replace("{state}", &jail.state.to_string_lossy())
        })
        .collect()
}

/// Where a pull's transport writes: the pulling jail's own state.
fn staging(jail: &Jail, what: &str) -> String {
    jail.state.join("staging").join(what).display().to_string()
}

fn peer(c: &Cluster, h: &Host) -> Peer {
    let nsd = |a: &IpAddr| match c.dns_port {
        53 => a.to_string(),
        p => format!("{a}@{p}"),
    };
    let zone = |a: &IpAddr| match (c.dns_port, a) {
        (53, a) => a.to_string(),
        (p, IpAddr::V6(a)) => format!("[{a}]:{p}"),
        (p, a) => format!("{a}:{p}"),
    };
    Peer {
        name: h.name.clone(),
        site: h.site.clone(),
        addresses: h.addresses.iter().map(nsd).collect(),
        address: h.addresses.first().map(zone).unwrap_or_default(),
    }
}

fn serde_json_cluster(c: &Cluster) -> Value {
    let mut m = tera::Map::new();
    m.insert("name".into(), Value::String(c.name.clone()));
    m.insert("signing".into(), Value::String(c.signing.clone()));
    Value::Object(m)
}

fn serde_tsig(t: &super::Tsig) -> Value {
    let mut m = tera::Map::new();
    m.insert("name".into(), Value::String(t.name.clone()));
    m.insert("file".into(), Value::String(t.file.clone()));
    Value::Object(m)
}

/// `toml`: a value as TOML writes it (a basic string, an array of them).
fn toml_value(v: &Value, _: &std::collections::HashMap<String, Value>) -> tera::Result<Value> {
    fn one(v: &Value) -> String {
        match v {
            Value::String(s) => toml::Value::String(s.clone()).to_string(),
            Value::Array(a) => format!("[{}]", a.iter().map(one).collect::<Vec<_>>().join(", ")),
            other => other.to_string(),
        }
    }
    Ok(Value::String(one(v)))
}
