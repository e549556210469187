//! What can go wrong: [`ProtocolError`], a peer breaking RFC 6455, with the
//! close code the connection must be failed with; [`EncodeError`], a frame
//! this side was asked to send that the protocol does not allow.

use std::fmt;

use super::close;
use super::frame::{OpCode, MAX_CONTROL_PAYLOAD};

/// The peer broke the protocol. The connection must be failed (RFC 6455
/// §7.1.7): send a Close frame with [`close_code`](Self::close_code) if
/// possible, then close the TCP connection. Nothing after the offending
/// byte is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// A client frame without the MASK bit (§5.1).
    Unmasked,
    /// RSV1-3 not zero, as `0b0xyz` (RSV1 is 4): no extension was negotiated.
    ReservedBits(u8),
    /// An opcode RFC 6455 reserves (3-7, 0xB-0xF).
    UnknownOpcode(u8),
    /// A Close, Ping or Pong frame without FIN (§5.5).
    FragmentedControl(OpCode),
    /// A Close, Ping or Pong frame whose 7-bit length says more than 125
    /// bytes, or announces a 16- or 64-bit length (§5.5).
    ControlTooLong(OpCode),
    /// A 64-bit payload length with its most significant bit set (§5.2).
    LengthOverflow,
    /// A continuation frame with no message to continue (§5.4).
    UnexpectedContinuation,
    /// A Text or Binary frame while a fragmented message is still open.
    UnfinishedMessage(OpCode),
    /// A text message that is not UTF-8: the bytes up to `valid_up_to` (of
    /// the message) are valid, the next ones cannot start or finish a
    /// character, or the message ends inside one (§8.1).
    InvalidUtf8 { valid_up_to: usize },
    /// A message would exceed `max` bytes: `len` is what it would reach
    /// with the frame just announced, before any of its payload is stored.
    MessageTooLarge { len: u64, max: usize },
    /// A Close payload of a single byte: a status code takes two (§5.5.1).
    CloseTooShort,
    /// A Close status code that must not be sent on the wire (§7.4).
    InvalidCloseCode(u16),
    /// A Close reason that is not UTF-8 (§5.5.1).
    InvalidCloseReason,
}

impl ProtocolError {
    /// The status code to close the connection with: 1002 (protocol
    /// error), 1007 (invalid data in a text message or close reason) or
    /// 1009 (message too big).
    pub fn close_code(&self) -> u16 {
        match self {
            ProtocolError::InvalidUtf8 { .. } | ProtocolError::InvalidCloseReason => {
                close::INVALID_PAYLOAD
            }
            ProtocolError::MessageTooLarge { .. } => close::MESSAGE_TOO_BIG,
            _ => close::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Unmasked => f.write_str("websocket client frame is not masked"),
            ProtocolError::ReservedBits(bits) => write!(
                f,
                "websocket frame has reserved bits {bits:#05b} set and no extension was negotiated"
            ),
            ProtocolError::UnknownOpcode(op) => {
                write!(f, "websocket frame has the reserved opcode {op:#x}")
            }
            ProtocolError::FragmentedControl(op) => {
                write!(f, "websocket {op:?} frame is fragmented (FIN not set)")
            }
            ProtocolError::ControlTooLong(op) => write!(
                f,
                "websocket {op:?} frame has a payload over {MAX_CONTROL_PAYLOAD} bytes"
            ),
            ProtocolError::LengthOverflow => {
                f.write_str("websocket frame length has its most significant bit set")
            }
            ProtocolError::UnexpectedContinuation => {
                f.write_str("websocket continuation frame with no message to continue")
            }
            ProtocolError::UnfinishedMessage(op) => write!(
                f,
                "websocket {op:?} frame while a fragmented message is unfinished"
            ),
            ProtocolError::InvalidUtf8 { valid_up_to } => write!(
                f,
                "websocket text message is not UTF-8 after byte {valid_up_to}"
            ),
            ProtocolError::MessageTooLarge { len, max } => write!(
                f,
                "websocket message of {len} bytes or more is over the limit of {max}"
            ),
            ProtocolError::CloseTooShort => {
                f.write_str("websocket close frame has a 1-byte payload")
            }
            ProtocolError::InvalidCloseCode(code) => {
                write!(
                    f,
                    "websocket close frame has the invalid status code {code}"
                )
            }
            ProtocolError::InvalidCloseReason => {
                f.write_str("websocket close frame reason is not UTF-8")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// A frame this side cannot send: the caller asked for something RFC 6455
/// forbids. Nothing is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A Close, Ping or Pong frame without FIN.
    FragmentedControl(OpCode),
    /// A Close, Ping or Pong payload of `len` bytes, over 125.
    ControlTooLong { opcode: OpCode, len: u64 },
    /// A payload length of 2^63 bytes or more.
    LengthOverflow(u64),
    /// A Close status code that must not be sent (see [`close::is_valid_code`]).
    InvalidCloseCode(u16),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::FragmentedControl(op) => {
                write!(f, "a websocket {op:?} frame cannot be fragmented")
            }
            EncodeError::ControlTooLong { opcode, len } => write!(
                f,
                "a websocket {opcode:?} frame carries at most {MAX_CONTROL_PAYLOAD} bytes, not {len}"
            ),
            EncodeError::LengthOverflow(len) => {
                write!(f, "a websocket frame cannot carry {len} bytes")
            }
            EncodeError::InvalidCloseCode(code) => {
                write!(f, "{code} is not a websocket close code that may be sent")
            }
        }
    }
}

impl std::error::Error for EncodeError {}
