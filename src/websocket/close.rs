//! The Close frame's payload (RFC 6455 §5.5.1, §7.4): an optional status
//! code (2 bytes, big-endian), then, only after a code, a UTF-8 reason.
//!
//! Which codes may be sent or received ([`is_valid_code`]): 1000-1003 and
//! 1007-1011 from RFC 6455, 1012-1014 registered with IANA since, 3000-3999
//! (registered by libraries and frameworks) and 4000-4999 (private use).
//! 1004 is reserved, and 1005, 1006 and 1015 stand for "no code", "closed
//! without a Close frame" and "TLS failure": values for an API, never for
//! the wire. Everything else below 5000 is unassigned, and 5000 and up does
//! not exist: a peer sending any of these is failed with 1002.
//!
//! ```
//! use ngx_http_wsgi_module::websocket::close::{encode_close, parse_close_payload, CloseFrame};
//!
//! let mut out = Vec::new();
//! encode_close(&mut out, Some((1000, "bye")))?;
//! assert_eq!(out, b"\x88\x05\x03\xe8bye");
//! let close = parse_close_payload(&out[2..]).unwrap();
//! assert_eq!(close, Some(CloseFrame { code: 1000, reason: "bye".into() }));
//! # Ok::<(), ngx_http_wsgi_module::websocket::EncodeError>(())
//! ```

use super::error::{EncodeError, ProtocolError};
use super::frame::{encode_frame, OpCode, MAX_CONTROL_PAYLOAD};

/// 1000: the purpose of the connection is fulfilled.
pub const NORMAL: u16 = 1000;
/// 1001: the endpoint goes away (server shutdown, page left).
pub const GOING_AWAY: u16 = 1001;
/// 1002: the peer broke the protocol.
pub const PROTOCOL_ERROR: u16 = 1002;
/// 1003: a kind of data the endpoint cannot accept.
pub const UNSUPPORTED_DATA: u16 = 1003;
/// 1005: no status code was in the Close frame (never sent).
pub const NO_STATUS: u16 = 1005;
/// 1006: the connection closed without a Close frame (never sent).
pub const ABNORMAL: u16 = 1006;
/// 1007: data inconsistent with its type (a text message that is not UTF-8).
pub const INVALID_PAYLOAD: u16 = 1007;
/// 1008: a message that violates the endpoint's policy.
pub const POLICY_VIOLATION: u16 = 1008;
/// 1009: a message too big to process.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// 1011: the server met an unexpected condition.
pub const INTERNAL_ERROR: u16 = 1011;

/// How long the server waits for the client's answer to its Close, and
/// how long an app may go on once its connection is over (milliseconds).
pub const CLOSE_WAIT_MS: u64 = 5_000;

/// The longest reason that fits a control frame after the 2-byte code.
pub const MAX_REASON_LEN: usize = MAX_CONTROL_PAYLOAD - 2;

/// A Close frame's status code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: u16,
    pub reason: String,
}

/// Whether `code` may appear in a Close frame (see the module docs).
pub fn is_valid_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Reads a received Close frame's payload: `None` for an empty one (the
/// peer gave no code; ASGI reports 1005).
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
    let (code, reason) = match payload {
        [] => return Ok(None),
        [_] => return Err(ProtocolError::CloseTooShort),
        [hi, lo, reason @ ..] => (u16::from_be_bytes([*hi, *lo]), reason),
    };
    if !is_valid_code(code) {
        return Err(ProtocolError::InvalidCloseCode(code));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
    Ok(Some(CloseFrame {
        code,
        reason: reason.to_owned(),
    }))
}

