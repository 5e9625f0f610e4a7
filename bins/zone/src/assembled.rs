//! An assembled zone that is never held whole: the static sources are
//! read again for each pass over the zone (one to check and hash it, one
//! to write it when it changed), and only the generated records, the SOA
//! and what the checks need (a few bits per owner name) stay in memory.
//! A million-record zone thus costs about what its generated part does,
//! not a string per record.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::io::{BufRead, Write};
use std::path::PathBuf;

use certdrop_core::error::{Error, Result};
use sha2::{Digest, Sha256};

use crate::masterfile::{self, Rr};
use crate::record::Record;

/// The first line of every assembled zone.
pub fn header(zone: &str) -> String {
    format!("; {zone}: assembled by certdrop-zone; do not edit\n")
}

/// A zone's records, ready for passes in source order: the static sources
/// (re-read each pass), then the generated records; or records in memory
/// (the make steps, a zone read back from a signer).
#[derive(Debug)]
pub struct Assembled {
    zone: String,
    body: Body,
    /// SHA-256 (hex) of the zone text with the serial zeroed.
    pub content: String,
    /// The serial in the sources' SOA.
    pub soa_serial: Option<u32>,
}

#[derive(Debug)]
enum Body {
    Sources {
        /// soa, then each primary file.
        files: Vec<PathBuf>,
        generated: Vec<Record>,
    },
    Records(Vec<Rr>),
}

/// One record in a pass.
pub enum Line<'a> {
    /// From a source, or in memory.
    Rr(&'a Rr),
    /// Generated.
    Generated(&'a Record),
}

impl Line<'_> {
    /// Its zone text with a newline; the SOA serial replaced by `serial`.
    fn write(&self, out: &mut impl Write, serial: Option<u32>) -> std::io::Result<()> {
        match self {
            Line::Rr(r) => r.write_line(out, serial),
            Line::Generated(r) => writeln!(out, "{r}"),
        }
    }
}

