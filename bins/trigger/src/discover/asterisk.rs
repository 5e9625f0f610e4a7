//! Asterisk's configuration dialect (one parser for its files): the TLS
//! transports of pjsip.conf (`cert_file`, `priv_key_file` in a section
//! of `type = transport`) and chan_sip's sip.conf or the HTTP server's
//! http.conf (`tlscertfile`, `tlsprivatekey`). Read as Asterisk's
//! main/config.c reads it (config_text_file_load, process_text_line), so
//! that what is found here is what Asterisk loads: `;` comments, `\;` a
//! literal semicolon, `;-- ... --;` block comments anywhere in a line and
//! nested; sections copy their templates' settings in the order named
//! (`[transport-tls](tls,ours)`: `ours` over `tls`, the section's own
//! over both) and the last value of a key wins; a template alone is no
//! transport. `#include` is not followed: a definition names the file
//! that holds the TLS settings.

use std::path::PathBuf;

use crate::definition::Pair;

/// config.c's MAX_NESTED_COMMENTS: deeper `;--` are not counted.
const MAX_NESTED_COMMENTS: i32 = 128;

/// One `[section]`: its name, whether it is a template (`(!)`), and its
/// settings in order, its templates' copied in first.
#[derive(Clone, Default)]
struct Section {
    name: String,
    template: bool,
    settings: Vec<(String, String)>,
}

