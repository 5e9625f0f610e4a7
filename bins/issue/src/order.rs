//! One ACME order for one certificate line (RFC 8555 §7.4), in named steps:
//! open the order, place the challenge files in the drop directories, wait
//! until dns-01 values are visible on every authoritative server, answer
//! the challenges, wait for the CA's verdict (`order/verdict.rs`), finalize
//! with our CSR and download and check the chain (`order/finish.rs`). Every request to the CA goes through the
//! one retry policy (`retry.rs`). Nothing is installed here: the caller
//! commits the result only after [`obtain`] returned a checked certificate.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;

use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Failure;
use certdrop_core::output::Output;
use certdrop_core::store::CertFiles;
use instant_acme::{
    Account, AuthorizationStatus, ChallengeStatus, ChallengeType, Identifier, NewOrder, Order,
    OrderStatus,
};

use crate::config::{Challenge, Config, Line};
use crate::retry::Attempts;
use crate::state::{self, Stage};
use crate::{challenge::ChallengeFiles, propagation};
#[cfg(test)]
use finish::{already_finalized, finalize, is_problem};
use finish::{download, finalize_and_download};
pub use issued::check_issued;
use resume::{resume, Progress};

/// What the certificate must match: the key the CSR carries and the names.
pub struct Request<'a> {
    /// DER CSR sent to finalize.
    pub csr_der: &'a [u8],
    /// SPKI the certificate must carry.
    pub spki: &'a [u8],
    /// The key is the line's next key (`keys/<line>/next/key.pem`),
    /// recorded with the finalized order.
    pub from_next: bool,
}

/// The challenges placed for one order: the files written (removed when
/// this is dropped), the TXT values by owner name, the identifiers whose
/// challenge must be answered.
struct Placed {
    files: ChallengeFiles,
    txt: BTreeMap<String, Vec<String>>,
    pending: Vec<String>,
    /// The identifiers among `pending` answered over dns-persist-01.
    persist: Vec<crate::persist::Relied>,
}

/// Obtain a checked certificate for `line` from the CA: continue the
/// order in progress, or place a new one. With `only_resume` (the line is
/// not due, it only has an order in progress) `None` says there was
/// nothing left to continue.
pub async fn obtain(
    config: &Config,
    account: &Account,
    line: &Line,
    req: &Request<'_>,
    only_resume: bool,
    out: &Output,
) -> Result<Option<CertFiles>> {
    if line.alias.is_some() && config.dns.check {
        propagation::check_aliases(config, line, out).await?;
    }
    let progress = Progress {
        config,
        line,
        from_next: req.from_next,
        refused: std::sync::atomic::AtomicBool::new(false),
    };
    let mut order = match resume(config, account, line, out).await? {
        Some(order) => order,
        None if only_resume => return Ok(None),
        None => {
            let order = open(config, account, line, out).await?;
            progress.set(&order, Stage::Placed)?;
            order
        }
    };
    let mut result = advance(config, account.id(), line, &mut order, req, &progress, out).await;
    if progress
        .refused
        .swap(false, std::sync::atomic::Ordering::Relaxed)
        && result.is_err()
    {
        // The CA ended the order over dns-persist-01 records it refused:
        // they are not relied on now, so a new order at once gets the
        // line's own challenge instead of a failed run and its back-off.
        if let Err(e) = &result {
            out.verbose(&format!(
                "{}: {}; a new order at once with {}",
                line.name,
                e.msg,
                challenge_name(line.challenge)
            ));
        }
        state::save_order(&config.state, &line.name, None)?;
        order = open(config, account, line, out).await?;
        progress.set(&order, Stage::Placed)?;
        result = advance(config, account.id(), line, &mut order, req, &progress, out).await;
    }
    let ended = match &result {
        // The CA ended the order, or issued a certificate we refuse (a
        // resumed order finalized with a key the line no longer uses):
        // the next run places a new one.
        Err(e) => order.state().status == OrderStatus::Invalid || e.class == Failure::Data,
        Ok(_) => false,
    };
    if ended {
        state::save_order(&config.state, &line.name, None)?;
    }
    result.map(Some)
}