impl Assembled {
    /// The static sources of `zone` (soa first) and its generated records,
    /// read once here to check them ([`Checker`]) and hash them; errors as
    /// [`crate::build::assemble`] gives them. `before_generated` runs
    /// between the sources and the generated records (which it returns), so
    /// that errors keep their order: sources, then the generated parts; it
    /// gets the sources' zone cuts (owners of NS sets below the apex).
    pub fn from_sources(
        zone: &str,
        files: Vec<PathBuf>,
        generated: impl FnOnce(&BTreeSet<String>) -> Result<Vec<Record>>,
    ) -> Result<Assembled> {
        let mut a = Assembled {
            zone: zone.to_owned(),
            body: Body::Sources {
                files,
                generated: Vec::new(),
            },
            content: String::new(),
            soa_serial: None,
        };
        let mut checker = Checker::new(zone);
        let mut hash = Sha256::new();
        hash.update(header(zone).as_bytes());
        let mut line = Vec::with_capacity(256);
        let mut soa_serial = None;
        let mut visit = |l: Line<'_>, checker: &mut Checker| {
            if let Line::Rr(r) = &l {
                if r.rtype == "SOA" && soa_serial.is_none() {
                    soa_serial = Some(r.rdata.get(2).and_then(|s| s.parse().ok()));
                }
            }
            checker.add(&l);
            line.clear();
            // Writing to a Vec cannot fail.
            let _ = l.write(&mut line, Some(0));
            hash.update(&line);
        };
        a.sources(&mut |l| {
            visit(l, &mut checker);
            Ok(())
        })?;
        let generated = generated(&checker.cuts)?;
        for r in &generated {
            visit(Line::Generated(r), &mut checker);
        }
        if let Body::Sources { generated: g, .. } = &mut a.body {
            *g = generated;
        }
        a.soa_serial = soa_serial.flatten();
        a.content = certdrop_core::certinfo::hex(&hash.finalize());
        if !checker.clean() {
            // Something may be wrong: the exact check, on the whole zone,
            // says what (or finds that two owner names shared a hash).
            let mut all = Vec::new();
            a.each(&mut |l| {
                all.push(match l {
                    Line::Rr(r) => r.clone(),
                    Line::Generated(r) => crate::build::rr_of(r.clone()),
                });
                Ok(())
            })?;
            masterfile::check(&all, zone)
                .map_err(|why| crate::build::zone_data_name(zone, &why))?;
        }
        Ok(a)
    }

    /// Records already in memory (not checked here).
    pub fn from_records(zone: &str, rrs: Vec<Rr>) -> Assembled {
        let mut hash = Sha256::new();
        hash.update(header(zone).as_bytes());
        let mut line = Vec::with_capacity(256);
        for r in &rrs {
            line.clear();
            let _ = r.write_line(&mut line, Some(0));
            hash.update(&line);
        }
        Assembled {
            zone: zone.to_owned(),
            soa_serial: masterfile::serial(&rrs),
            body: Body::Records(rrs),
            content: certdrop_core::certinfo::hex(&hash.finalize()),
        }
    }

    /// The static sources' records, in order, re-read from their files.
    fn sources(&self, f: &mut dyn FnMut(Line<'_>) -> Result<()>) -> Result<()> {
        let Body::Sources { files, .. } = &self.body else {
            return Ok(());
        };
        let mut default_ttl = None;
        for (i, p) in files.iter().enumerate() {
            let file = std::fs::File::open(p).map_err(|e| source_error(p, e))?;
            let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
            // Errors of ours (reading, or from `f`) keep their class; the
            // parser sees only that it must stop.
            let mut failed = None;
            let mut first = None;
            let ttl = if i == 0 { None } else { default_ttl };
            let read = |piece: &mut String| match reader.read_line(piece) {
                Ok(n) => Ok(n > 0),
                Err(e) => {
                    let msg = e.to_string();
                    failed = Some(source_error(p, e));
                    Err(msg)
                }
            };
            let mut stop = None;
            let parsed =
                masterfile::parse_pieces(read, &self.zone, ttl, &p.display().to_string(), |rr| {
                    first.get_or_insert(rr.ttl);
                    f(Line::Rr(&rr)).map_err(|e| {
                        let msg = e.to_string();
                        stop = Some(e);
                        msg
                    })
                });
            if let Some(e) = failed.or(stop) {
                return Err(e);
            }
            parsed.map_err(Error::data)?;
            if i == 0 {
                default_ttl = first;
            }
        }
        Ok(())
    }

    /// Every record, in zone order.
    pub fn each(&self, f: &mut dyn FnMut(Line<'_>) -> Result<()>) -> Result<()> {
        match &self.body {
            Body::Records(rrs) => rrs.iter().try_for_each(|r| f(Line::Rr(r))),
            Body::Sources { generated, .. } => {
                self.sources(f)?;
                generated.iter().try_for_each(|r| f(Line::Generated(r)))
            }
        }
    }

    /// The zone text with the SOA serial `serial`, into `out`; `io` says
    /// what a failed write is (the sources' own errors keep theirs). The
    /// sources are read again here: if one changed since they were checked
    /// and hashed, the text is refused (75) and the next build takes it.
    pub fn write(
        &self,
        out: &mut impl Write,
        serial: u32,
        io: impl Fn(std::io::Error) -> Error,
    ) -> Result<()> {
        let head = header(&self.zone);
        out.write_all(head.as_bytes()).map_err(&io)?;
        let mut hash = Sha256::new();
        hash.update(head.as_bytes());
        let mut line = Vec::with_capacity(256);
        self.each(&mut |l| {
            line.clear();
            // Writing to a Vec cannot fail.
            let _ = l.write(&mut line, Some(serial));
            out.write_all(&line).map_err(&io)?;
            if matches!(l, Line::Rr(r) if r.rtype == "SOA") {
                line.clear();
                let _ = l.write(&mut line, Some(0));
            }
            hash.update(&line);
            Ok(())
        })?;
        if certdrop_core::certinfo::hex(&hash.finalize()) != self.content {
            return Err(Error::temp(format!(
                "zone {}: a source changed while it was read; the next build takes it",
                self.zone
            )));
        }
        Ok(())
    }
}

/// A source that cannot be read, as [`crate::build`] says it.
fn source_error(p: &std::path::Path, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::InvalidData => Error::data(format!("{}: not UTF-8 text", p.display())),
        _ => Error::unreadable(p, "cannot read", &e),
    }
}

/// The checks of [`masterfile::check`] on a stream of records, with a few
/// bits per owner name (kept by a 64-bit hash of the name): `clean` is
/// true only when the zone certainly passes; otherwise the exact check
/// must run (which also gives the message).
pub struct Checker {
    apex: String,
    dot_apex: String,
    soas: u32,
    suspect: bool,
    hasher: RandomState,
    owners: HashMap<u64, u8>,
    /// Owners of the sources' NS sets below the apex.
    pub cuts: BTreeSet<String>,
}

