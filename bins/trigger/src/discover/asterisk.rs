//! Asterisk's configuration dialect (one parser for its files): the TLS
//! transports of pjsip.conf (`cert_file`, `priv_key_file` in a section
//! of `type = transport`) and chan_sip's sip.conf or the HTTP server's
//! http.conf (`tlscertfile`, `tlsprivatekey`). Sections inherit from
//! templates (`[tls](!)`, then `[transport-tls](tls)`), so a transport's
//! files may come from its template; a template alone is no transport.
//! `#include` is not followed: a definition names the file that holds
//! the TLS settings.

use std::path::PathBuf;

use crate::definition::Pair;

/// How deep templates may name templates before we stop looking (Asterisk
/// itself refuses a loop; a bound keeps a hostile file from one here).
const TEMPLATE_DEPTH: usize = 8;

/// One `[section]`: its name, whether it is a template (`(!)`), the
/// templates it inherits from, and its own settings in order.
#[derive(Default)]
struct Section {
    name: String,
    template: bool,
    parents: Vec<String>,
    settings: Vec<(String, String)>,
}

impl Section {
    /// The value of `key` here, else in its templates (first one first).
    fn get<'a>(&'a self, key: &str, all: &'a [Section], depth: usize) -> Option<&'a str> {
        if let Some((_, v)) = self.settings.iter().rev().find(|(k, _)| k == key) {
            return Some(v);
        }
        if depth >= TEMPLATE_DEPTH {
            return None;
        }
        self.parents.iter().find_map(|p| {
            all.iter()
                .filter(|s| &s.name == p)
                .find_map(|s| s.get(key, all, depth + 1))
        })
    }
}

/// The line without its `;` comment (`\;` is a literal semicolon).
fn uncommented(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&';') => {
                out.push(';');
                chars.next();
            }
            ';' => break,
            _ => out.push(c),
        }
    }
    out.trim().to_string()
}

/// The sections of `text`, settings before the first header in one
/// without a name (sip.conf has none there, but a fragment may).
fn sections(text: &str) -> Vec<Section> {
    let mut all = vec![Section::default()];
    let mut in_block = false;
    for raw in text.lines() {
        // `;-- ... --;` comments span lines.
        if in_block {
            in_block = !raw.contains("--;");
            continue;
        }
        if raw.trim_start().starts_with(";--") && !raw.contains("--;") {
            in_block = true;
            continue;
        }
        let line = uncommented(raw);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some((name, tail)) = rest.split_once(']') else {
                continue;
            };
            let options: Vec<String> = tail
                .trim()
                .strip_prefix('(')
                .and_then(|t| t.strip_suffix(')'))
                .map(|t| t.split(',').map(|o| o.trim().to_string()).collect())
                .unwrap_or_default();
            let name = name.trim().to_string();
            // `[name](+)` adds to the section of that name already read.
            if options.iter().any(|o| o == "+") {
                if let Some(at) = all.iter().rposition(|s| s.name == name) {
                    let again = all.remove(at);
                    all.push(again);
                    continue;
                }
            }
            all.push(Section {
                template: options.iter().any(|o| o == "!"),
                parents: options
                    .into_iter()
                    .filter(|o| o != "!" && o != "+" && !o.is_empty())
                    .collect(),
                name,
                settings: Vec::new(),
            });
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        // `key => value` is the same assignment.
        let value = value.strip_prefix('>').unwrap_or(value);
        if let Some(section) = all.last_mut() {
            section
                .settings
                .push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    all
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
        let get = |k: &str| s.get(k, &all, 0);
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
    fn a_template_loop_ends() {
        let text = "[a](b)\ntype=transport\n[b](a)\n";
        assert!(asterisk(text).is_empty());
    }
}
