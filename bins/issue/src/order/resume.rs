//! A line's order in progress (RFC 8555 §7.4): where it is kept between
//! runs (`state/<line>.json`, written before each request that moves the
//! order on) and how a run takes it up again instead of placing a second
//! order.

use certdrop_core::atomic::Durability;
use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Failure;
use certdrop_core::output::Output;
use instant_acme::{Account, Order, OrderStatus};

use crate::config::{Config, Line};
use crate::lifecycle;
use crate::state::{self, OrderProgress, Stage};

/// Where a line's order in progress is kept: its state file.
pub(super) struct Progress<'a> {
    pub(super) config: &'a Config,
    pub(super) line: &'a Line,
    /// The order is finalized with the line's next key.
    pub(super) from_next: bool,
    /// The CA refused dns-persist-01 records this order relied on
    /// (`verdict.rs`): a new order at once may use the line's own
    /// challenge.
    pub(super) refused: std::sync::atomic::AtomicBool,
}

impl Progress<'_> {
    /// Record that `order` is at `stage`, before the request. A process
    /// killed at any point finds it (the file is renamed into place). Only
    /// `finalized` is fsynced: after a power loss, an order still `placed`
    /// or `answered` that the state lost is replaced by a new one and
    /// expires at the CA unissued, but a finalized one may have a
    /// certificate, which is never abandoned (nor issued twice).
    pub(super) fn set(&self, order: &Order, stage: Stage) -> Result<()> {
        let state_dir = &self.config.state;
        state::save_order_with(
            state_dir,
            &self.line.name,
            Some(OrderProgress {
                url: order.url().to_owned(),
                stage,
                next_key: stage == Stage::Finalized && self.from_next,
                ca: self.config.ca_in_use.clone(),
            }),
            Durability::Whole,
        )?;
        if stage != Stage::Finalized {
            return Ok(());
        }
        // fsynced (file and directory) before the CSR goes, in a pass
        // shared with the other lines finalizing now (syncer.rs).
        let paths = vec![state::path(state_dir, &self.line.name), state_dir.clone()];
        crate::syncer::blocking(|| crate::syncer::sync(paths))
            .map_err(|e| Error::io(state_dir, "sync order progress", &e))
    }
}

/// Continue the line's order in progress, if it has one the CA can still
/// complete (RFC 8555 §7.1.6: `pending`, `ready`, `processing`, `valid`).
/// One the CA ended (`invalid`, expired, gone: refused with a problem no
/// retry fixes) is forgotten and `None` returned: a new order is placed.
/// A transient fault fetching it keeps it for the next run.
pub(super) async fn resume(
    config: &Config,
    account: &Account,
    line: &Line,
    out: &Output,
) -> Result<Option<Order>> {
    let Some(kept) = state::load(&config.state, &line.name)?.order else {
        return Ok(None);
    };
    // An order another CA made (its CA failed this run, or the
    // configuration changed) is not this CA's to continue.
    if kept.ca != config.ca_in_use {
        out.verbose(&format!(
            "{}: order in progress {} was placed at another CA: dropped",
            line.name, kept.url
        ));
        state::save_order(&config.state, &line.name, None)?;
        return Ok(None);
    }
    let what = format!("{}: fetch order {}", line.name, kept.url);
    let fetched = crate::retry!(out, &what, account.order(kept.url.clone()));
    let mut order = match fetched {
        Ok(order) => order,
        Err(e) if e.class == Failure::Temporary => return Err(e),
        Err(e) => {
            out.verbose(&format!(
                "{}: order in progress dropped: {}",
                line.name, e.msg
            ));
            state::save_order(&config.state, &line.name, None)?;
            return Ok(None);
        }
    };
    let status = order.state().status;
    if status == OrderStatus::Invalid {
        out.verbose(&format!(
            "{}: order {} ({}) is invalid at the CA: placing a new one",
            line.name,
            kept.url,
            kept.stage.word()
        ));
        state::save_order(&config.state, &line.name, None)?;
        return Ok(None);
    }
    if status == OrderStatus::Valid && installed_already(config, line, &mut order, out).await? {
        out.verbose(&format!(
            "{}: order {} brought the certificate installed already (a run ended before it noted that): forgotten",
            line.name, kept.url
        ));
        state::save_order(&config.state, &line.name, None)?;
        return Ok(None);
    }
    out.verbose(&format!(
        "{}: resuming order {} ({}, {status:?} at the CA)",
        line.name,
        kept.url,
        kept.stage.word()
    ));
    Ok(Some(order))
}

/// Is the certificate of a valid order the one the line has installed? A
/// run killed between installing it and clearing the order in its state
/// leaves such an order behind; taking it up again would install the same
/// certificate a second time instead of the new one the run is for.
async fn installed_already(
    config: &Config,
    line: &Line,
    order: &mut Order,
    out: &Output,
) -> Result<bool> {
    let Some(current) = lifecycle::current_cert(config, line)? else {
        return Ok(false);
    };
    let what = format!("{}: download certificate", line.name);
    let pem = crate::retry!(out, &what, async {
        order
            .certificate()
            .await?
            .ok_or(instant_acme::Error::Str("the order has no certificate yet"))
    })?;
    Ok(certdrop_core::certinfo::parse_chain(pem.as_bytes())
        .ok()
        .and_then(|chain| chain.into_iter().next())
        .is_some_and(|leaf| leaf.der == current.der))
}
