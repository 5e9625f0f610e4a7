//! Warnings about rejected inputs, kept to what a person reads: per
//! directory, the first [`SHOWN_PER_DIR`] lines, then one line with the
//! count of the rest (all of them with -v). A hostile tree of 20,000
//! entries costs six lines, not 20,000, and `watch` says only what changed
//! since its previous build ([`Said`]), not the same lines every round.
//! `build` and the make path's filter commands (`fragments`, `tlsa`,
//! `sshfp`) group and word the same entries the same way.

use std::collections::HashSet;
use std::path::Path;

use certdrop_core::output::Output;

/// Lines shown per directory before the rest is counted.
pub const SHOWN_PER_DIR: usize = 5;

/// The warnings of one build, grouped by the directory (or file) they
/// are about, in the order they came.
#[derive(Default)]
pub struct Warnings {
    groups: Vec<(String, Vec<String>)>,
    /// Every line pushed: zones reading the same directory find the same
    /// problems, said once.
    seen: HashSet<String>,
}

/// What the previous build said (its shown and summary lines), so that a
/// repeated build in the same process says only what is new.
#[derive(Default)]
pub struct Said {
    lines: HashSet<String>,
}

impl Warnings {
    /// One warning `line` about an entry of `dir`.
    pub fn push(&mut self, dir: &str, line: String) {
        if !self.seen.insert(line.clone()) {
            return;
        }
        match self.groups.iter_mut().find(|(d, _)| d == dir) {
            Some((_, lines)) => lines.push(line),
            None => self.groups.push((dir.to_owned(), vec![line])),
        }
    }

    /// A dns-01 fragment `file` of `dir` refused for `reason`, under `dir`.
    pub fn fragment(&mut self, dir: &Path, file: &str, reason: &str) {
        let group = dir.display().to_string();
        self.push(&group, format!("{group}/{file}: rejected: {reason}"));
    }

    /// An entry `file` of the host key tree `dir` (`host` or `host/key`)
    /// refused for `why`: under its host directory for a key, under `dir`
    /// for a host, so one crowded host does not hide the others.
    pub fn hostkey(&mut self, dir: &Path, file: &str, why: &str) {
        let group = match file.split_once('/') {
            Some((host, _)) => dir.join(host),
            None => dir.to_path_buf(),
        };
        self.push(
            &group.display().to_string(),
            format!("{file}: rejected: {why}"),
        );
    }

    /// Print the warnings, limited per directory; lines that `said`
    /// holds from the previous build are not printed again. `said` then
    /// holds this build's lines.
    pub fn emit(self, out: &Output, said: &mut Said) {
        let mut now = HashSet::new();
        for (dir, lines) in self.groups {
            let mut shown: Vec<String> = Vec::new();
            for line in lines.iter().take(SHOWN_PER_DIR) {
                shown.push(line.clone());
            }
            let rest = lines.len().saturating_sub(SHOWN_PER_DIR);
            if rest > 0 {
                shown.push(format!(
                    "{dir}: {rest} more rejected entries not shown ({} in all; -v lists them)",
                    lines.len()
                ));
            }
            for line in shown {
                if !said.lines.contains(&line) {
                    out.warn(&line);
                }
                now.insert(line);
            }
            for line in lines.iter().skip(SHOWN_PER_DIR) {
                out.verbose(&format!("warning: {line}"));
            }
        }
        said.lines = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_are_grouped_per_host() {
        let mut w = Warnings::default();
        w.hostkey(Path::new("/ph"), "a.example/k1", "not a key");
        w.hostkey(Path::new("/ph"), "bad name", "not a host name");
        w.fragment(Path::new("/dx"), "f1", "junk");
        let groups: Vec<&str> = w.groups.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(groups, ["/ph/a.example", "/ph", "/dx"]);
        assert_eq!(w.groups[2].1, ["/dx/f1: rejected: junk"]);
    }

    #[test]
    fn groups_keep_their_order_and_lines() {
        let mut w = Warnings::default();
        w.push("a", "a/1".into());
        w.push("b", "b/1".into());
        w.push("a", "a/2".into());
        w.push("a", "a/1".into());
        assert_eq!(
            w.groups,
            vec![
                ("a".to_owned(), vec!["a/1".to_owned(), "a/2".to_owned()]),
                ("b".to_owned(), vec!["b/1".to_owned()])
            ]
        );
    }
}
