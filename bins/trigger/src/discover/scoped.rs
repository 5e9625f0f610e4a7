//! Dialects with nested blocks, where a block without its own certificate
//! inherits its parent's: nginx (`server { ssl_certificate ...; }`),
//! apache (`<VirtualHost>`), dovecot (`local_name x { ssl_cert = <... }`).
//! Each block that sets a certificate or a key gives pairs, the n-th
//! certificate with the n-th key of the nearest block that has them.

use std::path::PathBuf;

use crate::definition::Pair;

/// The certificates and keys a block sets, by slot (order of appearance,
/// or a fixed slot for dovecot's main and alternative certificate).
#[derive(Debug, Default)]
struct Scope {
    certs: Vec<Option<String>>,
    keys: Vec<Option<String>>,
}

fn set(v: &mut Vec<Option<String>>, slot: Option<usize>, value: String) {
    let slot = slot.unwrap_or(v.len());
    if v.len() <= slot {
        v.resize(slot + 1, None);
    }
    v[slot] = Some(value);
}

/// A stack of open blocks; pairs are emitted when a block closes.
#[derive(Debug)]
struct Blocks {
    stack: Vec<Scope>,
    out: Vec<Pair>,
}

impl Blocks {
    fn new() -> Blocks {
        Blocks {
            stack: vec![Scope::default()],
            out: Vec::new(),
        }
    }

    fn top(&mut self) -> &mut Scope {
        if self.stack.is_empty() {
            self.stack.push(Scope::default());
        }
        let last = self.stack.len() - 1;
        &mut self.stack[last]
    }

    fn cert(&mut self, slot: Option<usize>, value: &str) {
        if let Some(v) = usable(value) {
            set(&mut self.top().certs, slot, v);
        }
    }

    fn key(&mut self, slot: Option<usize>, value: &str) {
        if let Some(v) = usable(value) {
            set(&mut self.top().keys, slot, v);
        }
    }

    fn open(&mut self) {
        self.stack.push(Scope::default());
    }

    /// Close the innermost block (a stray close is ignored).
    fn close(&mut self) {
        let Some(scope) = self.stack.pop() else {
            return;
        };
        if scope.certs.is_empty() && scope.keys.is_empty() {
            return;
        }
        let inherited = |pick: fn(&Scope) -> &Vec<Option<String>>| {
            self.stack
                .iter()
                .rev()
                .map(pick)
                .find(|v| !v.is_empty())
                .cloned()
                .unwrap_or_default()
        };
        let certs = if scope.certs.is_empty() {
            inherited(|s| &s.certs)
        } else {
            scope.certs
        };
        let keys = if scope.keys.is_empty() {
            inherited(|s| &s.keys)
        } else {
            scope.keys
        };
        for (i, cert) in certs.into_iter().enumerate() {
            if let Some(cert) = cert {
                self.out.push(Pair {
                    cert: PathBuf::from(cert),
                    key: keys.get(i).cloned().flatten().map(PathBuf::from),
                });
            }
        }
    }

    fn finish(mut self) -> Vec<Pair> {
        while !self.stack.is_empty() {
            self.close();
        }
        self.out
    }
}

/// A file path, not a variable (`$ssl_server_name`), inline data or engine key.
fn usable(value: &str) -> Option<String> {
    let v = value.trim().trim_matches(|c| c == '"' || c == '\'');
    let skip =
        v.is_empty() || v.contains('$') || v.starts_with("data:") || v.starts_with("engine:");
    (!skip).then(|| v.to_string())
}

/// nginx configuration as `nginx -T` prints it: tokens, quoted strings,
/// `#` comments, `;` ending a directive, `{ }` blocks.
pub fn nginx(text: &str) -> Vec<Pair> {
    let mut blocks = Blocks::new();
    let mut words: Vec<String> = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            ';' => {
                if let [name, value, ..] = words.as_slice() {
                    match name.as_str() {
                        "ssl_certificate" => blocks.cert(None, value),
                        "ssl_certificate_key" => blocks.key(None, value),
                        _ => {}
                    }
                }
                words.clear();
            }
            '{' => {
                words.clear();
                blocks.open();
            }
            '}' => {
                words.clear();
                blocks.close();
            }
            '"' | '\'' => {
                let mut word = String::new();
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => word.extend(chars.next()),
                        d if d == c => break,
                        d => word.push(d),
                    }
                }
                words.push(word);
            }
            c if c.is_whitespace() => {}
            c => {
                let mut word = String::from(c);
                while let Some(&d) = chars.peek() {
                    if d.is_whitespace() || matches!(d, ';' | '{' | '}') {
                        break;
                    }
                    word.push(d);
                    chars.next();
                }
                words.push(word);
            }
        }
    }
    blocks.finish()
}

/// Apache httpd configuration: `<Section ...>` ... `</Section>`, directives
/// case-insensitive. `SSLCertificateFile` may hold the key too.
pub fn apache(text: &str) -> Vec<Pair> {
    let mut blocks = Blocks::new();
    for line in super::meaningful(text) {
        if line.starts_with("</") {
            blocks.close();
            continue;
        }
        if line.starts_with('<') {
            blocks.open();
            continue;
        }
        let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match name.to_ascii_lowercase().as_str() {
            "sslcertificatefile" => blocks.cert(None, value),
            "sslcertificatekeyfile" => blocks.key(None, value),
            _ => {}
        }
    }
    blocks.finish()
}

/// `doveconf -n`: `key = value` lines, `name {` ... `}` blocks. 2.3 names
/// the files `ssl_cert = </path` (the `<` reads a file), 2.4
/// `ssl_server_cert_file = /path`; `ssl_alt_*` is a second certificate.
pub fn dovecot(text: &str) -> Vec<Pair> {
    let mut blocks = Blocks::new();
    for line in super::meaningful(text) {
        if line == "}" {
            blocks.close();
            continue;
        }
        if line.ends_with('{') {
            blocks.open();
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let file = value.strip_prefix('<').unwrap_or(value).trim();
        // 2.3 without `<` means inline PEM text, not a file.
        let file = if name.trim().ends_with("_file") || value.starts_with('<') {
            file
        } else {
            ""
        };
        match name.trim() {
            "ssl_cert" | "ssl_server_cert_file" => blocks.cert(Some(0), file),
            "ssl_key" | "ssl_server_key_file" => blocks.key(Some(0), file),
            "ssl_alt_cert" | "ssl_server_alt_cert_file" => blocks.cert(Some(1), file),
            "ssl_alt_key" | "ssl_server_alt_key_file" => blocks.key(Some(1), file),
            _ => {}
        }
    }
    blocks.finish()
}