/// The longest start of `reason` that fits in a Close frame
/// ([`MAX_REASON_LEN`] bytes) and ends at a character boundary.
pub fn truncate_reason(reason: &str) -> &str {
    let mut end = reason.len().min(MAX_REASON_LEN);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// Appends a Close frame's payload to `out`: `code`, then `reason` cut by
/// [`truncate_reason`]. A code that may not be sent is an error, and
/// nothing is appended.
pub fn close_payload(out: &mut Vec<u8>, code: u16, reason: &str) -> Result<(), EncodeError> {
    if !is_valid_code(code) {
        return Err(EncodeError::InvalidCloseCode(code));
    }
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(truncate_reason(reason).as_bytes());
    Ok(())
}

/// Appends a server Close frame to `out`: with `Some((code, reason))` as
/// [`close_payload`] writes it, with `None` an empty payload (no code).
pub fn encode_close(out: &mut Vec<u8>, close: Option<(u16, &str)>) -> Result<(), EncodeError> {
    let mut payload = Vec::with_capacity(MAX_CONTROL_PAYLOAD);
    if let Some((code, reason)) = close {
        close_payload(&mut payload, code, reason)?;
    }
    encode_frame(out, OpCode::Close, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_codes() {
        // Autobahn's 7.7 cases, and the edges of each range.
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ] {
            assert!(is_valid_code(code), "{code}");
        }
        // Autobahn's 7.9 cases, and the other side of each edge.
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!is_valid_code(code), "{code}");
        }
    }

    #[test]
    fn received_payloads() {
        assert_eq!(parse_close_payload(b""), Ok(None));
        assert_eq!(
            parse_close_payload(b"\x03\xe8"),
            Ok(Some(CloseFrame {
                code: 1000,
                reason: String::new()
            }))
        );
        assert_eq!(
            parse_close_payload(&[b"\x0f\xa0", "caf\u{e9} \u{1F600}".as_bytes()].concat()),
            Ok(Some(CloseFrame {
                code: 4000,
                reason: "caf\u{e9} \u{1F600}".into()
            }))
        );
    }

    #[test]
    fn a_one_byte_payload_is_1002() {
        for b in [0u8, 0x03, 0xff] {
            let e = parse_close_payload(&[b]).unwrap_err();
            assert_eq!(e, ProtocolError::CloseTooShort);
            assert_eq!(e.close_code(), PROTOCOL_ERROR);
        }
    }

    #[test]
    fn codes_not_for_the_wire_are_1002() {
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend_from_slice(b"reason");
            let e = parse_close_payload(&payload).unwrap_err();
            assert_eq!(e, ProtocolError::InvalidCloseCode(code));
            assert_eq!(e.close_code(), 1002);
        }
    }

    #[test]
    fn a_reason_that_is_not_utf8_is_1007() {
        for reason in [
            &b"\xff"[..],
            b"ok\xc3",           // cut inside a character
            b"\xed\xa0\x80",     // a surrogate, U+D800
            b"\xc0\xaf",         // an overlong '/'
            b"\xf4\x90\x80\x80", // past U+10FFFF
        ] {
            let mut payload = vec![0x03, 0xe8];
            payload.extend_from_slice(reason);
            let e = parse_close_payload(&payload).unwrap_err();
            assert_eq!(e, ProtocolError::InvalidCloseReason);
            assert_eq!(e.close_code(), 1007);
        }
    }

    #[test]
    fn reasons_are_cut_at_a_character_boundary() {
        assert_eq!(truncate_reason("short"), "short");
        let fits = "a".repeat(MAX_REASON_LEN);
        assert_eq!(truncate_reason(&fits), fits);
        let over = "a".repeat(MAX_REASON_LEN + 1);
        assert_eq!(truncate_reason(&over).len(), MAX_REASON_LEN);
        // 122 ASCII bytes then a 2-byte character: it would end at 124.
        let two = format!("{}\u{e9}", "a".repeat(MAX_REASON_LEN - 1));
        assert_eq!(truncate_reason(&two), "a".repeat(MAX_REASON_LEN - 1));
        // Each phase of a 4-byte character against the limit.
        for pad in 0..4 {
            let s = format!(
                "{}{}",
                "b".repeat(MAX_REASON_LEN - 3 + pad),
                "\u{1F600}".repeat(2)
            );
            let cut = truncate_reason(&s);
            assert!(cut.len() <= MAX_REASON_LEN && cut.len() > MAX_REASON_LEN - 4);
            assert!(s.starts_with(cut));
            // The next character would not have fitted.
            let next = s[cut.len()..].chars().next().unwrap();
            assert!(cut.len() + next.len_utf8() > MAX_REASON_LEN);
        }
    }

    #[test]
    fn sent_frames() {
        let mut out = Vec::new();
        encode_close(&mut out, None).unwrap();
        assert_eq!(out, [0x88, 0x00]);

        out.clear();
        encode_close(&mut out, Some((1001, "going"))).unwrap();
        assert_eq!(out, b"\x88\x07\x03\xe9going");

        // A long reason is cut, so the frame stays a valid control frame.
        out.clear();
        let long = "\u{e9}".repeat(100); // 200 bytes
        encode_close(&mut out, Some((4999, &long))).unwrap();
        assert_eq!(out[1] as usize, 2 + 122);
        assert_eq!(
            parse_close_payload(&out[2..]),
            Ok(Some(CloseFrame {
                code: 4999,
                reason: "\u{e9}".repeat(61)
            }))
        );

        // A code that may not be sent: nothing is written.
        out.clear();
        for code in [1005, 1006, 1015, 0, 2000] {
            assert_eq!(
                encode_close(&mut out, Some((code, ""))),
                Err(EncodeError::InvalidCloseCode(code))
            );
            assert_eq!(
                close_payload(&mut out, code, "x"),
                Err(EncodeError::InvalidCloseCode(code))
            );
        }
        assert!(out.is_empty());
    }
}
