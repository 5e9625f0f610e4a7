//! LDAP's StartTLS extended operation (RFC 4511 §4.14): one request,
//! BER-encoded by hand (it is a constant), and one response, read by a
//! minimal BER reader that takes definite lengths of at most four bytes
//! and nothing larger than [`MAX_MESSAGE`].

use crate::error::{quote, ErrorKind, Fail};
use crate::wire::Wire;

/// The step's name in errors.
const STEP: &str = "StartTLS";
/// The StartTLS OID (RFC 4511 §4.14.1).
const OID: &[u8] = b"1.3.6.1.4.1.1466.20037";
/// Largest response accepted: an ExtendedResponse is a result code and
/// two short strings; a referral list fits many times over.
const MAX_MESSAGE: usize = 16 * 1024;

/// BER tags (RFC 4511 §4.1.1, §4.12; X.690).
const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const ENUMERATED: u8 = 0x0a;
const OCTET_STRING: u8 = 0x04;
/// [APPLICATION 23] ExtendedRequest, constructed.
const EXTENDED_REQUEST: u8 = 0x77;
/// [APPLICATION 24] ExtendedResponse, constructed.
const EXTENDED_RESPONSE: u8 = 0x78;
/// requestName [0], primitive.
const REQUEST_NAME: u8 = 0x80;
/// Our request's messageID.
const MESSAGE_ID: u8 = 1;

/// The request: LDAPMessage { messageID 1, ExtendedRequest { requestName OID } }.
pub(super) fn request() -> Vec<u8> {
    let name = [&[REQUEST_NAME, OID.len() as u8][..], OID].concat();
    let op = [&[EXTENDED_REQUEST, name.len() as u8][..], &name].concat();
    let id = [INTEGER, 1, MESSAGE_ID];
    let body = [&id[..], &op].concat();
    [&[SEQUENCE, body.len() as u8][..], &body].concat()
}

/// The answer to the request.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Response {
    pub message_id: u32,
    pub result: u32,
    pub diagnostic: String,
}

/// Split one TLV off the front of `input`: (tag, value).
fn tlv<'a>(input: &mut &'a [u8]) -> Option<(u8, &'a [u8])> {
    let (&tag, rest) = input.split_first()?;
    let (len, rest) = length(rest)?;
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    *input = rest;
    Some((tag, value))
}

/// A definite length (short form, or long form of 1 to 4 bytes) and what follows.
fn length(input: &[u8]) -> Option<(usize, &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first < 0x80 {
        return Some((first as usize, rest));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 || rest.len() < n {
        return None; // indefinite (forbidden in LDAP) or absurd
    }
    let len = rest[..n]
        .iter()
        .fold(0usize, |acc, &b| acc << 8 | b as usize);
    Some((len, &rest[n..]))
}

/// An unsigned INTEGER or ENUMERATED value of up to four bytes.
fn unsigned(value: &[u8]) -> Option<u32> {
    if value.is_empty() || value.len() > 4 {
        return None;
    }
    Some(value.iter().fold(0u32, |acc, &b| acc << 8 | b as u32))
}

/// Parse the content of an LDAPMessage (after its SEQUENCE header) as an
/// ExtendedResponse.
pub(super) fn parse(mut body: &[u8]) -> Option<Response> {
    let (INTEGER, id) = tlv(&mut body)? else {
        return None;
    };
    let (EXTENDED_RESPONSE, mut op) = tlv(&mut body)? else {
        return None;
    };
    let (ENUMERATED, result) = tlv(&mut op)? else {
        return None;
    };
    let (OCTET_STRING, _matched_dn) = tlv(&mut op)? else {
        return None;
    };
    let (OCTET_STRING, diagnostic) = tlv(&mut op)? else {
        return None;
    };
    Some(Response {
        message_id: unsigned(id)?,
        result: unsigned(result)?,
        diagnostic: quote(diagnostic),
    })
}

/// A result code's name (RFC 4511 §4.1.9, the ones a StartTLS can meet).
fn result_name(code: u32) -> &'static str {
    match code {
        1 => "operationsError",
        2 => "protocolError",
        7 => "authMethodNotSupported",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        _ => "resultCode",
    }
}

