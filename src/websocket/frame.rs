//! The frame (RFC 6455 §5.2): its header, masking, and a streaming decoder.
//!
//! ```text
//!  0               1               2               3
//!  F R R R opcode  M len7          extended length (16 or 64 bits,
//!  I S S S (4)     A (7)           big-endian) if len7 is 126 or 127
//!  N V V V         S
//!    1 2 3         K
//!  masking key (4 bytes) if MASK is set, then the payload
//! ```
//!
//! [`FrameHeader::parse`] reads a header and enforces what does not depend
//! on the peer's role: no RSV bits (no extension is ever negotiated), no
//! reserved opcode, control frames final and at most 125 bytes, a 64-bit
//! length below 2^63. Lengths need not be in their shortest form: a peer
//! that writes 5 as `126, 0, 5` is accepted (RFC 6455 asks the sender for
//! the minimal form and gives the receiver nothing to gain by refusing).
//!
//! [`FrameDecoder`] is the server's reader of client frames: it also
//! requires the MASK bit, and it streams. It takes whatever bytes the
//! socket gave, keeps at most the 13 bytes of an unfinished header, and
//! hands the payload back as [`FrameEvent::Payload`] slices of the caller's
//! own buffer, unmasked in place, as they arrive: nothing is buffered here,
//! so a frame that announces 2^62 bytes costs nothing until someone stores
//! its payload (the message layer checks its size limit against the
//! header before it stores a byte).
//!
//! Encoding: [`FrameHeader::encode`] gives the header alone in a small array
//! (send it, then the payload from where it is); [`encode_frame`] appends a
//! server frame (final, unmasked) to a `Vec`; [`encode_masked_frame`] a
//! client one.
//!
//! ```
//! use ngx_http_wsgi_module::websocket::frame::{encode_frame, FrameHeader, OpCode};
//!
//! let mut out = Vec::new();
//! encode_frame(&mut out, OpCode::Text, b"Hello")?;
//! assert_eq!(out, b"\x81\x05Hello"); // RFC 6455 §5.7
//!
//! let header = FrameHeader::new(OpCode::Binary, 256).encode()?;
//! assert_eq!(header.as_bytes(), [0x82, 0x7e, 0x01, 0x00]);
//! # Ok::<(), ngx_http_wsgi_module::websocket::EncodeError>(())
//! ```

use super::error::{EncodeError, ProtocolError};

/// The longest header: 2 bytes, a 64-bit length, a masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload of a Close, Ping or Pong frame.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The opcodes RFC 6455 defines; the others are reserved and refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

impl OpCode {
    /// The opcode of the 4-bit value `op`, if it is one RFC 6455 defines.
    pub fn from_u8(op: u8) -> Option<OpCode> {
        Some(match op {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// Close, Ping and Pong: the opcodes with the high bit set.
    pub fn is_control(self) -> bool {
        self as u8 & 0x8 != 0
    }
}

/// A frame header, without the RSV bits (always zero here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The last frame of its message (always set on control frames).
    pub fin: bool,
    pub opcode: OpCode,
    /// The masking key, on every client frame and on no server frame.
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
}

/// An encoded header: up to [`MAX_HEADER_LEN`] bytes, no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderBytes {
    bytes: [u8; MAX_HEADER_LEN],
    len: u8,
}

impl HeaderBytes {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl std::ops::Deref for HeaderBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl FrameHeader {
    /// A server frame's header: final, unmasked.
    pub fn new(opcode: OpCode, payload_len: usize) -> FrameHeader {
        FrameHeader {
            fin: true,
            opcode,
            mask: None,
            payload_len: payload_len as u64,
        }
    }