impl Section {
    /// The value of `key`: the last one set, as ast_variable_retrieve
    /// and the modules applying settings in order both have it.
    fn get(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// The block-comment depth carried from line to line.
#[derive(Default)]
struct Comments {
    /// `;--` opened minus `--;` closed. config.c counts a `--;` outside a
    /// comment too, going below zero, after which it reads no line until
    /// a `;--` brings it back to zero: copied, so that we read what it does.
    depth: i32,
}

/// Length of the NUL-terminated string at `from` (as strlen).
fn strlen(buf: &[u8], from: usize) -> usize {
    buf[from..]
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(buf.len() - from)
}

impl Comments {
    /// What of `raw` Asterisk goes on to parse, trimmed; None when the line
    /// is all comment. A transcription of config_text_file_load's loop over
    /// the `;` of a line, on a NUL-terminated copy as there.
    fn strip(&mut self, raw: &str) -> Option<String> {
        let mut buf: Vec<u8> = raw.as_bytes().to_vec();
        buf.push(0);
        let at = |buf: &[u8], i: usize| buf.get(i).copied().unwrap_or(0);
        let mut new = 0;
        let mut process = (self.depth == 0).then_some(0);
        while let Some(p) = {
            let end = new + strlen(&buf, new);
            buf[new..end]
                .iter()
                .position(|&b| b == b';')
                .map(|i| new + i)
        } {
            if p > new && buf[p - 1] == b'\\' {
                // `\;`: the backslash goes, the semicolon stays.
                buf.remove(p - 1);
                new = p;
            } else if at(&buf, p + 1) == b'-' && at(&buf, p + 2) == b'-' && at(&buf, p + 3) != b'-'
            {
                if self.depth < MAX_NESTED_COMMENTS {
                    buf[p] = 0;
                    new = p + 3;
                    self.depth += 1;
                } else {
                    // Asterisk logs "Maximum nest limit" (and looks at the
                    // same `;` again); step over it.
                    new = p + 1;
                }
            } else if p >= new + 2 && buf[p - 1] == b'-' && buf[p - 2] == b'-' {
                self.depth -= 1;
                new = p + 1;
                if self.depth == 0 {
                    match process {
                        // What follows the comment joins what preceded it.
                        Some(start) => {
                            let old = start + strlen(&buf, start);
                            let len = strlen(&buf, new) + 1;
                            buf.copy_within(new..new + len, old);
                            new = old;
                        }
                        None => process = Some(new),
                    }
                }
            } else if self.depth == 0 {
                // A plain `;`: the rest of the line is a comment.
                buf[p] = 0;
                new = p;
            } else {
                new = p + 1;
            }
        }
        let start = process?;
        let line = String::from_utf8_lossy(&buf[start..start + strlen(&buf, start)]);
        let line = line.trim();
        (!line.is_empty()).then(|| line.to_string())
    }
}

/// The sections of `text`. What Asterisk refuses the whole file for (a
/// setting before any section, `[x](+)` or `[x](t)` with no `x` or `t`
/// before it, a header without `]` or `)`) is passed over here, the rest
/// read on.
fn sections(text: &str) -> Vec<Section> {
    let mut all: Vec<Section> = Vec::new();
    let mut current: Option<usize> = None;
    let mut comments = Comments::default();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for raw in text.lines() {
        let Some(line) = comments.strip(raw) else {
            continue;
        };
        if let Some(rest) = line.strip_prefix('[') {
            let Some((name, tail)) = rest.split_once(']') else {
                continue;
            };
            // Options only right after `]`, up to the first `)`, each as
            // written (no spaces trimmed).
            let options = match tail.strip_prefix('(') {
                Some(t) => match t.split_once(')') {
                    Some((opts, _)) => opts.split(',').collect(),
                    None => continue,
                },
                None => Vec::new(),
            };
            current = Some(header(&mut all, name, &options));
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let Some(at) = current else {
            continue;
        };
        setting(&mut all[at].settings, &line);
    }
    all
}

/// A `[name](options)` header: a new section, or with `+` the first one
/// of that name again; templates copied in the order named. Returns the
/// index of the section the following settings go to.
fn header(all: &mut Vec<Section>, name: &str, options: &[&str]) -> usize {
    let mut fresh = Some(Section {
        name: name.to_string(),
        ..Section::default()
    });
    let mut existing: Option<usize> = None;
    for opt in options {
        if opt.eq_ignore_ascii_case("!") {
            match (&mut fresh, existing) {
                (Some(s), _) => s.template = true,
                (None, Some(i)) => all[i].template = true,
                (None, None) => {}
            }
        } else if opt.starts_with('+') {
            // (`+filter` picks among sections of one name; we take the first.)
            if let Some(i) = all.iter().position(|s| s.name.eq_ignore_ascii_case(name)) {
                if let Some(s) = fresh.take() {
                    all[i].template |= s.template;
                    all[i].settings.extend(s.settings);
                }
                existing = Some(i);
            }
        } else if let Some(base) = all
            .iter()
            .find(|s| !opt.is_empty() && s.name.eq_ignore_ascii_case(opt))
        {
            let copied = base.settings.clone();
            match (&mut fresh, existing) {
                (Some(s), _) => s.settings.extend(copied),
                (None, Some(i)) => all[i].settings.extend(copied),
                (None, None) => {}
            }
        }
    }
    match (fresh, existing) {
        (None, Some(i)) => i,
        (fresh, _) => {
            all.push(fresh.unwrap_or_default());
            all.len() - 1
        }
    }
}

/// One `key = value` line (also `key => value`, `key += more`, and a
/// first character escaped with `\`) into `settings`.
fn setting(settings: &mut Vec<(String, String)>, line: &str) {
    let (line, skip) = match line.strip_prefix('\\') {
        Some(rest) => (rest, rest.chars().next().map_or(0, char::len_utf8)),
        None => (line, 0),
    };
    let Some(eq) = line[skip..].find('=').map(|i| skip + i) else {
        return;
    };
    let (key, value) = (&line[..eq], &line[eq + 1..]);
    if eq > skip && key.ends_with('+') {
        // `+=` appends to the last setting of that exact name.
        let key = key[..key.len() - 1].trim();
        if let Some((_, v)) = settings.iter_mut().rev().find(|(k, _)| k == key) {
            *v = format!("{v}{value}").trim().to_string();
            return;
        }
        if !key.is_empty() {
            settings.push((key.to_string(), value.trim().to_string()));
        }
        return;
    }
    let value = value.strip_prefix('>').unwrap_or(value);
    let key = key.trim();
    if !key.is_empty() {
        settings.push((key.to_string(), value.trim().to_string()));
    }
}

/// pjsip.conf, sip.conf or http.conf text: the pairs of each TLS
/// transport (pjsip) or TLS server (chan_sip, HTTP), templates resolved;
/// a missing key file means the key is in the certificate file.
pub fn asterisk(text: &str) -> Vec<Pair> {
    let all = sections(text);
    let path = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut out = Vec::new();
    for s in all.iter().filter(|s| !s.template) {
        let get = |k: &str| s.get(k);
        let pjsip = get("type").is_some_and(|t| t.eq_ignore_ascii_case("transport"));
        let (cert, key) = if pjsip {
            (get("cert_file"), get("priv_key_file"))
        } else {
            (get("tlscertfile"), get("tlsprivatekey"))
        };
        if let Some(cert) = path(cert) {
            out.push(Pair {
                cert,
                key: path(key),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(cert: &str, key: Option<&str>) -> Pair {
        Pair {
            cert: PathBuf::from(cert),
            key: key.map(PathBuf::from),
        }
    }

    #[test]
    fn pjsip_transports_with_templates() {
        let text = "\
;===============TRANSPORT
[transport-udp]
type=transport
protocol=udp
bind=0.0.0.0

[tls-common](!)            ; a template: no transport itself
type = transport
protocol = tls
priv_key_file = /usr/local/etc/asterisk/keys/sip.key

[transport-tls](tls-common)
bind=0.0.0.0:5061
cert_file=/usr/local/etc/asterisk/keys/sip.pem ; leaf, then intermediates
;cert_file=/old/commented.pem
;--
[transport-old]
type=transport
cert_file=/in/a/block/comment.pem
--;
[transport-wss]
type => transport
protocol => wss
cert_file => /etc/asterisk/keys/wss\\;1.pem

[6001]
type=endpoint
transport=transport-tls
";
        assert_eq!(
            asterisk(text),
            [
                pair(
                    "/usr/local/etc/asterisk/keys/sip.pem",
                    Some("/usr/local/etc/asterisk/keys/sip.key")
                ),
                pair("/etc/asterisk/keys/wss;1.pem", None),
            ]
        );
    }

    #[test]
    fn sip_conf_as_in_the_field() {
        // As the seed's Asterisk 13 had it (000: sip.conf, chained file
        // first, key apart), plus a later `(+)` that adds to [general].
        let text = "\
[general]
context=public
tlsenable=yes
tlsbindaddr=0.0.0.0:5061
tlscertfile=/etc/ssl/asterisk/sip_example_org.chained.pem
tlscapath=/etc/ssl/certs

[alice]
type=friend

[general](+)
tlsprivatekey=/etc/ssl/asterisk/sip_example_org.key1
";
        assert_eq!(
            asterisk(text),
            [pair(
                "/etc/ssl/asterisk/sip_example_org.chained.pem",
                Some("/etc/ssl/asterisk/sip_example_org.key1")
            )]
        );
        // No TLS at all: nothing found (discover then says so).
        assert!(asterisk("[general]\nudpbindaddr=0.0.0.0\n").is_empty());
    }

    #[test]
    fn block_comments_anywhere_in_a_line_and_nested() {
        let text = "\
[transport-tls]
type = transport
cert_file = /live/a.pem ;-- the old one was:
[transport-old]
type = transport
cert_file = /commented/out.pem
--; priv_key_file = /live/a.key
;-- outer ;-- inner --; still the outer comment
[transport-nested]
type = transport
cert_file = /nested/out.pem
--;
[transport-wss] ;--- three dashes: a plain comment, no block --;
type = transport
cert_file = /live/b;--x--;.pem
priv_key_file = /live/b\\;1.key
";
        assert_eq!(
            asterisk(text),
            [
                pair("/live/a.pem", Some("/live/a.key")),
                pair("/live/b.pem", Some("/live/b;1.key")),
            ]
        );
    }

    #[test]
    fn comments_as_config_c_reads_them() {
        let mut c = Comments::default();
        let mut strip = |l: &str| c.strip(l);
        assert_eq!(strip("a = 1 ; note ;-- no block").as_deref(), Some("a = 1"));
        assert_eq!(strip("a = x\\;y ; z").as_deref(), Some("a = x;y"));
        // `;--;` opens a block: its last `;` closes nothing.
        assert_eq!(strip("a = 1 ;--;").as_deref(), Some("a = 1"));
        assert_eq!(strip("b = 2").as_deref(), None);
        assert_eq!(strip("--; c = 3").as_deref(), Some("c = 3"));
        // A `--;` outside any comment: that line is read whole, and then
        // nothing until a `;--` (config.c's depth goes below zero).
        assert_eq!(strip("d = 4--; e").as_deref(), Some("d = 4--; e"));
        assert_eq!(strip("f = 5").as_deref(), None);
        assert_eq!(strip(";-- g = 6").as_deref(), None);
        assert_eq!(strip("h = 7").as_deref(), Some("h = 7"));
    }

    #[test]
    fn templates_apply_in_order_and_later_ones_win() {
        let text = "\
[a](!)
type = transport
cert_file = /a.pem
priv_key_file = /a.key
[b](!)
cert_file = /b.pem
[ab](a,b)
[ba](b,a)
[own](a,b)
cert_file = /own.pem
[a](+)
priv_key_file = /later.key
[late](a)
";
        assert_eq!(
            asterisk(text),
            [
                pair("/b.pem", Some("/a.key")),
                pair("/a.pem", Some("/a.key")),
                pair("/own.pem", Some("/a.key")),
                // Copied when named: `(+)` after [ab] reaches only [late].
                pair("/a.pem", Some("/later.key")),
            ]
        );
        // A template named with a space (`(a, b)`) is not `b` to Asterisk.
        assert_eq!(
            asterisk(
                "[a](!)\ntype=transport\ncert_file=/a.pem\n[b](!)\ncert_file=/b.pem\n[x](a, b)\n"
            ),
            [pair("/a.pem", None)]
        );
    }

    #[test]
    fn a_template_loop_ends() {
        let text = "[a](b)\ntype=transport\n[b](a)\n";
        assert!(asterisk(text).is_empty());
    }
}
