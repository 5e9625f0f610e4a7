//! Warnings about rejected inputs, kept to what a person reads: per
//! directory, the first [`SHOWN_PER_DIR`] lines, then one line with the
//! count of the rest (all of them with -v). A hostile tree of 20,000
//! entries costs six lines, not 20,000, and `watch` says only what changed
//! since its previous build ([`Said`]), not the same lines every round.

use std::collections::HashSet;

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