    /// Reads the header at the start of `buf`: `Ok(None)` while `buf` holds
    /// only part of it, else the header and its size in bytes (the payload
    /// follows). The rules that can be judged from the first byte (RSV
    /// bits, opcode, a fragmented control frame) fail as soon as that byte
    /// is there; a control frame's length as soon as the second is.
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x7;
        if rsv != 0 {
            return Err(ProtocolError::ReservedBits(rsv));
        }
        let opcode = OpCode::from_u8(b0 & 0x0F).ok_or(ProtocolError::UnknownOpcode(b0 & 0x0F))?;
        if opcode.is_control() && !fin {
            return Err(ProtocolError::FragmentedControl(opcode));
        }
        let Some(&b1) = buf.get(1) else {
            return Ok(None);
        };
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7F;
        if opcode.is_control() && len7 as usize > MAX_CONTROL_PAYLOAD {
            return Err(ProtocolError::ControlTooLong(opcode));
        }
        let ext_len = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header_len = 2 + ext_len + if masked { 4 } else { 0 };
        let Some(rest) = buf.get(2..header_len) else {
            return Ok(None);
        };
        let (ext, key) = rest.split_at(ext_len);
        let payload_len = if ext_len == 0 {
            len7 as u64
        } else {
            ext.iter().fold(0, |n, &b| n << 8 | u64::from(b))
        };
        if payload_len >> 63 != 0 {
            return Err(ProtocolError::LengthOverflow);
        }
        // `key` is 4 bytes, or none when MASK is clear.
        let mask = key.try_into().ok();
        let header = FrameHeader {
            fin,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, header_len)))
    }

    /// The header's bytes, in the shortest length form. Refuses what RFC
    /// 6455 forbids: a control frame without FIN or over 125 bytes, a
    /// length of 2^63 or more.
    pub fn encode(&self) -> Result<HeaderBytes, EncodeError> {
        let len = self.payload_len;
        if self.opcode.is_control() {
            if !self.fin {
                return Err(EncodeError::FragmentedControl(self.opcode));
            }
            if len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(EncodeError::ControlTooLong {
                    opcode: self.opcode,
                    len,
                });
            }
        }
        if len >> 63 != 0 {
            return Err(EncodeError::LengthOverflow(len));
        }
        let mut bytes = [0u8; MAX_HEADER_LEN];
        bytes[0] = (if self.fin { 0x80 } else { 0 }) | self.opcode as u8;
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut n = 2;
        if len <= 125 {
            bytes[1] = mask_bit | len as u8;
        } else if len <= u16::MAX as u64 {
            bytes[1] = mask_bit | 126;
            bytes[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            n = 4;
        } else {
            bytes[1] = mask_bit | 127;
            bytes[2..10].copy_from_slice(&len.to_be_bytes());
            n = 10;
        }
        if let Some(key) = self.mask {
            bytes[n..n + 4].copy_from_slice(&key);
            n += 4;
        }
        Ok(HeaderBytes {
            bytes,
            len: n as u8,
        })
    }
}

/// XORs `data` with the masking key (§5.3), `data` being the payload from
/// byte `offset` on: masking a payload in pieces, each with its offset,
/// gives the same bytes as masking it whole. Masking twice unmasks.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: u64) {
    let shift = (offset % 4) as usize;
    let key: [u8; 4] = std::array::from_fn(|i| mask[(i + shift) % 4]);
    // Eight bytes at a time with the key repeated; the key's phase is the
    // same at the start of every 8-byte chunk.
    let wide = u64::from_ne_bytes(std::array::from_fn(|i| key[i % 4]));
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// Appends a whole frame to `out`: the header of `header`, whose
/// `payload_len` is set from `payload`, then the payload, masked with
/// `header.mask` if there is one.
fn append_frame(
    out: &mut Vec<u8>,
    mut header: FrameHeader,
    payload: &[u8],
) -> Result<(), EncodeError> {
    header.payload_len = payload.len() as u64;
    let head = header.encode()?;
    out.reserve(head.len() + payload.len());
    out.extend_from_slice(&head);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(mask) = header.mask {
        apply_mask(&mut out[start..], mask, 0);
    }
    Ok(())
}

/// Appends a server frame to `out`: final, unmasked. On error (a control
/// payload over 125 bytes) nothing is appended.
pub fn encode_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) -> Result<(), EncodeError> {
    append_frame(out, FrameHeader::new(opcode, 0), payload)
}

/// Appends a client frame to `out`: `payload` masked with `mask`, FIN as
/// given (a message's fragments: the first with its opcode, the others
/// with `Continuation`, the last with `fin`). On error nothing is appended.
pub fn encode_masked_frame(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: OpCode,
    payload: &[u8],
    mask: [u8; 4],
) -> Result<(), EncodeError> {
    let header = FrameHeader {
        fin,
        opcode,
        mask: Some(mask),
        payload_len: 0,
    };
    append_frame(out, header, payload)
}

