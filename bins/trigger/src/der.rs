//! Just enough DER (X.690 §8, §10) to read keys and SubjectPublicKeyInfo:
//! tag, definite length, content; nothing is trusted, every length checked.
//! Every error is bad data (65): the bytes came from a key or certificate
//! file that is not what it claims.

use certdrop_core::error::{Error, Result};

/// Universal tags used here.
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;
/// `[0]` and `[1]` constructed (EXPLICIT), `[1]` primitive (IMPLICIT BIT STRING).
pub const CONTEXT_0: u8 = 0xa0;
pub const CONTEXT_1: u8 = 0xa1;
pub const CONTEXT_1_PRIMITIVE: u8 = 0x81;

/// One tag-length-value.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    /// The identifier octet (single-byte tags only).
    pub tag: u8,
    /// The content octets.
    pub content: &'a [u8],
}

/// A cursor over the elements of a constructed value.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// The next element, if any.
    pub fn next_opt(&mut self) -> Result<Option<Tlv<'a>>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (tlv, rest) = read(self.rest)?;
        self.rest = rest;
        Ok(Some(tlv))
    }

    /// The next element, which must exist.
    pub fn next_tlv(&mut self) -> Result<Tlv<'a>> {
        self.next_opt()?
            .ok_or_else(|| Error::data("DER: truncated"))
    }

    /// The next element, which must have `tag`.
    pub fn want(&mut self, tag: u8) -> Result<Tlv<'a>> {
        let tlv = self.next_tlv()?;
        if tlv.tag != tag {
            return Err(Error::data(format!(
                "DER: tag {:#04x} where {tag:#04x} was due",
                tlv.tag
            )));
        }
        Ok(tlv)
    }
}

/// Split one TLV off the front of `bytes`.
fn read(bytes: &[u8]) -> Result<(Tlv<'_>, &[u8])> {
    let bad = || Error::data("DER: bad length");
    let [tag, first, rest @ ..] = bytes else {
        return Err(Error::data("DER: truncated"));
    };
    if tag & 0x1f == 0x1f {
        return Err(Error::data("DER: multi-byte tag"));
    }
    let (len, rest) = if first & 0x80 == 0 {
        (usize::from(*first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, b| a << 8 | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(bad());
    }
    Ok((
        Tlv {
            tag: *tag,
            content: &rest[..len],
        },
        &rest[len..],
    ))
}

/// Parse `bytes` as exactly one TLV with `tag`.
pub fn parse(bytes: &[u8], tag: u8) -> Result<Tlv<'_>> {
    let (tlv, rest) = read(bytes)?;
    if tlv.tag != tag || !rest.is_empty() {
        return Err(Error::data(format!(
            "DER: expected one element with tag {tag:#04x}"
        )));
    }
    Ok(tlv)
}

/// A reader over the elements of the SEQUENCE that is all of `bytes`.
pub fn sequence(bytes: &[u8]) -> Result<Reader<'_>> {
    Ok(Reader {
        rest: parse(bytes, SEQUENCE)?.content,
    })
}

/// A reader over the elements of a SEQUENCE element.
pub fn sequence_of<'a>(tlv: &Tlv<'a>) -> Result<Reader<'a>> {
    if tlv.tag != SEQUENCE {
        return Err(Error::data("DER: expected a SEQUENCE"));
    }
    Ok(Reader { rest: tlv.content })
}

/// The bits of a BIT STRING with no unused bits.
pub fn bit_string<'a>(tlv: &Tlv<'a>) -> Result<&'a [u8]> {
    match tlv.content {
        [0, bits @ ..] => Ok(bits),
        _ => Err(Error::data("DER: BIT STRING with unused bits")),
    }
}

/// An INTEGER's magnitude without leading zero octets.
pub fn unsigned(tlv: &Tlv<'_>) -> Vec<u8> {
    let start = tlv
        .content
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(tlv.content.len());
    tlv.content[start..].to_vec()
}
