//! WebSocket (RFC 6455) as plain data: the server's codec, with no nginx
//! and no Python in it.
//!
//! - [`frame`]: frame headers, masking, the streaming decoder of client
//!   frames, the encoders of server (and client) frames;
//! - [`message`]: the [`Reader`], client bytes in, whole [`Message`]s out:
//!   fragments reassembled, text checked as UTF-8 as it arrives, a size
//!   limit per message;
//! - [`close`]: close codes and the Close frame's payload;
//! - [`ProtocolError`]: every way a client can break the protocol, with the
//!   close code to fail the connection with (1002, 1007, 1009).

pub mod close;
mod error;
pub mod frame;
pub mod message;

pub use close::CloseFrame;
pub use error::{EncodeError, ProtocolError};
pub use frame::{encode_frame, FrameHeader, OpCode};
pub use message::{Message, Reader};
