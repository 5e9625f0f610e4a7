//! The end of an order: our CSR sent (once, even when its answer was
//! lost), the certificate waited for within the line's validation budget
//! and the CA's Retry-After, downloaded, its chain chosen and checked
//! against the request (`issued.rs`).

use std::time::{Duration, Instant, SystemTime};

use certdrop_core::error::{Error, Result};
use certdrop_core::output::Output;
use certdrop_core::store::CertFiles;
use instant_acme::{Order, OrderStatus};

use super::{check_issued, Request};
use crate::client;
use crate::config::{Config, Line};
use crate::retry::{self, Attempts};

/// Send our CSR (RFC 8555 §7.4), wait for the certificate, download it and
/// check it against the request.
pub(super) async fn finalize_and_download(
    config: &Config,
    line: &Line,
    order: &mut Order,
    req: &Request<'_>,
    out: &Output,
) -> Result<CertFiles> {
    let finalize_url = order.state().finalize.clone();
    finalize(line, order, req, out).await?;
    let asked = client::take_poll_after(&finalize_url).or(client::take_poll_after(order.url()));
    download(config, line, order, req, asked, out).await
}

/// Wait for a finalized order's certificate and download it: the order is
/// polled with growing pauses, never before the CA's Retry-After (RFC 8555
/// §7.4), for up to the line's validation budget. A Retry-After past the
/// budget ends the run with 75 and the CA's wait (the order is kept for
/// the next run).
pub(super) async fn download(
    config: &Config,
    line: &Line,
    order: &mut Order,
    req: &Request<'_>,
    mut asked: Option<SystemTime>,
    out: &Output,
) -> Result<CertFiles> {
    let subject = line.name.as_str();
    let budget = config.validation_timeout;
    out.verbose(&format!(
        "{subject}: waiting for the CA to issue {} (up to {} s)",
        order.url(),
        budget.as_secs()
    ));
    let deadline = Instant::now() + budget;
    let mut pause = retry::POLL_FIRST;
    let mut status = order.state().status;
    while status != OrderStatus::Valid {
        if status != OrderStatus::Processing && status != OrderStatus::Ready {
            return Err(Error::temp(format!(
                "{subject}: order {} is {status:?}, not issued",
                order.url()
            )));
        }
        let wait = match asked.take() {
            Some(at) => at
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .max(pause),
            None => pause,
        };
        if Instant::now() + wait > deadline {
            let secs = wait.as_secs().max(1);
            return Err(Error::temp(format!(
                "{subject}: the CA is still processing {} (it asks to wait {secs} s, past the {} s budget)",
                order.url(),
                budget.as_secs()
            ))
            .retry_after(Duration::from_secs(secs)));
        }
        if asked.is_some() || wait > pause {
            out.verbose(&format!(
                "{subject}: the CA is processing {}: looking again in {} ms (its Retry-After)",
                order.url(),
                wait.as_millis()
            ));
        }
        tokio::time::sleep(wait).await;
        pause = pause.mul_f32(retry::POLL_GROWTH).min(retry::POLL_MAX);
        status = crate::retry!(out, &format!("{subject}: fetch order"), async {
            order.refresh().await.map(|s| s.status)
        })?;
        asked = client::take_poll_after(order.url());
    }
    let pem = crate::retry!(out, &format!("{subject}: download certificate"), async {
        order
            .certificate()
            .await?
            .ok_or(instant_acme::Error::Str("the order has no certificate yet"))
    })?;
    let cert_url = order.state().certificate.clone();
    let pem = crate::chains::choose(config, line, cert_url.as_deref(), pem, out).await?;
    check_issued(line, req, pem.as_bytes())
        .map_err(|why| Error::data(format!("{subject}: certificate from the CA refused: {why}")))
}

/// Send the CSR once the CA has it: a transient fault sends it again, and
/// when the CA refuses that with `orderNotReady` the order is fetched: if
/// the CA is already `processing` or has issued (`valid`), the earlier
/// answer was lost on the way and the order goes on to the download, so
/// the CA never issues twice for one run.
pub(super) async fn finalize(
    line: &Line,
    order: &mut Order,
    req: &Request<'_>,
    out: &Output,
) -> Result<()> {
    let what = format!("{}: finalize", line.name);
    let mut attempts = Attempts::new(&what, out);
    loop {
        let refused = match order.finalize_csr(req.csr_der).await {
            Ok(()) => return Ok(()),
            Err(e) if is_problem(&e, "orderNotReady") => e,
            Err(e) => {
                attempts.wait_after(&e).await?;
                continue;
            }
        };
        let status = crate::retry!(out, &format!("{}: fetch order", line.name), async {
            order.refresh().await.map(|s| s.status)
        })?;
        if !already_finalized(status) {
            return Err(crate::acme::error(&what, &refused));
        }
        out.verbose(&format!(
            "{}: finalize: the CA has the order {status:?} already (an answer was lost): going on to the download",
            line.name
        ));
        return Ok(());
    }
}

/// Is `e` the CA's problem document of type `kind` (RFC 8555 §6.7)?
pub(super) fn is_problem(e: &instant_acme::Error, kind: &str) -> bool {
    matches!(e, instant_acme::Error::Api(p)
        if p.r#type.as_deref().and_then(|t| t.rsplit(':').next()) == Some(kind))
}

/// An order the CA has taken our CSR for: finalizing again would be refused
/// (`orderNotReady`); the certificate is on its way or there.
pub(super) fn already_finalized(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Processing | OrderStatus::Valid)
}
