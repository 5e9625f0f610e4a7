//! The fragment filter (DESIGN.md, "Drop-directory formats"): every file in
//! `dnsextra/` is checked as a file (regular, not linked, small, owned by
//! the expected writer), then parsed alone with the strict grammar of
//! certdrop-core's `fragment` (RFC 1035 §5.1 reduced to the one TXT shape of
//! RFC 8555 §8.4), then placed: its owner must lie in a zone being built or
//! an alias zone. Files are never concatenated. A rejected file is named
//! with its reason and never stops the valid ones beside it.
//!
//! Dot files are never opened: a writer's temporary files, and the
//! issuer's completion markers (`.complete.<line>`, certdrop-core's
//! `fragment::MARKER_PREFIX`), whose name alone tells `watch` to build at
//! once. Past [`DEFAULT_MAX_FILES`] files the rest are not read, and the
//! build says how many in one line.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

use certdrop_core::error::Error;
use certdrop_core::fragment::{self, Fragment};
use certdrop_core::name;
use certdrop_core::untrusted::{self, Rules};

use crate::warnings::Warnings;

/// Most values accepted for one owner name (apex + wildcard need two; a
/// few renewals in flight need a few more).
pub const DEFAULT_MAX_VALUES_PER_NAME: usize = 8;
/// Most fragment files read from one directory in one build: a bound on
/// the work a flooded directory costs (at most [`fragment::MAX_FILE`]
/// bytes each), far above what a legitimate cluster writes at once (300
/// certificates renewing the same night, 12 names each, apex and wildcard
/// values: 7,200 files).
pub const DEFAULT_MAX_FILES: usize = 20_000;
// The night above never reaches the cap.
const _: () = assert!(300 * 12 * 2 < DEFAULT_MAX_FILES);

/// What the filter lets through.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Zones being built (lowercase, no trailing dot).
    pub zones: Vec<String>,
    /// Alias zones whose `_acme-challenge` names may also carry values.
    pub alias_zones: Vec<String>,
    /// The only uid allowed to own fragment files, if set.
    pub owner_uid: Option<u32>,
    /// Cap on values per owner name.
    pub max_values_per_name: usize,
    /// Cap on files read.
    pub max_files: usize,
}

impl Policy {
    /// A policy for `zones` with the default caps.
    pub fn new(zones: Vec<String>) -> Policy {
        Policy {
            zones: zones
                .into_iter()
                .map(|z| z.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
            alias_zones: Vec::new(),
            owner_uid: None,
            max_values_per_name: DEFAULT_MAX_VALUES_PER_NAME,
            max_files: DEFAULT_MAX_FILES,
        }
    }

    /// The zone (built or alias) that holds `owner`: the longest match.
    pub fn zone_of(&self, owner: &str) -> Option<&str> {
        self.zones
            .iter()
            .chain(self.alias_zones.iter())
            .filter(|z| name::in_zone(owner, z))
            .max_by_key(|z| z.len())
            .map(String::as_str)
    }
}

/// One refused file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// File name inside the directory.
    pub file: String,
    /// Why, in a few words.
    pub reason: String,
}

/// The filter's result.
#[derive(Debug, Default)]
pub struct Filtered {
    /// Accepted records, sorted by owner and value, without duplicates.
    pub records: Vec<Fragment>,
    /// Refused files, in name order.
    pub rejected: Vec<Rejected>,
    /// Dot files (a writer's temporary files), skipped silently.
    pub in_progress: usize,
    /// Completion markers among the dot files, never opened.
    pub markers: usize,
    /// Files left unread past the cap ([`Policy::max_files`]).
    pub not_read: usize,
    /// The cap that applied.
    pub cap: usize,
}

impl Filtered {
    /// The line saying how many files were left unread, if any.
    pub fn cap_line(&self) -> Option<String> {
        (self.not_read > 0).then(|| {
            format!(
                "{} fragments not read: more than the cap of {}",
                self.not_read, self.cap
            )
        })
    }
}

/// Say, in `problems`, how many files of `dir` were left unread past the
/// cap: one line, in a group of its own so the rejections never hide it.
pub fn report_cap(f: &Filtered, dir: &Path, problems: &mut Warnings) {
    if let Some(line) = f.cap_line() {
        let dir = dir.display().to_string();
        problems.push(&format!("{dir} (cap)"), format!("{dir}: {line}"));
    }
}