const CNAME: u8 = 1;
const OTHER: u8 = 2;

impl Checker {
    /// For the zone `zone`.
    pub fn new(zone: &str) -> Checker {
        let apex = format!("{}.", zone.trim_end_matches('.').to_ascii_lowercase());
        Checker {
            dot_apex: format!(".{apex}"),
            apex,
            soas: 0,
            suspect: false,
            hasher: RandomState::new(),
            owners: HashMap::new(),
            cuts: BTreeSet::new(),
        }
    }

    /// One more record.
    pub fn add(&mut self, line: &Line<'_>) {
        let (owner, rtype) = match line {
            Line::Rr(r) => {
                if r.rtype == "SOA" {
                    self.soas += 1;
                    let ok = r.owner == self.apex
                        && r.rdata.len() == 7
                        && r.rdata[2].parse::<u32>().is_ok();
                    self.suspect |= !ok;
                }
                if r.rtype == "NS" && r.owner != self.apex {
                    self.cuts.insert(r.owner.clone());
                }
                (r.owner.as_str(), r.rtype.as_str())
            }
            Line::Generated(r) => (r.owner.as_str(), r.rtype.as_str()),
        };
        // Owners are lowercase and absolute here (both kinds of record).
        let inside = owner == self.apex
            || (owner.ends_with(&self.dot_apex) && owner.len() > self.dot_apex.len());
        self.suspect |= !inside;
        let bit = match rtype {
            "CNAME" => CNAME,
            "RRSIG" | "NSEC" | "NSEC3" => 0,
            _ => OTHER,
        };
        let bits = self.owners.entry(self.hasher.hash_one(owner)).or_insert(0);
        if bit == CNAME && *bits & CNAME != 0 {
            self.suspect = true;
        }
        *bits |= bit;
        if *bits == CNAME | OTHER {
            self.suspect = true;
        }
    }

