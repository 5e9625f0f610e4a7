//! The build's steps as separate commands, for make (zonebuild/): each
//! reads what the previous one wrote and writes its output only when it
//! changed, so make's timestamps rebuild only what changed — the
//! Makefile of seed 003 (`cat soa primary extra > unsigned`, then sign),
//! with every step checked.
//!
//! ```text
//! certdrop-zone fragments --origin Z dnsextra/ > extra/Z.acme
//! certdrop-zone tlsa --origin Z --map tlsa.map --certs certs/ > extra/Z.tlsa
//! certdrop-zone sshfp --origin Z phonehome/ > extra/Z.sshfp
//! certdrop-zone assemble Z extra/Z.*      -> unsigned/Z (serial bumped on change)
//! certdrop-zone sign Z                    -> signed/Z (verified)
//! certdrop-zone install Z                 -> <install>/Z.zone, nsd reloaded
//! ```

use std::path::PathBuf;

use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Outcome;
use certdrop_core::output::Output;

use crate::assembled::Assembled;
use crate::build;
use crate::config::{Config, Zone};
use crate::masterfile;

/// The zone called `name`.
pub fn zone<'a>(config: &'a Config, name: &str) -> Result<&'a Zone> {
    config
        .zones
        .iter()
        .find(|z| z.name == name.trim_end_matches('.'))
        .ok_or_else(|| Error::usage(format!("{}: no zone named '{name}'", config.path.display())))
}

/// `assemble ZONE PARTS...`: soa + primary from zone.toml, plus the
/// generated parts, checked, to `unsigned/<zone>` when changed.
pub fn assemble(
    config: &Config,
    name: &str,
    parts: &[PathBuf],
    force: bool,
    out: &Output,
) -> Result<Outcome> {
    let zone = zone(config, name)?;
    let mut rrs = build::sources(zone, parts)?;
    if let Some(caa) = &zone.caa {
        crate::caa::check(caa).map_err(|why| build::caa_error(config, zone, &why))?;
        rrs.extend(
            crate::caa::records(&zone.name, caa, zone.ttl)
                .into_iter()
                .map(build::rr_of),
        );
    }
    let cuts = rrs
        .iter()
        .filter(|r| r.rtype == "NS" && r.owner.trim_end_matches('.') != zone.name)
        .map(|r| r.owner.clone())
        .collect();
    crate::persist::below_cut(&zone.persist, &cuts)
        .map_err(|why| build::caa_error(config, zone, &why))?;
    let persist = crate::persist::all(
        &zone.persist,
        config.certs.as_deref(),
        &zone.name,
        zone.ttl,
        |_, line| out.warn(&line),
    );
    rrs.extend(persist.into_iter().map(build::rr_of));
    masterfile::check(&rrs, &zone.name).map_err(|why| build::zone_data(zone, &why))?;
    match build::write_unsigned(
        config,
        zone,
        Assembled::from_records(&zone.name, rrs),
        force,
        false,
    )? {
        Some(serial) => {
            out.action(&format!("zone {}: assembled, serial {serial}", zone.name));
            Ok(Outcome::Changed)
        }
        None => Ok(Outcome::Unchanged),
    }
}

/// `sign ZONE`: `unsigned/<zone>` to `signed/<zone>`, verified.
pub fn sign(config: &Config, name: &str, out: &Output) -> Result<Outcome> {
    let zone = zone(config, name)?;
    // make runs this step every time (signatures expire even when nothing
    // changes): sign only when unsigned/ is newer or the signatures are due.
    let signed = build::signed_path(config, &zone.name);
    let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = matches!(
        (mtime(&signed), mtime(&build::unsigned_path(config, &zone.name))),
        (Some(s), Some(u)) if s >= u
    );
    let st = build::load_state(config, &zone.name)?;
    let due = build::resign_due(config, zone, &st);
    if matches!(
        zone.signer,
        crate::config::Signer::None | crate::config::Signer::Knot(_)
    ) || (fresh && !due)
    {
        return Ok(Outcome::Unchanged);
    }
    if fresh && due {
        // New signatures need a new serial for the secondaries: reassemble
        // what unsigned/ holds (our own output) with the next serial.
        let unsigned = build::unsigned_path(config, &zone.name);
        let text = std::fs::read_to_string(&unsigned)
            .map_err(|e| Error::unreadable(&unsigned, "cannot read", &e))?;
        let rrs = masterfile::parse(&text, &zone.name, None, &unsigned.display().to_string())
            .map_err(Error::data)?;
        build::write_unsigned(
            config,
            zone,
            Assembled::from_records(&zone.name, rrs),
            true,
            false,
        )?;
    }
    let path = build::sign_zone(config, zone)?;
    out.action(&format!(
        "zone {}: signed into {}",
        zone.name,
        path.display()
    ));
    Ok(Outcome::Changed)
}

/// `install ZONE`: the signed (or, without a signer, unsigned) zone into
/// nsd's directory, then reload.
pub fn install(config: &Config, name: &str, out: &Output) -> Result<Outcome> {
    let zone = zone(config, name)?;
    // make runs this step whenever sign wrote no signed/ZONE, which for
    // Knot is always: a zone Knot has already is left alone.
    if matches!(zone.signer, crate::config::Signer::Knot(_))
        && crate::sign::knot::handed_over(config, zone)?
    {
        out.verbose(&format!("zone {}: handed to Knot already", zone.name));
        return Ok(Outcome::Unchanged);
    }
    let from = match zone.signer {
        crate::config::Signer::None | crate::config::Signer::Knot(_) => {
            build::unsigned_path(config, &zone.name)
        }
        crate::config::Signer::Ldns(_) | crate::config::Signer::OpenDnssec(_) => {
            build::signed_path(config, &zone.name)
        }
    };
    let (serial, served) = build::install_zone(config, zone, &from)?;
    out.action(&format!(
        "zone {}: serial {serial} installed and reloaded; {served}",
        zone.name
    ));
    Ok(Outcome::Changed)
}
