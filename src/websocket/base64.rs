//! Base64 with the standard alphabet and `=` padding (RFC 4648 §4), for
//! the handshake's `Sec-WebSocket-Key` and `Sec-WebSocket-Accept`.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `data` in base64, padded.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 0x3F) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// The bytes `text` encodes, or `None` if it is not padded base64: a
/// length that is not a multiple of 4, a character outside the alphabet
/// (whitespace included), or `=` anywhere but at the end of the last group.
/// The unused bits before the padding are not required to be zero.
pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    let chunks = text.chunks_exact(4);
    if !chunks.remainder().is_empty() {
        return None;
    }
    let groups = chunks.len();
    let mut out = Vec::with_capacity(groups * 3);
    for (g, group) in chunks.enumerate() {
        let pad = match group {
            [_, _, b'=', b'='] => 2,
            [_, _, _, b'='] => 1,
            _ => 0,
        };
        if pad > 0 && g + 1 != groups {
            return None;
        }
        let mut n = 0u32;
        for &c in &group[..4 - pad] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * pad;
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in vectors {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded.as_bytes()).as_deref(), Some(plain.as_bytes()));
        }
    }

    #[test]
    fn every_byte_value_round_trips() {
        let all: Vec<u8> = (0..=255u8).collect();
        for len in 0..all.len() {
            let text = encode(&all[len..]);
            assert_eq!(text.len(), (all.len() - len).div_ceil(3) * 4);
            assert_eq!(decode(text.as_bytes()).as_deref(), Some(&all[len..]));
        }
        // The high bits land on '+' and '/', the 62nd and 63rd.
        assert_eq!(encode(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn malformed_text_is_refused() {
        for bad in [
            &b"Zg="[..], // not a multiple of 4
            b"Zg",
            b"Z===",      // a group of one character
            b"Zg==Zm8=",  // padding before the last group
            b"Z=g=",      // '=' inside a group
            b"Zm9v Yg==", // whitespace
            b"Zm9-",      // the URL-safe alphabet
            b"Zm9_",
            b"Zm9\xff",
        ] {
            assert_eq!(decode(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        // Non-zero bits before the padding are tolerated.
        assert_eq!(decode(b"Zh==").as_deref(), Some(&b"f"[..]));
    }
}