/// Take `order` from where the CA has it to a checked certificate,
/// recording each step before its request.
async fn advance(
    config: &Config,
    account: &str,
    line: &Line,
    order: &mut Order,
    req: &Request<'_>,
    progress: &Progress<'_>,
    out: &Output,
) -> Result<CertFiles> {
    let status = order.state().status;
    if status != OrderStatus::Pending {
        // The CA has decided the challenges: the files an earlier run
        // left for them (kept while the order was in progress) go.
        ChallengeFiles::new(journal(config, line)).remove_all()?;
    }
    if status == OrderStatus::Pending {
        let placed = place(config, account, line, order, out).await?;
        wait_visible(config, line, &placed.txt, out).await?;
        progress.set(order, Stage::Answered)?;
        answer(line, order, &placed.pending, &placed.persist, out).await?;
        verdict::validated(config, line, order, placed, &progress.refused, out).await?;
    }
    if matches!(status, OrderStatus::Pending | OrderStatus::Ready) {
        progress.set(order, Stage::Finalized)?;
        finalize_and_download(config, line, order, req, out).await
    } else {
        download(config, line, order, req, None, out).await
    }
}

/// The journal of a line's challenge files (`state/challenges/<line>`).
fn journal(config: &Config, line: &Line) -> std::path::PathBuf {
    config
        .state
        .join(crate::challenge::JOURNALS)
        .join(&line.name)
}

/// The ACME challenge type a line uses.
fn wanted(line: &Line) -> ChallengeType {
    match line.challenge {
        Challenge::Dns01 => ChallengeType::Dns01,
        Challenge::Http01 => ChallengeType::Http01,
    }
}

/// A new order for the line's names (RFC 8555 §7.4), with the line's
/// profile, and naming the certificate it replaces (RFC 9773 §5) so that
/// the CA can exempt a renewal from its rate limits. A CA that will not
/// take `replaces` for it (`alreadyReplaced`, a 400 naming the field, no
/// ARI at all, an answer that does not reflect it) gets the order without
/// it: the renewal matters, the exemption does not.
async fn open(config: &Config, account: &Account, line: &Line, out: &Output) -> Result<Order> {
    let replaces = match config.ari {
        true => crate::ari::cert_id(config, line),
        false => None,
    };
    open_replacing(account, line, replaces, out).await
}

/// [`open`] with the certificate it replaces given (None: a first one).
async fn open_replacing(
    account: &Account,
    line: &Line,
    mut replaces: Option<instant_acme::CertificateIdentifier<'static>>,
    out: &Output,
) -> Result<Order> {
    let identifiers: Vec<Identifier> = line.domains.iter().map(|d| identifier(d)).collect();
    let what = format!("{}: new order", line.name);
    let mut attempts = Attempts::new(&what, out);
    loop {
        let mut new = NewOrder::new(&identifiers);
        if let Some(p) = &line.profile {
            new = new.profile(p);
        }
        if let Some(id) = &replaces {
            new = new.replaces(id.clone());
        }
        match account.new_order(&new).await {
            Ok(order) => {
                let noted = match (&line.profile, &replaces) {
                    (Some(p), Some(id)) => format!(" (profile {p}, replaces {id})"),
                    (Some(p), None) => format!(" (profile {p})"),
                    (None, Some(id)) => format!(" (replaces {id})"),
                    (None, None) => String::new(),
                };
                out.verbose(&format!("{what}: {}{noted}", order.url()));
                return Ok(order);
            }
            Err(e) if replaces.is_some() && crate::ari::refuses_replaces(&e) => {
                out.verbose(&format!(
                    "{what}: the CA does not take replaces {}: {}; ordering without it",
                    replaces.take().expect("checked"),
                    crate::acme::describe(&e)
                ));
            }
            Err(e) => attempts.wait_after(&e).await?,
        }
    }
}

/// The ACME identifier of a configured name: an IP address is of type
/// `ip` (RFC 8738 §3), anything else of type `dns`.
fn identifier(name: &str) -> Identifier {
    match certdrop_core::name::ip(name) {
        Some(addr) => Identifier::Ip(addr),
        None => Identifier::Dns(name.to_owned()),
    }
}

