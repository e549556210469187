//! Any bytes from a client: the reader never panics, gives the same
//! messages and error whether the bytes come at once or in small reads,
//! and every message it accepts keeps to the protocol's limits (text is
//! UTF-8, data within max_message_size, control payloads within 125
//! bytes, close codes valid on the wire).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ngx_http_wsgi_module::websocket::close::{is_valid_code, MAX_REASON_LEN};
use ngx_http_wsgi_module::websocket::{Message, ProtocolError, Reader};

const MAX: usize = 300;

fn read(bytes: &[u8], piece_len: usize) -> (Vec<Message>, Option<ProtocolError>) {
    let mut reader = Reader::new(MAX);
    let mut messages = Vec::new();
    for piece in bytes.chunks(piece_len) {
        let mut buf = piece.to_vec();
        let mut input = &mut buf[..];
        loop {
            match reader.read(input) {
                Err(e) => return (messages, Some(e)),
                Ok((used, message)) => {
                    assert!(used <= input.len());
                    input = &mut input[used..];
                    match message {
                        Some(m) => messages.push(m),
                        None => {
                            assert!(input.is_empty());
                            break;
                        }
                    }
                }
            }
        }
    }
    (messages, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let whole = read(bytes, bytes.len().max(1));
    let pieces = read(bytes, 1 + cut as usize % 13);
    assert_eq!(whole, pieces);
    for m in &whole.0 {
        match m {
            Message::Text(s) => {
                assert!(std::str::from_utf8(s.as_bytes()).is_ok());
                assert!(s.len() <= MAX);
            }
            Message::Binary(b) => assert!(b.len() <= MAX),
            Message::Ping(p) | Message::Pong(p) => assert!(p.len() <= 125),
            Message::Close(Some(c)) => {
                assert!(is_valid_code(c.code));
                assert!(c.reason.len() <= MAX_REASON_LEN);
            }
            Message::Close(None) => {}
        }
    }
    if let Some(e) = &whole.1 {
        assert!(matches!(e.close_code(), 1002 | 1007 | 1009), "{e}");
    }
});