/// What [`FrameDecoder::decode`] found next.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameEvent<'a> {
    /// A frame starts; its payload follows in `Payload` events, then `End`.
    Header(FrameHeader),
    /// The next bytes of the current frame's payload, unmasked, in the
    /// caller's buffer. Never empty.
    Payload(&'a [u8]),
    /// The current frame's payload is complete (right after `Header` for
    /// an empty payload).
    End,
}

/// Where the decoder is in the current frame.
#[derive(Debug, Clone, Copy)]
struct InFrame {
    mask: Option<[u8; 4]>,
    remaining: u64,
    offset: u64,
}

/// The server's streaming reader of client frames (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct FrameDecoder {
    /// The start of a header that has not fully arrived.
    head: [u8; MAX_HEADER_LEN],
    head_len: usize,
    current: Option<InFrame>,
}

impl FrameDecoder {
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// Reads from `input` and returns how many of its bytes it used and the
    /// next event. `None` means every byte of `input` was used and more are
    /// needed; otherwise call again with the rest (an `End` uses no bytes,
    /// and can come with an empty `input`). A `Payload` is unmasked in
    /// place: the bytes it uses are changed.
    ///
    /// After an error the connection is to be failed; the decoder's state
    /// is not meant to be used again.
    pub fn decode<'a>(
        &mut self,
        input: &'a mut [u8],
    ) -> Result<(usize, Option<FrameEvent<'a>>), ProtocolError> {
        if let Some(frame) = &mut self.current {
            if frame.remaining == 0 {
                self.current = None;
                return Ok((0, Some(FrameEvent::End)));
            }
            if input.is_empty() {
                return Ok((0, None));
            }
            let n = frame.remaining.min(input.len() as u64) as usize;
            let data = &mut input[..n];
            if let Some(mask) = frame.mask {
                apply_mask(data, mask, frame.offset);
            }
            frame.offset += n as u64;
            frame.remaining -= n as u64;
            return Ok((n, Some(FrameEvent::Payload(data))));
        }
        if input.is_empty() {
            return Ok((0, None));
        }
        let had = self.head_len;
        let take = (MAX_HEADER_LEN - had).min(input.len());
        self.head[had..had + take].copy_from_slice(&input[..take]);
        match FrameHeader::parse(&self.head[..had + take])? {
            None => {
                // A header is never longer than the array: what did not
                // complete one is all of `input`.
                self.head_len = had + take;
                Ok((take, None))
            }
            Some((header, header_len)) => {
                if header.mask.is_none() {
                    return Err(ProtocolError::Unmasked);
                }
                self.head_len = 0;
                self.current = Some(InFrame {
                    mask: header.mask,
                    remaining: header.payload_len,
                    offset: 0,
                });
                Ok((header_len - had, Some(FrameEvent::Header(header))))
            }
        }
    }

    /// Between frames, with no part of a header held: the peer may close
    /// its side here without cutting a frame short.
    pub fn is_idle(&self) -> bool {
        self.head_len == 0 && self.current.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::close;

    /// A frame as the tests compare them: header fields and the whole
    /// (unmasked) payload.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Frame {
        fin: bool,
        opcode: OpCode,
        payload: Vec<u8>,
    }

    /// Every frame a decoder reads from `pieces` fed one after the other;
    /// the events must come in order (Header, Payload*, End).
    fn decode_pieces(pieces: &[&[u8]]) -> Result<Vec<Frame>, ProtocolError> {
        let mut dec = FrameDecoder::new();
        let mut frames = Vec::new();
        let mut open: Option<Frame> = None;
        for piece in pieces {
            let mut buf = piece.to_vec();
            let mut pos = 0;
            loop {
                let (n, ev) = dec.decode(&mut buf[pos..])?;
                pos += n;
                match ev {
                    None => {
                        assert_eq!(pos, buf.len(), "None before the input was used");
                        break;
                    }
                    Some(FrameEvent::Header(h)) => {
                        assert!(open.is_none(), "Header inside a frame");
                        assert!(n > 0 && h.mask.is_some());
                        open = Some(Frame {
                            fin: h.fin,
                            opcode: h.opcode,
                            payload: Vec::new(),
                        });
                    }
                    Some(FrameEvent::Payload(data)) => {
                        assert!(!data.is_empty() && data.len() == n);
                        open.as_mut()
                            .expect("Payload outside a frame")
                            .payload
                            .extend(data);
                    }
                    Some(FrameEvent::End) => {
                        assert_eq!(n, 0);
                        frames.push(open.take().expect("End outside a frame"));
                    }
                }
            }
        }
        assert_eq!(dec.is_idle(), open.is_none() && dec.head_len == 0);
        Ok(frames)
    }

    fn decode_all(bytes: &[u8]) -> Result<Vec<Frame>, ProtocolError> {
        decode_pieces(&[bytes])
    }

    fn frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Frame {
        Frame {
            fin,
            opcode,
            payload: payload.to_vec(),
        }
    }

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    // ---- RFC 6455 §5.7, byte for byte ----

    #[test]
    fn rfc_unmasked_hello() {
        let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let mut out = Vec::new();
        encode_frame(&mut out, OpCode::Text, b"Hello").unwrap();
        assert_eq!(out, wire);
        let (h, n) = FrameHeader::parse(&wire).unwrap().unwrap();
        assert_eq!(n, 2);
        assert_eq!(h, FrameHeader::new(OpCode::Text, 5));
        // The server refuses it from a client: it is not masked.
        assert_eq!(decode_all(&wire), Err(ProtocolError::Unmasked));
    }

    #[test]
    fn rfc_masked_hello() {
        let wire = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let mut out = Vec::new();
        encode_masked_frame(&mut out, true, OpCode::Text, b"Hello", MASK).unwrap();
        assert_eq!(out, wire);
        assert_eq!(
            decode_all(&wire),
            Ok(vec![frame(true, OpCode::Text, b"Hello")])
        );
    }

    #[test]
    fn rfc_fragmented_hello() {
        let first = [0x01, 0x03, 0x48, 0x65, 0x6c];
        let last = [0x80, 0x02, 0x6c, 0x6f];
        let mut out = Vec::new();
        append_frame(
            &mut out,
            FrameHeader {
                fin: false,
                opcode: OpCode::Text,
                mask: None,
                payload_len: 0,
            },
            b"Hel",
        )
        .unwrap();
        assert_eq!(out, first);
        out.clear();
        encode_frame(&mut out, OpCode::Continuation, b"lo").unwrap();
        assert_eq!(out, last);
        let (h, _) = FrameHeader::parse(&first).unwrap().unwrap();
        assert_eq!((h.fin, h.opcode, h.payload_len), (false, OpCode::Text, 3));
        let (h, _) = FrameHeader::parse(&last).unwrap().unwrap();
        assert_eq!(
            (h.fin, h.opcode, h.payload_len),
            (true, OpCode::Continuation, 2)
        );

        // The same fragments from a client, masked.
        let mut wire = Vec::new();
        encode_masked_frame(&mut wire, false, OpCode::Text, b"Hel", MASK).unwrap();
        encode_masked_frame(&mut wire, true, OpCode::Continuation, b"lo", MASK).unwrap();
        assert_eq!(&wire[..2], [0x01, 0x83]);
        assert_eq!(&wire[9..11], [0x80, 0x82]);
        assert_eq!(
            decode_all(&wire),
            Ok(vec![
                frame(false, OpCode::Text, b"Hel"),
                frame(true, OpCode::Continuation, b"lo"),
            ])
        );
    }

    #[test]
    fn rfc_ping_and_masked_pong() {
        let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let pong = [
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let mut out = Vec::new();
        encode_frame(&mut out, OpCode::Ping, b"Hello").unwrap();
        assert_eq!(out, ping);
        out.clear();
        encode_masked_frame(&mut out, true, OpCode::Pong, b"Hello", MASK).unwrap();
        assert_eq!(out, pong);
        assert_eq!(
            decode_all(&pong),
            Ok(vec![frame(true, OpCode::Pong, b"Hello")])
        );
        // And a masked Ping, as a client sends it.
        out.clear();
        encode_masked_frame(&mut out, true, OpCode::Ping, b"Hello", MASK).unwrap();
        assert_eq!(out[0], 0x89);
        assert_eq!(&out[1..], &pong[1..]);
    }

    #[test]
    fn rfc_256_bytes_and_64_kib() {
        let payload: Vec<u8> = (0..65536u32).map(|i| (i * 7) as u8).collect();
        let mut out = Vec::new();
        encode_frame(&mut out, OpCode::Binary, &payload[..256]).unwrap();
        assert_eq!(&out[..4], [0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(&out[4..], &payload[..256]);
        let (h, n) = FrameHeader::parse(&out).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (256, 4));

        out.clear();
        encode_frame(&mut out, OpCode::Binary, &payload).unwrap();
        assert_eq!(
            &out[..10],
            [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
        );
        assert_eq!(&out[10..], &payload[..]);
        let (h, n) = FrameHeader::parse(&out).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (65536, 10));

        // Masked, as a client: the decoder gives the payload back.
        for len in [256, 65536] {
            out.clear();
            encode_masked_frame(&mut out, true, OpCode::Binary, &payload[..len], MASK).unwrap();
            assert_eq!(out.len(), len + if len == 256 { 8 } else { 14 });
            assert_eq!(
                decode_all(&out),
                Ok(vec![frame(true, OpCode::Binary, &payload[..len])])
            );
        }
    }

    // ---- lengths ----

    #[test]
    fn length_forms_at_their_boundaries() {
        for (len, form, header_len) in [
            (0u64, 0u8, 2usize),
            (125, 125, 2),
            (126, 126, 4),
            (65535, 126, 4),
            (65536, 127, 10),
            (1 << 32, 127, 10),
            ((1 << 63) - 1, 127, 10),
        ] {
            for mask in [None, Some(MASK)] {
                let h = FrameHeader {
                    fin: true,
                    opcode: OpCode::Binary,
                    mask,
                    payload_len: len,
                };
                let bytes = h.encode().unwrap();
                let extra = if mask.is_some() { 4 } else { 0 };
                assert_eq!(bytes.len(), header_len + extra, "{len}");
                assert_eq!(bytes[1] & 0x7F, form, "{len}");
                assert_eq!(bytes[1] & 0x80 != 0, mask.is_some());
                assert_eq!(FrameHeader::parse(&bytes), Ok(Some((h, bytes.len()))));
                // Every shorter prefix is incomplete, not an error.
                for cut in 0..bytes.len() {
                    assert_eq!(FrameHeader::parse(&bytes[..cut]), Ok(None), "{len} {cut}");
                }
            }
        }
    }

    #[test]
    fn non_minimal_lengths_are_accepted() {
        // 5 in the 16-bit form, 300 in the 64-bit form.
        let (h, n) = FrameHeader::parse(&[0x82, 0x7E, 0, 5]).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (5, 4));
        let (h, n) = FrameHeader::parse(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0, 1, 0x2C])
            .unwrap()
            .unwrap();
        assert_eq!((h.payload_len, n), (300, 10));
    }

    #[test]
    fn random_headers_round_trip() {
        // xorshift64*, fixed seed.
        let mut state = 0x5EED_0007u64;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        const OPS: [OpCode; 6] = [
            OpCode::Continuation,
            OpCode::Text,
            OpCode::Binary,
            OpCode::Close,
            OpCode::Ping,
            OpCode::Pong,
        ];
        let (mut encoded, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let r = next();
            let opcode = OPS[(r % 6) as usize];
            let payload_len = match (r >> 8) % 4 {
                0 => r >> 20 & 0x7F,
                1 => r >> 20 & 0xFFFF,
                2 => next() >> (next() % 64),
                _ => 120 + (r >> 20) % 10,
            };
            let h = FrameHeader {
                fin: r >> 4 & 1 == 1 || r >> 5 & 3 != 0,
                opcode,
                mask: (r >> 7 & 1 == 1).then(|| (next() as u32).to_be_bytes()),
                payload_len,
            };
            let control_ok = !opcode.is_control() || (h.fin && payload_len <= 125);
            match h.encode() {
                Ok(bytes) => {
                    encoded += 1;
                    assert!(control_ok && payload_len < 1 << 63);
                    assert_eq!(FrameHeader::parse(&bytes), Ok(Some((h, bytes.len()))));
                    // Trailing bytes are the payload's, not the header's.
                    let mut more = bytes.to_vec();
                    more.extend([0xFF; 9]);
                    assert_eq!(FrameHeader::parse(&more), Ok(Some((h, bytes.len()))));
                }
                Err(e) => {
                    refused += 1;
                    assert!(!control_ok || payload_len >= 1 << 63, "{e}");
                }
            }
        }
        assert!(encoded > 10_000 && refused > 1000, "{encoded} {refused}");
    }

    // ---- protocol errors, each with its close code ----

    fn refused(bytes: &[u8]) -> ProtocolError {
        let err = decode_all(bytes).expect_err("accepted");
        // The same error however the bytes arrive.
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode_pieces(&singles), Err(err.clone()));
        err
    }

    #[test]
    fn unmasked_client_frame_is_1002() {
        for opcode in [OpCode::Text, OpCode::Binary, OpCode::Close, OpCode::Ping] {
            let mut out = Vec::new();
            encode_frame(&mut out, opcode, b"").unwrap();
            let e = refused(&out);
            assert_eq!(e, ProtocolError::Unmasked);
            assert_eq!(e.close_code(), close::PROTOCOL_ERROR);
        }
    }

    #[test]
    fn reserved_bits_are_1002() {
        for rsv in 1..8u8 {
            let e = refused(&[0x81 | rsv << 4, 0x80, 1, 2, 3, 4]);
            assert_eq!(e, ProtocolError::ReservedBits(rsv));
            assert_eq!(e.close_code(), 1002);
            // Refused from the first byte.
            assert_eq!(
                FrameHeader::parse(&[0x81 | rsv << 4]),
                Err(ProtocolError::ReservedBits(rsv))
            );
        }
    }

    #[test]
    fn reserved_opcodes_are_1002() {
        for op in (3..=7).chain(0xB..=0xF) {
            let e = refused(&[0x80 | op, 0x80, 1, 2, 3, 4]);
            assert_eq!(e, ProtocolError::UnknownOpcode(op));
            assert_eq!(e.close_code(), 1002);
            assert_eq!(OpCode::from_u8(op), None);
        }
        for op in [0, 1, 2, 8, 9, 0xA] {
            assert_eq!(OpCode::from_u8(op).map(|o| o as u8), Some(op));
            assert_eq!(OpCode::from_u8(op).unwrap().is_control(), op >= 8);
        }
    }

    #[test]
    fn fragmented_control_frames_are_1002() {
        for op in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
            let e = refused(&[op as u8, 0x80, 1, 2, 3, 4]);
            assert_eq!(e, ProtocolError::FragmentedControl(op));
            assert_eq!(e.close_code(), 1002);
        }
    }

    #[test]
    fn long_control_frames_are_1002() {
        for op in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
            // 126 in the 16-bit form, and the 64-bit form: refused from
            // the second byte, whatever the length says.
            for second in [0xFE, 0xFF] {
                let e = refused(&[0x80 | op as u8, second]);
                assert_eq!(e, ProtocolError::ControlTooLong(op));
                assert_eq!(e.close_code(), 1002);
            }
            // 125 is allowed.
            let mut out = Vec::new();
            encode_masked_frame(&mut out, true, op, &[b'x'; 125], MASK).unwrap();
            assert_eq!(decode_all(&out).unwrap()[0].payload.len(), 125);
        }
    }

    #[test]
    fn a_64_bit_length_with_its_top_bit_set_is_1002() {
        let mut bytes = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend(MASK);
        let e = refused(&bytes);
        assert_eq!(e, ProtocolError::LengthOverflow);
        assert_eq!(e.close_code(), 1002);
        bytes[2] = 0x7F; // below 2^63: a header like any other
        let (h, _) = FrameHeader::parse(&bytes).unwrap().unwrap();
        assert_eq!(h.payload_len, 0x7F << 56);
    }

    // ---- encoding errors ----

    #[test]
    fn control_frames_that_cannot_be_sent() {
        let mut out = vec![1, 2, 3];
        for op in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
            assert_eq!(
                encode_frame(&mut out, op, &[0; 126]),
                Err(EncodeError::ControlTooLong {
                    opcode: op,
                    len: 126
                })
            );
            assert_eq!(
                encode_masked_frame(&mut out, false, op, b"", MASK),
                Err(EncodeError::FragmentedControl(op))
            );
        }
        assert_eq!(out, [1, 2, 3], "nothing appended on error");
        let huge = FrameHeader {
            payload_len: 1 << 63,
            ..FrameHeader::new(OpCode::Binary, 0)
        };
        assert_eq!(huge.encode(), Err(EncodeError::LengthOverflow(1 << 63)));
        // Data frames of any size and fragmentation are fine.
        encode_masked_frame(&mut out, false, OpCode::Text, &[b'a'; 200], MASK).unwrap();
        assert_eq!(out.len(), 3 + 8 + 200);
    }

    #[test]
    fn a_frame_appends_after_what_out_holds() {
        let mut out = b"before".to_vec();
        encode_masked_frame(&mut out, true, OpCode::Binary, b"abcdefghij", MASK).unwrap();
        assert_eq!(&out[..6], b"before");
        assert_eq!(decode_all(&out[6..]).unwrap()[0].payload, b"abcdefghij");
    }

    // ---- masking ----

    #[test]
    fn masking_in_pieces_matches_masking_whole() {
        let data: Vec<u8> = (0..61u8).collect();
        let mask = [0xA1, 0x02, 0xF3, 0x44];
        let mut whole = data.clone();
        apply_mask(&mut whole, mask, 0);
        // The naive definition: octet i XOR key[i mod 4].
        for (i, b) in whole.iter().enumerate() {
            assert_eq!(*b, data[i] ^ mask[i % 4]);
        }
        for a in 0..=data.len() {
            for b in a..=data.len() {
                let mut pieces = data.clone();
                apply_mask(&mut pieces[..a], mask, 0);
                apply_mask(&mut pieces[a..b], mask, a as u64);
                apply_mask(&mut pieces[b..], mask, b as u64);
                assert_eq!(pieces, whole, "{a} {b}");
            }
        }
        apply_mask(&mut whole, mask, 0);
        assert_eq!(whole, data);
    }

    // ---- incremental decoding ----

    fn sample_stream() -> (Vec<u8>, Vec<Frame>) {
        let long: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
        let frames = vec![
            frame(false, OpCode::Text, b"Hel"),
            frame(true, OpCode::Ping, b""),
            frame(true, OpCode::Continuation, b"lo"),
            frame(true, OpCode::Binary, &long),
            frame(true, OpCode::Pong, b"pong"),
            frame(true, OpCode::Text, b""),
            frame(true, OpCode::Close, &[0x03, 0xE8, b'b', b'y', b'e']),
        ];
        let mut wire = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let mask = [i as u8, 0x5A, 0xC3, 0x99 ^ i as u8];
            encode_masked_frame(&mut wire, f.fin, f.opcode, &f.payload, mask).unwrap();
        }
        (wire, frames)
    }

    #[test]
    fn every_split_point_gives_the_same_frames() {
        let (wire, frames) = sample_stream();
        assert_eq!(decode_all(&wire).unwrap(), frames);
        for i in 0..=wire.len() {
            assert_eq!(
                decode_pieces(&[&wire[..i], &wire[i..]]).unwrap(),
                frames,
                "{i}"
            );
        }
        // Three pieces, a sample of pairs of cut points.
        for i in (0..=wire.len()).step_by(7) {
            for j in (i..=wire.len()).step_by(5) {
                let got = decode_pieces(&[&wire[..i], &wire[i..j], &wire[j..]]).unwrap();
                assert_eq!(got, frames, "{i} {j}");
            }
        }
        let singles: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(decode_pieces(&singles).unwrap(), frames);
    }

    #[test]
    fn a_partial_header_is_held_and_counted_as_used() {
        let mut dec = FrameDecoder::new();
        let mut wire = Vec::new();
        encode_masked_frame(&mut wire, true, OpCode::Binary, &[7; 70000], MASK).unwrap();
        // 14 header bytes, fed 5 then 9.
        let mut first = wire[..5].to_vec();
        assert_eq!(dec.decode(&mut first), Ok((5, None)));
        assert!(!dec.is_idle());
        let mut rest = wire[5..20].to_vec();
        let (n, ev) = dec.decode(&mut rest).unwrap();
        assert_eq!(n, 9);
        match ev {
            Some(FrameEvent::Header(h)) => assert_eq!(h.payload_len, 70000),
            other => panic!("{other:?}"),
        }
        // Then the payload bytes that came with it.
        let (n, ev) = dec.decode(&mut rest[9..]).unwrap();
        assert_eq!((n, ev), (6, Some(FrameEvent::Payload(&[7; 6]))));
        assert!(!dec.is_idle());
    }
}
