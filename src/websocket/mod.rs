//! WebSocket (RFC 6455) as plain data: the server's codec, with no nginx
//! and no Python in it.
//!
//! - [`frame`]: frame headers, masking, the streaming decoder of client
//!   frames, the encoders of server (and client) frames;
//! - [`close`]: close codes and the Close frame's payload;
//! - [`ProtocolError`]: every way a client can break the protocol, with the
//!   close code to fail the connection with.

pub mod close;
mod error;
pub mod frame;

pub use close::CloseFrame;
pub use error::{EncodeError, ProtocolError};
pub use frame::{encode_frame, FrameHeader, OpCode};
