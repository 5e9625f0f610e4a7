//! Is a received line newer than the one held? The rollback rule of
//! `pull`: a line whose received manifest is older than the held one is
//! kept as it is. Manifests are compared, not files: the held one was
//! verified when it was installed, and the received one just now.
//!
//! - kind pub: the certificate's notBefore first. Within one second (a
//!   renewal and its replacement can share it) the serial decides only as
//!   `run` decides it (publish.rs, `is_rollback`): serials are random (CA/B
//!   BR 7.1, RFC 5280 4.1.2.2), so their order means nothing, and a
//!   certificate is older exactly when `into` held it before. Otherwise
//!   the publisher's `published` time orders two publications.
//! - kind outbox: `published`, the service site's own clock.
//!
//! Timestamps in both manifests have one fixed shape
//! (`YYYY-MM-DDTHH:MM:SSZ`), so comparing them as text compares them as
//! times.

use std::cmp::Ordering;
use std::path::Path;

use certdrop_core::untrusted::{self, Rules};
use certdrop_core::versions;
use certdrop_manifest::{Manifest, Outbox, MANIFEST};

use crate::verify::{Kind, Received, Signed};

/// How a received line compares with the held one.
#[derive(Debug, PartialEq, Eq)]
pub enum Order {
    /// Nothing held, or the held one is older (or unreadable): install.
    Newer,
    /// The same publication: nothing to do.
    Same,
    /// Older than the held one: keep the held one; the words say why.
    Older(String),
}

/// Compare `recv` with what `into/<line>` holds. `warn` hears about a
/// held manifest that cannot be read (it is then replaced).
pub fn compare(into: &Path, kind: Kind, recv: &Received, warn: &mut dyn FnMut(String)) -> Order {
    let line = &recv.name;
    let held = match held(into, line, kind) {
        Ok(None) => return Order::Newer,
        Ok(Some(h)) => h,
        Err(why) => {
            warn(format!(
                "{line}: held version unreadable, replacing it: {why}"
            ));
            return Order::Newer;
        }
    };
    match (&recv.signed, &held) {
        (Signed::Pub(r), Signed::Pub(h)) => pub_order(into, line, r, h),
        (Signed::Outbox(r), Signed::Outbox(h)) => match r.published.cmp(&h.published) {
            Ordering::Greater => Order::Newer,
            Ordering::Equal => Order::Same,
            Ordering::Less => Order::Older(format!(
                "received outbox of {} is older than the held one of {}",
                r.published, h.published
            )),
        },
        // read() parses the held manifest by `kind`, as the received one.
        _ => Order::Newer,
    }
}

fn pub_order(into: &Path, line: &str, r: &Manifest, h: &Manifest) -> Order {
    let older = || {
        Order::Older(format!(
            "received serial {} (not before {}, published {}) is older than the held serial {} (not before {}, published {})",
            r.serial, r.not_before, r.published, h.serial, h.not_before, h.published
        ))
    };
    match r.not_before.cmp(&h.not_before) {
        Ordering::Greater => return Order::Newer,
        Ordering::Less => return older(),
        Ordering::Equal => {}
    }
    if r.serial != h.serial && held_before(into, line, &r.serial) {
        return older();
    }
    match r.published.cmp(&h.published) {
        Ordering::Greater => Order::Newer,
        Ordering::Less => older(),
        // One second, one certificate: the same publication.
        Ordering::Equal if r.serial == h.serial => Order::Same,
        // One second, two certificates neither held before: take it, as
        // `run` would publish it.
        Ordering::Equal => Order::Newer,
    }
}

/// Whether a version of `line` that `into` showed before the current one
/// held the certificate `serial`. Orphans (a crashed pull's unswitched
/// version) never count: they were never shown.
fn held_before(into: &Path, line: &str, serial: &str) -> bool {
    versions::previous(into, line)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| {
            let dir = into.join(versions::DIR).join(v);
            untrusted::read(&dir.join(MANIFEST), &Rules::default()).ok()
        })
        .filter_map(|text| Manifest::parse(&text).ok())
        .any(|m| m.serial == serial)
}

/// The manifest `into/<line>` shows, parsed as `kind`.
fn held(into: &Path, line: &str, kind: Kind) -> Result<Option<Signed>, String> {
    let Some(dir) = versions::current(into, line).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let text = untrusted::read(&dir.join(MANIFEST), &Rules::default())
        .map_err(|e| format!("{MANIFEST}: {e}"))?;
    match kind {
        Kind::Pub => Manifest::parse(&text).map(Signed::Pub),
        Kind::Outbox => Outbox::parse(&text).map(Signed::Outbox),
    }
    .map(Some)
    .map_err(|e| format!("{MANIFEST}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use certdrop_core::atomic;

    fn m(serial: &str, not_before: &str, published: &str) -> Manifest {
        Manifest {
            line: "www".into(),
            names: vec!["www.example.org".into()],
            serial: serial.into(),
            not_before: not_before.into(),
            not_after: "2027-03-01T00:00:00Z".into(),
            published: published.into(),
            files: vec![("cert.pem".into(), certdrop_manifest::digest(b"x"))],
        }
    }

    const T0: &str = "2026-12-05T10:00:00Z";
    const T1: &str = "2026-12-05T10:00:01Z";

    #[test]
    fn not_before_then_history_then_published() {
        let dir = tempfile::tempdir().expect("tempdir");
        let into = dir.path();
        let older = |o: Order| matches!(o, Order::Older(_));
        // notBefore decides first, whatever was published when.
        assert_eq!(
            pub_order(into, "www", &m("02", T1, T0), &m("01", T0, T1)),
            Order::Newer
        );
        assert!(older(pub_order(
            into,
            "www",
            &m("02", T0, T1),
            &m("01", T1, T0)
        )));
        // The same certificate: the later publication, or the same one.
        assert_eq!(
            pub_order(into, "www", &m("01", T0, T1), &m("01", T0, T0)),
            Order::Newer
        );
        assert_eq!(
            pub_order(into, "www", &m("01", T0, T0), &m("01", T0, T0)),
            Order::Same
        );
        assert!(older(pub_order(
            into,
            "www",
            &m("01", T0, T0),
            &m("01", T0, T1)
        )));
        // Two certificates of one second: published orders them...
        assert!(older(pub_order(
            into,
            "www",
            &m("07", T0, T0),
            &m("01", T0, T1)
        )));
        assert_eq!(
            pub_order(into, "www", &m("07", T0, T0), &m("01", T0, T0)),
            Order::Newer
        );
        // ...unless into showed the received one before the held one.
        for serial in ["07", "01"] {
            let text = m(serial, T0, T0).render();
            versions::install(into, "www", 0o755, 2, |d| {
                atomic::write(&d.join(MANIFEST), text.as_bytes(), 0o644)
            })
            .expect("install");
        }
        assert!(older(pub_order(
            into,
            "www",
            &m("07", T0, T0),
            &m("01", T0, T0)
        )));
        assert_eq!(
            pub_order(into, "www", &m("09", T0, T0), &m("01", T0, T0)),
            Order::Newer
        );
    }
}
