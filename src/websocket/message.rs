//! Messages out of frames (RFC 6455 §5.4, §5.6): a [`Reader`] turns the
//! bytes a client sent into [`Message`]s.
//!
//! A data message is a Text or Binary frame, then continuation frames up to
//! the one with FIN; Close, Ping and Pong frames may come between the
//! fragments and are messages of their own. The reader refuses, with the
//! close code the connection is to be failed with ([`ProtocolError::close_code`]):
//!
//! - a continuation with no message to continue, or a Text or Binary frame
//!   while a message is unfinished (1002);
//! - a text message that is not UTF-8 (1007). The check runs as the bytes
//!   arrive, so a message fails at its first byte that cannot be part of a
//!   character, even in the middle of a frame, and a character may be
//!   split between fragments; a message that ends inside a character fails
//!   at its end;
//! - a message over `max_message_size` bytes, counted across its fragments
//!   (1009). The check uses the length each frame's header announces,
//!   before any of that frame's payload is stored: a client cannot make the
//!   server hold more than `max_message_size` bytes for it;
//! - a Close frame whose payload [`parse_close_payload`] refuses (1002 or
//!   1007), and everything [`FrameDecoder`] refuses (1002).
//!
//! After a Close message the reader is done: whatever follows is ignored,
//! the caller answers with its own Close and closes the connection.
//!
//! ```
//! use ngx_http_wsgi_module::websocket::frame::{encode_masked_frame, OpCode};
//! use ngx_http_wsgi_module::websocket::message::{Message, Reader};
//!
//! let mut wire = Vec::new(); // what a client sends: "Hel", a ping, "lo"
//! encode_masked_frame(&mut wire, false, OpCode::Text, b"Hel", [1, 2, 3, 4])?;
//! encode_masked_frame(&mut wire, true, OpCode::Ping, b"?", [5, 6, 7, 8])?;
//! encode_masked_frame(&mut wire, true, OpCode::Continuation, b"lo", [9, 9, 9, 9])?;
//!
//! let mut reader = Reader::new(1 << 20);
//! let mut input = &mut wire[..]; // nginx: the bytes of one read
//! let mut got = Vec::new();
//! while !input.is_empty() {
//!     let (used, message) = reader.read(input).expect("a valid stream");
//!     input = &mut input[used..];
//!     got.extend(message);
//! }
//! assert_eq!(got, [Message::Ping(b"?".to_vec()), Message::Text("Hello".into())]);
//! # Ok::<(), ngx_http_wsgi_module::websocket::EncodeError>(())
//! ```

use super::close::{parse_close_payload, CloseFrame};
use super::error::ProtocolError;
use super::frame::{FrameDecoder, FrameEvent, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD};

/// What a client sent, whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Binary(Vec<u8>),
    /// A Ping's payload: answer with a Pong that carries it.
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The client closes, with a code and reason or (`None`) without.
    Close(Option<CloseFrame>),
}

/// A data message being reassembled.
#[derive(Debug)]
struct Partial {
    text: bool,
    data: Vec<u8>,
    /// How much of `data` is known to be UTF-8 (text only); the rest is at
    /// most the first 3 bytes of a character.
    valid_up_to: usize,
}