/// Filter every file in `dir`. Only an unreadable directory is an error.
pub fn filter_dir(dir: &Path, policy: &Policy) -> Result<Filtered, Error> {
    let mut names: Vec<String> = Vec::new();
    let mut out = Filtered {
        cap: policy.max_files,
        ..Filtered::default()
    };
    let unreadable = |e: &io::Error| Error::unreadable(dir, "cannot read", e);
    for entry in std::fs::read_dir(dir).map_err(|e| unreadable(&e))? {
        let entry = entry.map_err(|e| unreadable(&e))?;
        match entry.file_name().into_string() {
            Ok(n) => names.push(n),
            Err(raw) => out.rejected.push(Rejected {
                file: raw.as_encoded_bytes().escape_ascii().to_string(),
                reason: "file name is not UTF-8".into(),
            }),
        }
    }
    names.sort();
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = 0usize;
    for file in names {
        // Dot files are a writer's temporary files (or placeholders):
        // never read, never published.
        // A completion marker is one too: its name is its whole message
        // (to `watch`), so a hostile one (a FIFO, a link, a big file) is
        // as harmless as any other dot file.
        if file.starts_with('.') {
            out.in_progress += 1;
            out.markers += usize::from(fragment::is_marker(&file));
            continue;
        }
        // Counted, not named one by one: a flood past the cap is one line.
        if files >= policy.max_files {
            out.not_read += 1;
            continue;
        }
        let reject = |reason: String| Rejected {
            file: file.clone(),
            reason,
        };
        files += 1;
        let text = match read_checked(&dir.join(&file), policy.owner_uid) {
            Ok(t) => t,
            Err(reason) => {
                out.rejected.push(reject(reason));
                continue;
            }
        };
        let records = match fragment::parse_file(&text) {
            Ok(r) => r,
            Err(reason) => {
                out.rejected.push(reject(reason));
                continue;
            }
        };
        if let Some(f) = records.iter().find(|f| policy.zone_of(&f.owner).is_none()) {
            out.rejected.push(reject(format!(
                "owner {} is outside the zones built here",
                f.owner
            )));
            continue;
        }
        let over = records.iter().find(|f| {
            let have = seen
                .get(&f.owner)
                .map_or(0, |s| s.len() + usize::from(!s.contains(&f.value)));
            have > policy.max_values_per_name
        });
        if let Some(f) = over {
            out.rejected.push(reject(format!(
                "more than {} values for {}",
                policy.max_values_per_name, f.owner
            )));
            continue;
        }
        for f in records {
            if seen
                .entry(f.owner.clone())
                .or_default()
                .insert(f.value.clone())
            {
                out.records.push(f);
            }
        }
    }
    out.records
        .sort_by(|a, b| (&a.owner, &a.value).cmp(&(&b.owner, &b.value)));
    // Names and reasons are printed: one line each, whatever a hostile
    // name holds (a newline would forge a line of the log).
    for r in &mut out.rejected {
        r.file = one_line(&r.file);
        r.reason = one_line(&r.reason);
    }
    Ok(out)
}

/// `text` with control characters escaped (`\n`), for a message line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect()
}

/// Read a fragment file through the one reader of untrusted files, with
/// the fragment rules: a regular file (never a symlink, FIFO or device),
/// one link, at most [`fragment::MAX_FILE`] bytes, owned by the writer.
fn read_checked(path: &Path, owner_uid: Option<u32>) -> Result<String, String> {
    let rules = Rules::new(fragment::MAX_FILE as u64)
        .one_link()
        .owner(owner_uid);
    untrusted::read_text(path, &rules).map_err(|why| why.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "xKyfkr_Vt1jySkWEasJE_mI7IEkKQ-CnJIrVTqcldVA";

    #[test]
    fn files_past_the_cap_are_counted_not_read_and_markers_never_opened() {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..7 {
            let text = format!("_acme-challenge.h{i}.example.test. 60 IN TXT \"{V}\"\n");
            std::fs::write(dir.path().join(format!("f{i}")), text).expect("fragment");
        }
        // A marker that would be refused as a fragment (a directory) is
        // neither read nor refused.
        std::fs::create_dir(dir.path().join(fragment::marker_name("www"))).expect("marker");
        let mut policy = Policy::new(vec!["example.test".into()]);
        policy.max_files = 5;
        let f = filter_dir(dir.path(), &policy).expect("filter");
        assert_eq!(f.records.len(), 5);
        assert!(f.rejected.is_empty(), "{:?}", f.rejected);
        assert_eq!((f.not_read, f.markers, f.in_progress), (2, 1, 1));
        assert_eq!(
            f.cap_line().as_deref(),
            Some("2 fragments not read: more than the cap of 5")
        );
        policy.max_files = DEFAULT_MAX_FILES;
        let f = filter_dir(dir.path(), &policy).expect("filter");
        assert_eq!((f.records.len(), f.not_read), (7, 0));
        assert_eq!(f.cap_line(), None);
    }
}
