//! WebSocket (RFC 6455) as plain data: the server's codec, with no nginx
//! and no Python in it, unit-tested and fuzzed (`fuzz/`).
//!
//! - [`handshake`]: is a request a valid upgrade, and the
//!   `Sec-WebSocket-Accept` and offered subprotocols for the `101`
//!   (SHA-1 and base64 are here too, private);
//! - [`frame`]: frame headers, masking, the streaming decoder of client
//!   frames, the encoders of server (and client) frames;
//! - [`message`]: the [`Reader`], client bytes in, whole [`Message`]s out:
//!   fragments reassembled, text checked as UTF-8 as it arrives, a size
//!   limit per message;
//! - [`close`]: close codes and the Close frame's payload;
//! - [`outbox`]: what is yet to be written, the server's control frames
//!   kept between the app's frames;
//! - [`ProtocolError`]: every way a client can break the protocol, with the
//!   close code to fail the connection with (1002, 1007, 1009).
//!
//! What it does not do: no extension is negotiated (no permessage-deflate;
//! RSV bits are refused), and it owns no socket. The nginx side reads and
//! writes the connection after the `101`, decides the timeouts, the
//! backpressure (stop reading while the app has not taken the last
//! message; stop taking `websocket.send` while the socket is full), the
//! answers (a Pong for each Ping, a Close for a Close or an error) and
//! when to close the TCP connection.
//!
//! How the nginx side drives it:
//!
//! ```
//! use ngx_http_wsgi_module::websocket::{close, encode_frame, Message, OpCode, Reader};
//! # use ngx_http_wsgi_module::websocket::frame::encode_masked_frame;
//!
//! let mut reader = Reader::new(1 << 20); // per connection, after the 101
//! let mut out = Vec::new(); // bytes to write to the socket
//!
//! // A read event: the socket gave these bytes (a ping, then "hi").
//! let mut buf = Vec::new();
//! # encode_masked_frame(&mut buf, true, OpCode::Ping, b"!", [1, 2, 3, 4]).unwrap();
//! # encode_masked_frame(&mut buf, true, OpCode::Text, b"hi", [5, 6, 7, 8]).unwrap();
//! let mut input = &mut buf[..];
//! while !input.is_empty() {
//!     match reader.read(input) {
//!         Ok((used, message)) => {
//!             input = &mut input[used..];
//!             match message {
//!                 None => {} // all used: wait for the next read event
//!                 Some(Message::Ping(payload)) => {
//!                     encode_frame(&mut out, OpCode::Pong, &payload).unwrap()
//!                 }
//!                 Some(Message::Pong(_)) => {}
//!                 Some(Message::Text(text)) => assert_eq!(text, "hi"), // websocket.receive
//!                 Some(Message::Binary(_)) => {}                      // websocket.receive
//!                 Some(Message::Close(frame)) => {
//!                     // websocket.disconnect (code 1005 for None); echo the code.
//!                     let code = frame.map_or(close::NORMAL, |f| f.code);
//!                     close::encode_close(&mut out, Some((code, ""))).unwrap();
//!                 }
//!             }
//!         }
//!         Err(e) => {
//!             // Fail the connection: a Close with the error's code, then close.
//!             close::encode_close(&mut out, Some((e.close_code(), ""))).unwrap();
//!             break;
//!         }
//!     }
//! }
//! assert_eq!(out, b"\x8a\x01!");
//!
//! // websocket.send {"text": ...}: one final, unmasked frame.
//! out.clear();
//! encode_frame(&mut out, OpCode::Text, "héllo".as_bytes()).unwrap();
//! assert_eq!(out, b"\x81\x06h\xc3\xa9llo");
//! // websocket.close {"code": 1000, "reason": ...}
//! out.clear();
//! close::encode_close(&mut out, Some((1000, "done"))).unwrap();
//! assert_eq!(out, b"\x88\x06\x03\xe8done");
//! ```
//!
//! A large `websocket.send` need not be copied: send the header alone,
//! `FrameHeader::new(OpCode::Binary, len).encode()`, then the payload from
//! the Python bytes object.

mod base64;
pub mod close;
mod error;
pub mod frame;
pub mod handshake;
pub mod message;
pub mod outbox;
mod sha1;

pub use close::CloseFrame;
pub use error::{EncodeError, ProtocolError};
pub use frame::{encode_frame, FrameHeader, OpCode};
pub use handshake::{check_request, Handshake, HandshakeError};
pub use message::{Message, Reader};
pub use outbox::Outbox;