/// Write a challenge file for every pending authorization (RFC 8555 §8.3,
/// §8.4). A transient fault while walking the authorizations walks them
/// again; the ones already placed are skipped.
async fn place(
    config: &Config,
    account: &str,
    line: &Line,
    order: &mut Order,
    out: &Output,
) -> Result<Placed> {
    let subject = line.name.as_str();
    let mut placed = Placed {
        files: ChallengeFiles::new(journal(config, line)),
        txt: BTreeMap::new(),
        pending: Vec::new(),
        persist: Vec::new(),
    };
    let mut attempts = Attempts::new(&format!("{subject}: authorizations"), out);
    // Whether any authorization offered dns-persist-01.
    let mut offered = false;
    loop {
        let mut authzs = order.authorizations();
        let mut failed = None;
        while let Some(next) = authzs.next().await {
            let mut authz = match next {
                Ok(a) => a,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            let ident = authz.identifier().to_string();
            match authz.status {
                AuthorizationStatus::Valid => {
                    out.verbose(&format!("{subject}: {ident}: already authorized"));
                    continue;
                }
                AuthorizationStatus::Pending => {}
                other => {
                    return Err(Error::temp(format!(
                        "{subject}: {ident}: authorization is {other:?}"
                    )))
                }
            }
            if placed.pending.contains(&ident) {
                continue;
            }
            // dns-persist-01 first, where the CA offers it and our
            // standing record is served: nothing to write.
            let persist_url = authz
                .challenges
                .iter()
                .find(|c| c.r#type == crate::persist::challenge_type())
                .map(|c| c.url.clone());
            let fallback = challenge_name(line.challenge);
            offered |= persist_url.is_some();
            match persist_url {
                Some(url) => {
                    match crate::persist::usable(config, line, account, &ident, &url).await {
                        Ok((why, relied)) => {
                            out.verbose(&format!(
                                "{subject}: {ident}: challenge dns-persist-01: {why}"
                            ));
                            placed.persist.push(relied);
                            placed.pending.push(ident);
                            attempts.progress();
                            continue;
                        }
                        Err(why) => out.verbose(&format!(
                            "{subject}: {ident}: challenge {fallback}: dns-persist-01 not used: {why}"
                        )),
                    }
                }
                None if line.persist => out.verbose(&format!(
                    "{subject}: {ident}: challenge {fallback}: the CA offers no dns-persist-01"
                )),
                None => {}
            }
            let Some(ch) = authz.challenge(wanted(line)) else {
                return Err(Error::data(format!(
                    "{subject}: {ident}: the CA offers no {} challenge",
                    challenge_name(line.challenge)
                )));
            };
            let key_auth = ch.key_authorization();
            match line.challenge {
                Challenge::Dns01 => {
                    let dir = config.dnsextra.as_deref().expect("checked in config");
                    let owner = line.challenge_target(&ident);
                    let value = key_auth.dns_value();
                    placed.files.add_fragment(dir, &owner, config.ttl, &value)?;
                    out.verbose(&format!("{subject}: {ident}: TXT {owner} written"));
                    placed.txt.entry(owner).or_default().push(value);
                }
                Challenge::Http01 => {
                    let dir = config.webroot.as_deref().expect("checked in config");
                    placed.files.add_token(dir, &ch.token, key_auth.as_str())?;
                    out.verbose(&format!("{subject}: {ident}: token {} written", ch.token));
                }
            }
            placed.pending.push(ident);
            attempts.progress();
        }
        match failed {
            None => {
                if !offered && !placed.pending.is_empty() {
                    // The CA stopped offering it: status must not say
                    // renewals go without DNS changes. A failure to
                    // forget must not stop the order.
                    if let Err(e) = crate::persist::forget_issuers(config) {
                        out.debug(&e.msg);
                    }
                }
                // After the last fragment, so a watching zone compiler
                // builds them all in one version, at once.
                if !placed.txt.is_empty() {
                    let dir = config.dnsextra.as_deref().expect("checked in config");
                    placed.files.mark_complete(dir, subject)?;
                }
                return Ok(placed);
            }
            Some(e) => {
                out.debug(&format!(
                    "{subject}: fetching authorizations: {}",
                    crate::acme::describe(&e)
                ));
                attempts.wait_after(&e).await?;
            }
        }
    }
}

/// Before telling the CA: every dns-01 value visible on every
/// authoritative server (asked directly, no fixed sleep).
async fn wait_visible(
    config: &Config,
    line: &Line,
    txt: &BTreeMap<String, Vec<String>>,
    out: &Output,
) -> Result<()> {
    if line.challenge != Challenge::Dns01 || !config.dns.check {
        return Ok(());
    }
    for (owner, values) in txt {
        let (servers, gaps): (Vec<SocketAddr>, _) =
            propagation::servers_and_gaps(config, owner).await?;
        if !gaps.is_empty() {
            out.verbose(&format!(
                "{}: {owner}: name server(s) with no address found, not asked: {}",
                line.name,
                gaps.join(", ")
            ));
        }
        let took = propagation::wait_visible(config, &servers, owner, values)
            .await
            .map_err(|e| e.context(&line.name))?;
        out.verbose(&format!(
            "{}: {owner}: {} value(s) visible on {} server(s) after {} ms",
            line.name,
            values.len(),
            servers.len(),
            took.as_millis()
        ));
    }
    Ok(())
}

/// Tell the CA each pending challenge is ready, once each (RFC 8555
/// §7.5.1). A transient fault walks the authorizations again, skipping
/// the challenges already answered. A walk after a failure fetches each
/// authorization anew: a challenge the CA no longer has `pending` got our
/// answer although its reply was lost (the CA refuses the repeat with
/// "Cannot update challenge with status valid, only status pending"), so
/// it counts as answered and the refusal is no failure.
async fn answer(
    line: &Line,
    order: &mut Order,
    pending: &[String],
    persist: &[crate::persist::Relied],
    out: &Output,
) -> Result<()> {
    let mut answered: HashSet<String> = HashSet::new();
    let mut attempts = Attempts::new(&format!("{}: answer challenge", line.name), out);
    // The answer the CA refused: given up if the challenge is still pending.
    let mut refused: Option<(String, instant_acme::Error)> = None;
    let mut fresh = false;
    while answered.len() < pending.len() {
        let mut error = None;
        let mut authzs = order.authorizations();
        while let Some(next) = authzs.next().await {
            let mut authz = match next {
                Ok(a) => a,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            };
            let ident = authz.identifier().to_string();
            if !pending.contains(&ident) || answered.contains(&ident) {
                continue;
            }
            if fresh {
                if let Err(e) = authz.refresh().await {
                    error = Some(e);
                    break;
                }
            }
            let (kind, name) = match persist.iter().any(|p| p.ident == ident) {
                true => (crate::persist::challenge_type(), crate::persist::CHALLENGE),
                false => (wanted(line), challenge_name(line.challenge)),
            };
            // Present when the challenge was placed; a CA may still drop
            // it from the authorization it sends now.
            let Some(mut ch) = authz.challenge(kind) else {
                return Err(dropped(&line.name, &ident, name));
            };
            if ch.status != ChallengeStatus::Pending {
                out.verbose(&format!(
                    "{}: {ident}: the CA has the challenge {:?} already (an answer was lost): going on",
                    line.name, ch.status
                ));
                answered.insert(ident);
                attempts.progress();
                continue;
            }
            if let Some((was, e)) = refused.take() {
                if was == ident {
                    return Err(crate::acme::error(
                        &format!("{}: answer challenge", line.name),
                        &e,
                    ));
                }
                refused = Some((was, e));
            }
            match ch.set_ready().await {
                Ok(()) => {
                    answered.insert(ident);
                    attempts.progress();
                }
                Err(e) if !crate::acme::is_transient(&e) => {
                    // Perhaps a repeat of an answer whose reply was lost:
                    // the next walk looks at the challenge again.
                    refused = Some((ident, e));
                    break;
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        fresh = true;
        if let Some(e) = error {
            attempts.wait_after(&e).await?;
        }
    }
    Ok(())
}

/// The error when the challenge chosen for `ident` is gone from its
/// authorization: bad data from the CA (the order is not continued).
fn dropped(subject: &str, ident: &str, challenge: &str) -> Error {
    Error::data(format!(
        "{subject}: {ident}: answer challenge: the CA no longer offers the {challenge} challenge chosen for it"
    ))
}

fn challenge_name(c: Challenge) -> &'static str {
    match c {
        Challenge::Dns01 => "dns-01",
        Challenge::Http01 => "http-01",
    }
}

mod finish;
mod issued;
mod resume;
#[cfg(test)]
mod tests;
mod verdict;