    /// Whether the zone certainly passes [`masterfile::check`].
    pub fn clean(&self) -> bool {
        !self.suspect && self.soas == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 10,000-record zone in most of the syntax a source may use:
    /// `$ORIGIN`, `$TTL`, TTL units, class before or after the TTL,
    /// inherited owners, parentheses over lines, comments, quoted strings
    /// with `;` and escapes, relative and absolute names, upper case.
    fn sources(dir: &std::path::Path) -> Vec<PathBuf> {
        let soa = "; soa\n$TTL 300\n@ IN SOA ns1 Hostmaster.Example.Test. ( 3000000000 ; serial\n 3600 900 1209600 60 )\n";
        let mut p = String::from("@\tNS\tns1\n  NS ns2.example.net.\nns1 A 192.0.2.1\n");
        let mut n = 3;
        let mut i = 0u32;
        while n < 10_000 {
            let rest = match i % 8 {
                0 => format!("h{i}\t1h IN A 10.0.{}.{}\n", i >> 8 & 255, i & 255),
                1 => {
                    format!("H{i} IN 90 AAAA 2001:db8::{i:x}\n\tTXT \"v=a;b\" \"c\\\"d\" ; note\n")
                }
                2 => format!("w{i} CNAME h{}\n", i - 2),
                3 => format!("mx{i} 2d MX ( 10\n  mail{i} )\n"),
                4 => format!("_sip._tcp.s{i} SRV 0 5 5060 sip{i}.Example.Test.\n"),
                5 => {
                    format!("$ORIGIN sub{i}.example.test.\nx A 192.0.2.9\n$ORIGIN example.test.\n")
                }
                6 => format!("$TTL 1w2d\nt{i} TXT ( \"part one\"\n \"part two\" )\n$TTL 300\n"),
                _ => format!("a{i}.example.test. 60 A 198.51.100.{}\n", i & 255),
            };
            n += if i % 8 == 1 { 2 } else { 1 };
            p.push_str(&rest);
            i += 1;
        }
        std::fs::write(dir.join("soa"), soa).expect("soa");
        std::fs::write(dir.join("primary"), p).expect("primary");
        vec![dir.join("soa"), dir.join("primary")]
    }

    #[test]
    fn writes_what_the_whole_zone_in_memory_wrote() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = sources(dir.path());
        if std::env::var_os("CERTDROP_KEEP_GOLDEN").is_some() {
            std::fs::copy(&files[0], "/tmp/golden-soa").expect("keep");
            std::fs::copy(&files[1], "/tmp/golden-primary").expect("keep");
        }
        let zone = "example.test";
        let a = Assembled::from_sources(zone, files.clone(), |_| Ok(Vec::new())).expect("assemble");
        let mut out = Vec::new();
        a.write(&mut out, 3_000_000_001, |e| Error::temp(e.to_string()))
            .expect("write");
        // The SHA-256 of what certdrop-zone 0.1 (which held the zone as one
        // vector and rendered it as one string) wrote for these sources with
        // `certdrop-zone assemble`, serial 3000000001.
        assert_eq!(
            certdrop_core::certinfo::hex(&Sha256::digest(&out)),
            "be63a6c16c8a85592ee4569ca005b29bde64a407f965f859d1a73dc34c214785",
            "{}",
            String::from_utf8_lossy(&out[..2000])
        );
        assert_eq!(a.soa_serial, Some(3_000_000_000));
        // The content hash is of the same text with the serial zeroed.
        let zeroed = String::from_utf8(out)
            .expect("utf8")
            .replacen(" 3000000001 ", " 0 ", 1);
        assert_eq!(
            a.content,
            certdrop_core::certinfo::hex(&Sha256::digest(zeroed.as_bytes()))
        );
        // The records in memory give the same text and hash.
        let mut rrs = Vec::new();
        let mut ttl = None;
        for (i, f) in files.iter().enumerate() {
            let text = std::fs::read_to_string(f).expect("read");
            let parsed = masterfile::parse(&text, zone, ttl, "x").expect("parse");
            if i == 0 {
                ttl = parsed.first().map(|r| r.ttl);
            }
            rrs.extend(parsed);
        }
        assert_eq!(rrs.len(), 10_001);
        masterfile::check(&rrs, zone).expect("valid");
        let m = Assembled::from_records(zone, rrs);
        assert_eq!(m.content, a.content);
        let mut again = Vec::new();
        m.write(&mut again, 3_000_000_001, |e| Error::temp(e.to_string()))
            .expect("write");
        assert_eq!(
            again,
            zeroed.replacen(" 0 ", " 3000000001 ", 1).into_bytes()
        );
    }

    #[test]
    fn a_source_changed_between_check_and_write_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = sources(dir.path());
        let a = Assembled::from_sources("example.test", files.clone(), |_| Ok(Vec::new()))
            .expect("assemble");
        let mut text = std::fs::read_to_string(&files[1]).expect("read");
        text.push_str("www CNAME h0\nwww A 192.0.2.1\n");
        std::fs::write(&files[1], text).expect("write");
        let e = a
            .write(&mut Vec::new(), 3_000_000_001, |e| {
                Error::temp(e.to_string())
            })
            .expect_err("changed");
        assert!(e.to_string().contains("changed while it was read"), "{e}");
    }

    #[test]
    fn suspect_zones_get_the_exact_check() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut files = sources(dir.path());
        let zone = "example.test";
        for (extra, why) in [
            (
                "w2 A 192.0.2.7\n",
                "w2.example.test.: CNAME beside other data (A)",
            ),
            ("w2 CNAME h9\n", "a second CNAME at w2.example.test."),
            (
                "out.example.net. A 192.0.2.1\n",
                "out.example.net. is outside the zone",
            ),
            ("@ SOA a b 2 1 1 1 1\n", "a second SOA record"),
        ] {
            std::fs::write(dir.path().join("more"), extra).expect("more");
            files.truncate(2);
            files.push(dir.path().join("more"));
            let e =
                Assembled::from_sources(zone, files.clone(), |_| Ok(Vec::new())).expect_err(extra);
            assert!(e.to_string().contains(why), "{extra}: {e}");
        }
        // A generated record beside a CNAME is caught the same way.
        files.truncate(2);
        let gen = |_: &BTreeSet<String>| {
            Ok(vec![Record::new(
                "w2.example.test",
                60,
                crate::record::RType::Txt,
                "\"x\"".into(),
            )])
        };
        let e = Assembled::from_sources(zone, files, gen).expect_err("cname");
        assert!(
            e.to_string().contains("CNAME beside other data (TXT)"),
            "{e}"
        );
    }
}
