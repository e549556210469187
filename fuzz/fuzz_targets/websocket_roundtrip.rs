//! Messages made from the input, sent as a client sends them (masked,
//! fragmented, control frames between fragments): the reader gives back
//! exactly those messages. And each message sent as a server sends it
//! parses back to its header and payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ngx_http_wsgi_module::websocket::frame::encode_masked_frame;
use ngx_http_wsgi_module::websocket::{encode_frame, FrameHeader, Message, OpCode, Reader};

/// The input, read a byte or a slice at a time; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
    fn mask(&mut self) -> [u8; 4] {
        [self.byte(), self.byte(), self.byte(), self.byte()]
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    while !input.0.is_empty() {
        let kind = input.byte();
        let len = input.byte() as usize * (1 + (kind >> 4) as usize);
        let payload = input.take(len).to_vec();
        let (opcode, message) = match kind % 4 {
            0 => {
                let text = String::from_utf8_lossy(&payload).into_owned();
                (OpCode::Text, Message::Text(text))
            }
            1 => (OpCode::Binary, Message::Binary(payload)),
            2 => {
                let p = payload[..payload.len().min(125)].to_vec();
                (OpCode::Ping, Message::Ping(p))
            }
            _ => {
                let p = payload[..payload.len().min(125)].to_vec();
                (OpCode::Pong, Message::Pong(p))
            }
        };
        let bytes: Vec<u8> = match &message {
            Message::Text(s) => s.clone().into_bytes(),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.clone(),
            Message::Close(_) => unreachable!(),
        };

        // As a server sends it.
        let mut server = Vec::new();
        encode_frame(&mut server, opcode, &bytes).expect("a valid frame");
        let (h, n) = FrameHeader::parse(&server).unwrap().unwrap();
        assert_eq!(h, FrameHeader::new(opcode, bytes.len()));
        assert_eq!(&server[n..], &bytes[..]);

        // As a client sends it: data in fragments, a ping between some.
        if opcode.is_control() {
            let mask = input.mask();
            encode_masked_frame(&mut wire, true, opcode, &bytes, mask).unwrap();
        } else {
            let fragments = 1 + (input.byte() % 4) as usize;
            let size = bytes.len().div_ceil(fragments).max(1);
            let chunks: Vec<&[u8]> = if bytes.is_empty() {
                vec![&[]]
            } else {
                bytes.chunks(size).collect()
            };
            for (i, chunk) in chunks.iter().enumerate() {
                if i > 0 && input.byte() & 1 == 1 {
                    let mask = input.mask();
                    encode_masked_frame(&mut wire, true, OpCode::Ping, b"between", mask).unwrap();
                    expected.push(Message::Ping(b"between".to_vec()));
                }
                let op = if i == 0 { opcode } else { OpCode::Continuation };
                let mask = input.mask();
                encode_masked_frame(&mut wire, i + 1 == chunks.len(), op, chunk, mask).unwrap();
            }
        }
        expected.push(message);
    }

    let mut reader = Reader::new(1 << 20);
    let mut got = Vec::new();
    let mut rest = &mut wire[..];
    while !rest.is_empty() {
        let (used, message) = reader.read(rest).expect("a valid session");
        rest = &mut rest[used..];
        got.extend(message);
    }
    assert!(reader.is_idle());
    assert_eq!(got, expected);
});