impl Partial {
    /// Checks the bytes added since the last check: they may end inside a
    /// character, but nothing so far may be impossible.
    fn check_utf8(&mut self) -> Result<(), ProtocolError> {
        match std::str::from_utf8(&self.data[self.valid_up_to..]) {
            Ok(_) => self.valid_up_to = self.data.len(),
            // `error_len() == None`: the bytes end inside a character that
            // the next ones may finish.
            Err(e) if e.error_len().is_none() => self.valid_up_to += e.valid_up_to(),
            Err(e) => {
                return Err(ProtocolError::InvalidUtf8 {
                    valid_up_to: self.valid_up_to + e.valid_up_to(),
                })
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Message, ProtocolError> {
        if !self.text {
            return Ok(Message::Binary(self.data));
        }
        String::from_utf8(self.data)
            .map(Message::Text)
            .map_err(|e| ProtocolError::InvalidUtf8 {
                valid_up_to: e.utf8_error().valid_up_to(),
            })
    }
}

/// The frame whose payload is arriving.
#[derive(Debug)]
enum Current {
    Between,
    /// A fragment of `Assembler::message`.
    Data {
        fin: bool,
    },
    Control {
        opcode: OpCode,
        payload: Vec<u8>,
    },
}

/// Reassembles the decoder's events into messages. The decoder's order
/// (Header, Payload..., End) is assumed, as [`Reader`] guarantees.
#[derive(Debug)]
struct Assembler {
    max_message_size: usize,
    message: Option<Partial>,
    frame: Current,
}

impl Assembler {
    fn new(max_message_size: usize) -> Assembler {
        Assembler {
            max_message_size,
            message: None,
            frame: Current::Between,
        }
    }

    /// Refuses a frame of `header` that would bring a message of `have`
    /// bytes over the limit.
    fn check_size(&self, have: usize, header: &FrameHeader) -> Result<(), ProtocolError> {
        let len = (have as u64).saturating_add(header.payload_len);
        if len > self.max_message_size as u64 {
            return Err(ProtocolError::MessageTooLarge {
                len,
                max: self.max_message_size,
            });
        }
        Ok(())
    }

    fn push(&mut self, event: FrameEvent<'_>) -> Result<Option<Message>, ProtocolError> {
        match event {
            FrameEvent::Header(h) => {
                self.start(&h)?;
                Ok(None)
            }
            FrameEvent::Payload(bytes) => {
                match (&mut self.frame, &mut self.message) {
                    (Current::Control { payload, .. }, _) => payload.extend_from_slice(bytes),
                    (Current::Data { .. }, Some(m)) => {
                        m.data.extend_from_slice(bytes);
                        if m.text {
                            m.check_utf8()?;
                        }
                    }
                    // Not reached: a payload follows its header.
                    _ => {}
                }
                Ok(None)
            }
            FrameEvent::End => match std::mem::replace(&mut self.frame, Current::Between) {
                Current::Control { opcode, payload } => Ok(Some(match opcode {
                    OpCode::Ping => Message::Ping(payload),
                    OpCode::Pong => Message::Pong(payload),
                    _ => Message::Close(parse_close_payload(&payload)?),
                })),
                Current::Data { fin: true } => match self.message.take() {
                    Some(m) => m.finish().map(Some),
                    None => Ok(None),
                },
                Current::Data { fin: false } | Current::Between => Ok(None),
            },
        }
    }

    fn start(&mut self, h: &FrameHeader) -> Result<(), ProtocolError> {
        self.frame = match h.opcode {
            OpCode::Close | OpCode::Ping | OpCode::Pong => Current::Control {
                opcode: h.opcode,
                // The decoder refused longer control frames.
                payload: Vec::with_capacity(MAX_CONTROL_PAYLOAD.min(h.payload_len as usize)),
            },
            OpCode::Continuation => {
                let Some(m) = &self.message else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                self.check_size(m.data.len(), h)?;
                Current::Data { fin: h.fin }
            }
            OpCode::Text | OpCode::Binary => {
                if self.message.is_some() {
                    return Err(ProtocolError::UnfinishedMessage(h.opcode));
                }
                self.check_size(0, h)?;
                self.message = Some(Partial {
                    text: h.opcode == OpCode::Text,
                    data: Vec::new(),
                    valid_up_to: 0,
                });
                Current::Data { fin: h.fin }
            }
        };
        Ok(())
    }
}

/// The inbound side of a server's WebSocket connection: client bytes in,
/// messages out (see the module docs).
#[derive(Debug)]
pub struct Reader {
    frames: FrameDecoder,
    messages: Assembler,
    closed: bool,
    failed: Option<ProtocolError>,
}

impl Reader {
    /// A reader that refuses messages over `max_message_size` bytes.
    pub fn new(max_message_size: usize) -> Reader {
        Reader {
            frames: FrameDecoder::new(),
            messages: Assembler::new(max_message_size),
            closed: false,
            failed: None,
        }
    }

    /// Reads from `input` up to the end of the next message, and returns
    /// how many bytes it used and that message. `None` means all of
    /// `input` was used (a partial frame is kept, or its payload stored)
    /// and no message is complete yet: read more from the socket. With a
    /// message, call again with the rest of `input`, or stop reading for a
    /// while (backpressure): the rest stays the caller's.
    ///
    /// The bytes used are changed (unmasked in place). After a Close
    /// message every byte is used and ignored. An error is final: the
    /// same error is returned from then on.
    pub fn read(&mut self, input: &mut [u8]) -> Result<(usize, Option<Message>), ProtocolError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.closed {
            return Ok((input.len(), None));
        }
        let mut used = 0;
        loop {
            let step = self
                .frames
                .decode(&mut input[used..])
                .and_then(|(n, event)| match event {
                    None => Ok((n, None, true)),
                    Some(event) => self.messages.push(event).map(|m| (n, m, false)),
                });
            let (n, message, starved) = match step {
                Ok(step) => step,
                Err(e) => {
                    self.failed = Some(e.clone());
                    return Err(e);
                }
            };
            used += n;
            if let Some(message) = message {
                self.closed = matches!(message, Message::Close(_));
                return Ok((used, Some(message)));
            }
            if starved {
                return Ok((used, None));
            }
        }
    }

    /// A Close message was read.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// No frame or message is partly read: a client that closes its side
    /// here has not cut anything short.
    pub fn is_idle(&self) -> bool {
        self.frames.is_idle() && self.messages.message.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::close;
    use crate::websocket::frame::encode_masked_frame;

    /// What the tests compare: the messages read, then the error if any.
    type Outcome = (Vec<Message>, Option<ProtocolError>);

    /// Feeds `pieces` to a reader one after another, reading every message.
    fn read_pieces(max: usize, pieces: &[&[u8]]) -> Outcome {
        let mut reader = Reader::new(max);
        let mut messages = Vec::new();
        for piece in pieces {
            let mut buf = piece.to_vec();
            let mut input = &mut buf[..];
            loop {
                match reader.read(input) {
                    Err(e) => {
                        // Final: asked again, the same error.
                        assert_eq!(reader.read(&mut [0x81]), Err(e.clone()));
                        return (messages, Some(e));
                    }
                    Ok((used, message)) => {
                        input = &mut input[used..];
                        match message {
                            Some(m) => messages.push(m),
                            None => {
                                assert!(input.is_empty(), "None before the input was used");
                                break;
                            }
                        }
                    }
                }
            }
        }
        (messages, None)
    }

    fn read_all(max: usize, wire: &[u8]) -> Outcome {
        read_pieces(max, &[wire])
    }

    /// A client's bytes for these frames, each with its own mask.
    fn client(frames: &[(bool, OpCode, &[u8])]) -> Vec<u8> {
        let mut wire = Vec::new();
        for (i, (fin, op, payload)) in frames.iter().enumerate() {
            let mask = [0x11 * i as u8, 0xA5, 0x3C, 0x7E ^ i as u8];
            encode_masked_frame(&mut wire, *fin, *op, payload, mask).unwrap();
        }
        wire
    }

    const MAX: usize = 1 << 16;

    fn text(s: &str) -> Message {
        Message::Text(s.into())
    }

    fn fails_with(wire: &[u8], code: u16) -> ProtocolError {
        let (_, err) = read_all(MAX, wire);
        let err = err.expect("accepted");
        assert_eq!(err.close_code(), code, "{err}");
        err
    }

    // ---- reassembly ----

    #[test]
    fn single_frames() {
        let wire = client(&[
            (true, OpCode::Text, b"Hello"),
            (true, OpCode::Binary, b"\x00\xff"),
            (true, OpCode::Text, b""),
            (true, OpCode::Binary, b""),
            (true, OpCode::Ping, b"p"),
            (true, OpCode::Pong, b""),
        ]);
        assert_eq!(
            read_all(MAX, &wire),
            (
                vec![
                    text("Hello"),
                    Message::Binary(vec![0, 255]),
                    text(""),
                    Message::Binary(vec![]),
                    Message::Ping(b"p".to_vec()),
                    Message::Pong(vec![]),
                ],
                None
            )
        );
    }

    #[test]
    fn fragments_with_control_frames_between() {
        let wire = client(&[
            (false, OpCode::Text, b"Hel"),
            (true, OpCode::Ping, b"1"),
            (false, OpCode::Continuation, b""),
            (true, OpCode::Pong, b"2"),
            (true, OpCode::Ping, b"3"),
            (true, OpCode::Continuation, b"lo"),
            (false, OpCode::Binary, b"\x01"),
            (false, OpCode::Continuation, b"\x02"),
            (true, OpCode::Continuation, b"\x03"),
        ]);
        assert_eq!(
            read_all(MAX, &wire),
            (
                vec![
                    Message::Ping(b"1".to_vec()),
                    Message::Pong(b"2".to_vec()),
                    Message::Ping(b"3".to_vec()),
                    text("Hello"),
                    Message::Binary(vec![1, 2, 3]),
                ],
                None
            )
        );
    }

    #[test]
    fn a_continuation_without_a_start_is_1002() {
        for wire in [
            client(&[(true, OpCode::Continuation, b"x")]),
            client(&[(false, OpCode::Continuation, b"x")]),
            // After a finished message.
            client(&[
                (true, OpCode::Text, b"a"),
                (true, OpCode::Continuation, b"b"),
            ]),
            // After a control frame alone.
            client(&[(true, OpCode::Ping, b""), (true, OpCode::Continuation, b"")]),
        ] {
            assert_eq!(
                fails_with(&wire, 1002),
                ProtocolError::UnexpectedContinuation
            );
        }
        // The message before it was delivered.
        let wire = client(&[
            (true, OpCode::Text, b"a"),
            (true, OpCode::Continuation, b"b"),
        ]);
        assert_eq!(read_all(MAX, &wire).0, [text("a")]);
    }

    #[test]
    fn a_new_message_inside_one_is_1002() {
        for (first, second) in [
            (OpCode::Text, OpCode::Text),
            (OpCode::Text, OpCode::Binary),
            (OpCode::Binary, OpCode::Text),
            (OpCode::Binary, OpCode::Binary),
        ] {
            for fin in [false, true] {
                let wire = client(&[(false, first, b"a"), (fin, second, b"b")]);
                assert_eq!(
                    fails_with(&wire, 1002),
                    ProtocolError::UnfinishedMessage(second)
                );
            }
        }
    }

    // ---- size limit ----

    #[test]
    fn the_size_limit_counts_every_fragment() {
        let max = 10;
        let at = client(&[
            (false, OpCode::Binary, b"0123"),
            (false, OpCode::Continuation, b""),
            (true, OpCode::Continuation, b"456789"),
        ]);
        assert_eq!(
            read_all(max, &at),
            (vec![Message::Binary(b"0123456789".to_vec())], None)
        );
        let over = client(&[
            (false, OpCode::Text, b"0123"),
            (true, OpCode::Ping, b"control frames do not count"),
            (true, OpCode::Continuation, b"4567890"),
        ]);
        let (got, err) = read_all(max, &over);
        assert_eq!(
            got,
            [Message::Ping(b"control frames do not count".to_vec())]
        );
        let err = err.unwrap();
        assert_eq!(err, ProtocolError::MessageTooLarge { len: 11, max: 10 });
        assert_eq!(err.close_code(), 1009);
        // One frame over.
        let one = client(&[(true, OpCode::Binary, &[0; 11])]);
        assert_eq!(
            read_all(max, &one).1,
            Some(ProtocolError::MessageTooLarge { len: 11, max: 10 })
        );
        // A limit of 0 takes empty messages only.
        assert_eq!(
            read_all(0, &client(&[(true, OpCode::Text, b"")])).0,
            [text("")]
        );
        assert!(read_all(0, &client(&[(true, OpCode::Text, b"x")]))
            .1
            .is_some());
    }

    #[test]
    fn the_limit_is_checked_from_the_header_alone() {
        // A header announcing 2^62 bytes, with no payload behind it.
        let mut wire = vec![0x82, 0xFF];
        wire.extend((1u64 << 62).to_be_bytes());
        wire.extend([1, 2, 3, 4]);
        let (got, err) = read_all(MAX, &wire);
        assert!(got.is_empty());
        assert_eq!(
            err,
            Some(ProtocolError::MessageTooLarge {
                len: 1 << 62,
                max: MAX
            })
        );
        // The same for a continuation that would overflow what is held.
        let mut wire = client(&[(false, OpCode::Binary, &[0; 100])]);
        wire.extend([0x00, 0xFF]);
        wire.extend(((1u64 << 63) - 1).to_be_bytes());
        wire.extend([1, 2, 3, 4]);
        assert_eq!(
            read_all(MAX, &wire).1,
            Some(ProtocolError::MessageTooLarge {
                len: (1 << 63) + 99,
                max: MAX
            })
        );
    }

    // ---- UTF-8 ----

    /// Text made of characters of every width, to split everywhere.
    const WIDE: &str = "a\u{7f}\u{80}\u{e9}\u{7ff}\u{800}\u{20ac}\u{d7ff}\u{e000}\u{fffd}\u{ffff}\u{10000}\u{1F600}\u{10FFFF}z";

    #[test]
    fn a_character_may_be_split_between_fragments() {
        let bytes = WIDE.as_bytes();
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let wire = client(&[
                    (false, OpCode::Text, &bytes[..i]),
                    (false, OpCode::Continuation, &bytes[i..j]),
                    (true, OpCode::Continuation, &bytes[j..]),
                ]);
                assert_eq!(read_all(MAX, &wire), (vec![text(WIDE)], None), "{i} {j}");
            }
        }
    }

    /// Invalid sequences, as (valid prefix, bad bytes).
    const INVALID: &[(&[u8], &[u8])] = &[
        (b"", b"\x80"),                 // a continuation byte first
        (b"ok", b"\xbf"),               // a lone continuation byte
        (b"", b"\xc0\x80"),             // overlong NUL
        (b"", b"\xc1\xbf"),             // overlong 2-byte
        (b"", b"\xe0\x80\xaf"),         // overlong 3-byte '/'
        (b"", b"\xf0\x80\x80\xaf"),     // overlong 4-byte '/'
        (b"\xce\xba", b"\xed\xa0\x80"), // U+D800, a surrogate
        (b"", b"\xed\xbf\xbf"),         // U+DFFF
        (b"", b"\xf4\x90\x80\x80"),     // U+110000, past the last
        (b"", b"\xf5\x80\x80\x80"),     // a byte that never appears
        (b"", b"\xff"),
        (b"", b"\xe2\x82x"), // a character cut by ASCII
    ];

    #[test]
    fn invalid_text_is_1007() {
        for (prefix, bad) in INVALID {
            let mut payload = prefix.to_vec();
            payload.extend_from_slice(bad);
            payload.extend_from_slice(b"tail");
            let err = fails_with(&client(&[(true, OpCode::Text, &payload)]), 1007);
            assert_eq!(
                err,
                ProtocolError::InvalidUtf8 {
                    valid_up_to: prefix.len()
                },
                "{payload:x?}"
            );
            // Binary messages are not checked.
            let wire = client(&[(true, OpCode::Binary, &payload)]);
            assert_eq!(read_all(MAX, &wire), (vec![Message::Binary(payload)], None));
        }
    }

    #[test]
    fn text_ending_inside_a_character_is_1007() {
        for cut in ["\u{e9}", "\u{20ac}", "\u{1F600}"] {
            let bytes = cut.as_bytes();
            for keep in 1..bytes.len() {
                let mut payload = b"abc".to_vec();
                payload.extend_from_slice(&bytes[..keep]);
                // In one frame, and with the last fragment empty.
                for wire in [
                    client(&[(true, OpCode::Text, &payload)]),
                    client(&[
                        (false, OpCode::Text, &payload),
                        (true, OpCode::Continuation, b""),
                    ]),
                ] {
                    let err = fails_with(&wire, 1007);
                    assert_eq!(err, ProtocolError::InvalidUtf8 { valid_up_to: 3 });
                }
            }
        }
    }

    #[test]
    fn invalid_text_fails_before_the_message_ends() {
        // Autobahn 6.4.1-6.4.2: a valid first fragment, an invalid one,
        // then (never needed) the rest.
        let greek = "\u{3ba}\u{1f79}\u{3c3}\u{3bc}\u{3b5}".as_bytes();
        for (prefix, bad) in INVALID {
            let wire = client(&[
                (false, OpCode::Text, greek),
                (false, OpCode::Continuation, &[prefix, *bad].concat()),
            ]);
            let (_, err) = read_all(MAX, &wire);
            assert_eq!(
                err,
                Some(ProtocolError::InvalidUtf8 {
                    valid_up_to: greek.len() + prefix.len()
                })
            );
        }
        // Autobahn 6.4.3-6.4.4: in the middle of one frame, as soon as the
        // bad bytes arrive, with the frame's end still to come.
        let mut payload = greek.to_vec();
        payload.extend_from_slice(b"\xf4\x90\x80\x80");
        payload.extend_from_slice(&[b'x'; 50]);
        let wire = client(&[(true, OpCode::Text, &payload)]);
        // The header (6 bytes), the Greek, then 0xF4 0x90: no character
        // starts so, whatever follows.
        let upto = 6 + greek.len() + 2;
        let (_, err) = read_pieces(MAX, &[&wire[..upto]]);
        assert_eq!(
            err,
            Some(ProtocolError::InvalidUtf8 {
                valid_up_to: greek.len()
            })
        );
        // With 0xF4 alone it is still a possible start of a character.
        assert_eq!(read_pieces(MAX, &[&wire[..upto - 1]]), (vec![], None));
    }

    // ---- Close ----

    #[test]
    fn close_messages() {
        let wire = client(&[(true, OpCode::Close, b"")]);
        assert_eq!(read_all(MAX, &wire), (vec![Message::Close(None)], None));
        let wire = client(&[(true, OpCode::Close, b"\x0f\xa0bye")]);
        assert_eq!(
            read_all(MAX, &wire),
            (
                vec![Message::Close(Some(close::CloseFrame {
                    code: 4000,
                    reason: "bye".into()
                }))],
                None
            )
        );
        assert_eq!(
            fails_with(&client(&[(true, OpCode::Close, b"\x03")]), 1002),
            ProtocolError::CloseTooShort
        );
        assert_eq!(
            fails_with(&client(&[(true, OpCode::Close, b"\x03\xed")]), 1002),
            ProtocolError::InvalidCloseCode(1005)
        );
        assert_eq!(
            fails_with(&client(&[(true, OpCode::Close, b"\x03\xe8\xff")]), 1007),
            ProtocolError::InvalidCloseReason
        );
    }

    #[test]
    fn nothing_is_read_after_a_close() {
        let mut wire = client(&[
            (true, OpCode::Text, b"before"),
            (true, OpCode::Close, b"\x03\xe8"),
            (true, OpCode::Text, b"after"),
        ]);
        wire.extend(b"\xff\xff not even a frame");
        let mut reader = Reader::new(MAX);
        let (n, m) = reader.read(&mut wire).unwrap();
        assert_eq!(m, Some(text("before")));
        let (n2, m) = reader.read(&mut wire[n..]).unwrap();
        assert!(matches!(m, Some(Message::Close(Some(_)))));
        assert!(reader.is_closed());
        let rest = wire.len() - n - n2;
        assert!(rest > 20);
        assert_eq!(reader.read(&mut wire[n + n2..]), Ok((rest, None)));
    }

    #[test]
    fn idle_between_messages_only() {
        let wire = client(&[
            (false, OpCode::Text, b"ab"),
            (true, OpCode::Continuation, b"c"),
        ]);
        let mut reader = Reader::new(MAX);
        assert!(reader.is_idle());
        for cut in 1..wire.len() {
            let mut reader = Reader::new(MAX);
            let mut head = wire[..cut].to_vec();
            assert_eq!(reader.read(&mut head), Ok((cut, None)));
            // Between the two frames (cut 8) no frame is open, but the
            // message is.
            assert!(!reader.is_idle(), "{cut}");
        }
        let mut all = wire.clone();
        assert_eq!(reader.read(&mut all), Ok((wire.len(), Some(text("abc")))));
        assert!(reader.is_idle());
    }

    // ---- randomized, fixed seeds ----

    /// xorshift64*: small and good enough to drive test data.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn chance(&mut self, one_in: usize) -> bool {
            self.below(one_in) == 0
        }
        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
        fn len(&mut self) -> usize {
            match self.below(10) {
                0 => self.below(70_000),
                1..=3 => 0,
                _ => self.below(200),
            }
        }
        fn text(&mut self, chars: usize) -> String {
            (0..chars)
                .map(|_| loop {
                    let c = match self.below(4) {
                        0 => self.below(0x80) as u32,
                        1 => self.below(0x800) as u32,
                        2 => self.below(0x10000) as u32,
                        _ => self.below(0x110000) as u32,
                    };
                    if let Some(c) = char::from_u32(c) {
                        break c;
                    }
                })
                .collect()
        }
        /// Cut points of `len` bytes into `n` pieces (some empty).
        fn cuts(&mut self, len: usize, n: usize) -> Vec<usize> {
            let mut cuts: Vec<usize> = (0..n.saturating_sub(1))
                .map(|_| self.below(len + 1))
                .collect();
            cuts.push(0);
            cuts.push(len);
            cuts.sort_unstable();
            cuts
        }
    }

    /// A client's random session: the bytes, and the messages they carry.
    fn random_session(rng: &mut Rng) -> (Vec<u8>, Vec<Message>) {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        fn control(rng: &mut Rng, wire: &mut Vec<u8>, expected: &mut Vec<Message>) {
            let len = rng.below(MAX_CONTROL_PAYLOAD + 1);
            let payload = rng.bytes(len);
            let mask = rng.bytes(4).try_into().unwrap();
            let ping = rng.chance(2);
            let op = if ping { OpCode::Ping } else { OpCode::Pong };
            encode_masked_frame(wire, true, op, &payload, mask).unwrap();
            expected.push(if ping {
                Message::Ping(payload)
            } else {
                Message::Pong(payload)
            });
        }
        for _ in 0..rng.below(12) {
            if rng.chance(4) {
                control(rng, &mut wire, &mut expected);
                continue;
            }
            let is_text = rng.chance(2);
            let (payload, message) = if is_text {
                let len = rng.len();
                let s = rng.text(len / 3);
                (s.clone().into_bytes(), Message::Text(s))
            } else {
                let len = rng.len();
                let b = rng.bytes(len);
                (b.clone(), Message::Binary(b))
            };
            let fragments = if rng.chance(2) { 1 } else { 1 + rng.below(6) };
            let cuts = rng.cuts(payload.len(), fragments);
            for (k, w) in cuts.windows(2).enumerate() {
                if k > 0 && rng.chance(3) {
                    control(rng, &mut wire, &mut expected);
                }
                let op = match (k, is_text) {
                    (0, true) => OpCode::Text,
                    (0, false) => OpCode::Binary,
                    _ => OpCode::Continuation,
                };
                let fin = k + 2 == cuts.len();
                let mask = rng.bytes(4).try_into().unwrap();
                encode_masked_frame(&mut wire, fin, op, &payload[w[0]..w[1]], mask).unwrap();
            }
            expected.push(message);
        }
        if rng.chance(3) {
            let code = [1000u16, 1001, 3000, 4999][rng.below(4)];
            let chars = rng.below(40);
            let reason = rng.text(chars);
            let mut payload = Vec::new();
            close::close_payload(&mut payload, code, &reason).unwrap();
            let mask = rng.bytes(4).try_into().unwrap();
            encode_masked_frame(&mut wire, true, OpCode::Close, &payload, mask).unwrap();
            expected.push(Message::Close(Some(close::CloseFrame {
                code,
                reason: close::truncate_reason(&reason).into(),
            })));
        }
        (wire, expected)
    }

    /// `wire` cut into `n` random pieces.
    fn random_pieces<'a>(rng: &mut Rng, wire: &'a [u8], n: usize) -> Vec<&'a [u8]> {
        rng.cuts(wire.len(), n)
            .windows(2)
            .map(|w| &wire[w[0]..w[1]])
            .collect()
    }

    #[test]
    fn random_sessions_round_trip_in_any_pieces() {
        let mut rng = Rng(0x5EED_0005);
        let (mut fragmented, mut texts) = (0, 0);
        for _ in 0..400 {
            let (wire, expected) = random_session(&mut rng);
            texts += expected
                .iter()
                .filter(|m| matches!(m, Message::Text(_)))
                .count();
            assert_eq!(read_all(1 << 20, &wire), (expected.clone(), None));
            for n in [2, 3, 17] {
                let pieces = random_pieces(&mut rng, &wire, n);
                assert_eq!(read_pieces(1 << 20, &pieces), (expected.clone(), None));
            }
            if wire.len() < 300 {
                let singles: Vec<&[u8]> = wire.chunks(1).collect();
                assert_eq!(read_pieces(1 << 20, &singles), (expected.clone(), None));
            }
            fragmented += usize::from(wire.first().is_some_and(|b| b & 0x80 == 0));
        }
        assert!(fragmented > 50 && texts > 300, "{fragmented} {texts}");
    }

    #[test]
    fn random_damage_is_refused_the_same_in_any_pieces() {
        let mut rng = Rng(0x5EED_0006);
        let (mut refused, mut codes) = (0, std::collections::BTreeSet::new());
        for _ in 0..3000 {
            let (mut wire, _) = random_session(&mut rng);
            if wire.is_empty() {
                continue;
            }
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(wire.len());
                wire[i] ^= 1 << rng.below(8);
            }
            let max = if rng.chance(2) { 1 << 20 } else { 100 };
            let whole = read_all(max, &wire);
            let n = 1 + rng.below(8);
            let pieces = random_pieces(&mut rng, &wire, n);
            assert_eq!(read_pieces(max, &pieces), whole);
            if let Some(e) = &whole.1 {
                refused += 1;
                codes.insert(e.close_code());
            }
            // Whatever is accepted keeps to the limits.
            for m in &whole.0 {
                match m {
                    Message::Ping(p) | Message::Pong(p) => assert!(p.len() <= MAX_CONTROL_PAYLOAD),
                    Message::Text(s) => assert!(s.len() <= max),
                    Message::Binary(b) => assert!(b.len() <= max),
                    Message::Close(c) => {
                        assert!(c.as_ref().is_none_or(|c| close::is_valid_code(c.code)))
                    }
                }
            }
        }
        assert!(refused > 1000, "{refused}");
        assert_eq!(codes.into_iter().collect::<Vec<_>>(), [1002, 1007, 1009]);
    }
}