/// Send the request; read and check the response.
pub(super) fn start_tls(wire: &mut Wire) -> Result<(), Fail> {
    wire.send(&request(), STEP)?;
    let head = wire.exact(2, STEP)?;
    if head[0] != SEQUENCE {
        return Err(not_ldap(&head));
    }
    // The length: short form, or long form with its bytes still to read.
    let mut len_bytes = vec![head[1]];
    if head[1] > 0x80 && head[1] <= 0x84 {
        len_bytes.extend(wire.exact((head[1] & 0x7f) as usize, STEP)?);
    }
    let Some((len, _)) = length(&len_bytes) else {
        return Err(not_ldap(&head));
    };
    if len > MAX_MESSAGE {
        return Err(Fail::new(
            STEP,
            ErrorKind::TooLong,
            format!("a response of {len} bytes (at most {MAX_MESSAGE})"),
        ));
    }
    let body = wire.exact(len, STEP)?;
    let Some(r) = parse(&body) else {
        return Err(not_ldap(&[head, len_bytes, body].concat()));
    };
    let detail = format!(
        "{} ({}){}",
        result_name(r.result),
        r.result,
        if r.diagnostic.is_empty() {
            String::new()
        } else {
            format!(": {}", r.diagnostic)
        }
    );
    // messageID 0 is an unsolicited notification: the server is hanging
    // up (Notice of Disconnection, RFC 4511 §4.4.1).
    if r.message_id == 0 {
        return Err(Fail::new(
            STEP,
            ErrorKind::Refused,
            format!("notice of disconnection: {detail}"),
        ));
    }
    if r.message_id != MESSAGE_ID as u32 {
        return Err(Fail::new(
            STEP,
            ErrorKind::Garbage,
            format!("an answer to message {}", r.message_id),
        ));
    }
    if r.result != 0 {
        return Err(Fail::new(STEP, ErrorKind::Refused, detail));
    }
    Ok(())
}

fn not_ldap(bytes: &[u8]) -> Fail {
    Fail::new(
        STEP,
        ErrorKind::Garbage,
        format!("not an LDAP ExtendedResponse: \"{}\"", quote(bytes)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_the_rfc_encoding() {
        // As ldapsearch -ZZ sends it (messageID aside): 30 1d 02 01 01 77 18 80 16 OID.
        let mut want = vec![0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16];
        want.extend_from_slice(OID);
        assert_eq!(request(), want);
    }

    #[test]
    fn responses() {
        // slapd's success: messageID 1, resultCode 0, empty DN and message, responseName.
        let mut ok = vec![
            0x02, 0x01, 0x01, 0x78, 0x1f, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00, 0x8a, 0x16,
        ];
        ok.extend_from_slice(OID);
        assert_eq!(
            parse(&ok),
            Some(Response {
                message_id: 1,
                result: 0,
                diagnostic: String::new()
            })
        );

        // A refusal with a message, long-form lengths.
        let msg = b"TLS not configured";
        let mut op = vec![0x0a, 0x01, 0x34, 0x04, 0x00, 0x04, msg.len() as u8];
        op.extend_from_slice(msg);
        let mut body = vec![0x02, 0x01, 0x01, 0x78, 0x81, op.len() as u8];
        body.extend_from_slice(&op);
        assert_eq!(
            parse(&body),
            Some(Response {
                message_id: 1,
                result: 52,
                diagnostic: "TLS not configured".into()
            })
        );

        for bad in [
            &b""[..],
            &[0x02, 0x01],                            // truncated
            &[0x02, 0x01, 0x01, 0x61, 0x00],          // a BindResponse
            &[0x02, 0x01, 0x01, 0x78, 0x80, 0x00],    // indefinite length
            &[0x02, 0x05, 1, 2, 3, 4, 5, 0x78, 0x00], // a five-byte messageID
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lengths() {
        assert_eq!(length(&[0x05, 9]), Some((5, &[9][..])));
        assert_eq!(length(&[0x82, 0x01, 0x00]), Some((256, &[][..])));
        assert_eq!(length(&[0x80]), None);
        assert_eq!(length(&[0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(length(&[0x82, 0x01]), None);
    }
}
