//! The uwsgi packet that carries a request's CGI variables to a uWSGI
//! container, byte for byte as nginx's `uwsgi_pass` builds it:
//!
//! ```text
//! modifier1: u8 | datasize: u16 LE | modifier2: u8      (the 4-byte header)
//! for each variable, in order:
//!     key length: u16 LE | key | value length: u16 LE | value
//! the request body (not counted in datasize; nginx sends it after)
//! ```
//!
//! `datasize` is the size of the variables block. Every length is 16 bits,
//! so a key, a value or the whole block over 65535 bytes cannot be sent: it
//! is an error ([`PacketError`]), never a truncated or wrapped length (nginx
//! refuses such a request too, with "uwsgi request is too big").
//!
//! Every encoder measures and checks the variables in one pass
//! ([`visited_len`]) and writes them in a second. The variables come from a
//! [`Visit`]: `uwsgi_upstream` visits the request's CGI variables in place
//! ([`encode_visited`] with [`visit_cgi_vars`](crate::wsgi::cgi::visit_cgi_vars)),
//! so nothing but the packet is allocated. [`encoded_len`], [`encode_into`]
//! and [`encode_vars`] do the same for a slice of byte-string pairs, such
//! as the [`Vars`](crate::wsgi::cgi::Vars) of
//! [`cgi_vars`](crate::wsgi::cgi::cgi_vars). [`decode`] parses a packet
//! back, for tests and the capture tool's checks.
//!
//! ```
//! use ngx_http_wsgi_module::uwsgi::packet::{encode_into, encoded_len};
//!
//! let vars = [(&b"REQUEST_METHOD"[..], &b"GET"[..])];
//! let len = encoded_len(&vars)?; // one pass over the lengths, checked
//! let mut buf = vec![0u8; len]; // nginx: a pool buffer of `len` bytes
//! assert_eq!(encode_into(&vars, 0, 0, &mut buf)?, len); // one pass writing
//! assert_eq!(&buf[..4], &[0, 21, 0, 0]); // modifier1, datasize 21 LE, modifier2
//! # Ok::<(), ngx_http_wsgi_module::uwsgi::packet::PacketError>(())
//! ```

use std::fmt;

/// The size of the packet header: modifier1, datasize (2 bytes), modifier2.
pub const HEADER_LEN: usize = 4;

/// The largest key, value or variables block: lengths are 16 bits.
pub const MAX_LEN: usize = u16::MAX as usize;

/// The size a variable takes in the block: two 16-bit lengths and the bytes.
fn var_size(key: &[u8], value: &[u8]) -> usize {
    4usize.saturating_add(key.len()).saturating_add(value.len())
}

/// Why the variables cannot be encoded. Keys are shown escaped and
/// shortened, for the error log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketError {
    /// The key of variable `index` (0-based) is `len` bytes, over 65535.
    KeyTooLong {
        index: usize,
        key: String,
        len: usize,
    },
    /// The value of variable `index` (0-based), named `key`, is `len` bytes,
    /// over 65535.
    ValueTooLong {
        index: usize,
        key: String,
        len: usize,
    },
    /// The `count` variables take `len` bytes, over the 65535 that
    /// `datasize` can say; `largest` (`largest_len` bytes with its two
    /// lengths) is the one that weighs most.
    VarsTooLong {
        len: usize,
        count: usize,
        largest: String,
        largest_len: usize,
    },
    /// The output buffer given to [`encode_into`] holds `available` bytes
    /// and the packet needs `needed`.
    BufferTooSmall { needed: usize, available: usize },
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::KeyTooLong { index, key, len } => write!(
                f,
                "uwsgi variable #{index} has a {len}-byte name \"{key}\"; \
                 the uwsgi protocol allows at most {MAX_LEN} bytes"
            ),
            PacketError::ValueTooLong { index, key, len } => write!(
                f,
                "uwsgi variable #{index} \"{key}\" has a {len}-byte value; \
                 the uwsgi protocol allows at most {MAX_LEN} bytes"
            ),
            PacketError::VarsTooLong {
                len,
                count,
                largest,
                largest_len,
            } => write!(
                f,
                "uwsgi request is too big: its {count} variables take {len} bytes, \
                 the uwsgi protocol allows at most {MAX_LEN} \
                 (the largest is \"{largest}\", {largest_len} bytes)"
            ),
            PacketError::BufferTooSmall { needed, available } => write!(
                f,
                "the uwsgi packet needs {needed} bytes, the buffer holds {available}"
            ),
        }
    }
}

impl std::error::Error for PacketError {}

/// A byte string for an error message: printable ASCII as is, the rest
/// escaped, at most 64 bytes of it.
fn show(bytes: &[u8]) -> String {
    const SHOWN: usize = 64;
    let mut s: String = bytes
        .iter()
        .take(SHOWN)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if bytes.len() > SHOWN {
        s.push_str("...");
    }
    s
}

/// The size of variable `index`, or why it cannot be sent.
fn checked_var_size(index: usize, key: &[u8], value: &[u8]) -> Result<usize, PacketError> {
    if key.len() > MAX_LEN {
        return Err(PacketError::KeyTooLong {
            index,
            key: show(key),
            len: key.len(),
        });
    }
    if value.len() > MAX_LEN {
        return Err(PacketError::ValueTooLong {
            index,
            key: show(key),
            len: value.len(),
        });
    }
    Ok(var_size(key, value))
}

/// A source of variables: it calls its argument once per variable, in
/// order, the same way each time it is called. The request side visits its
/// CGI variables in place (`visit_cgi_vars`); a slice of pairs is one too.
pub type Visit<'a> = &'a dyn Fn(&mut dyn FnMut(&[u8], &[u8]));

fn each_pair<K, V>(vars: &[(K, V)], f: &mut dyn FnMut(&[u8], &[u8]))
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    for (k, v) in vars {
        f(k.as_ref(), v.as_ref());
    }
}

/// The size of the variables block (`datasize`), header excluded.
///
/// Errors, in this order: the first variable whose key or value is over
/// 65535 bytes, then a block over 65535 bytes.
pub fn visited_len(visit: Visit) -> Result<usize, PacketError> {
    let (mut count, mut total, mut error) = (0usize, 0usize, None);
    visit(&mut |key, value| {
        if error.is_none() {
            match checked_var_size(count, key, value) {
                Ok(n) => total = total.saturating_add(n),
                Err(e) => error = Some(e),
            }
        }
        count += 1;
    });
    if let Some(e) = error {
        return Err(e);
    }
    if total > MAX_LEN {
        // The error path only: a second pass names the largest variable
        // (the last of equals, as `max_by_key` would).
        let (mut largest, mut largest_len) = (String::new(), 0);
        visit(&mut |key, value| {
            let n = var_size(key, value);
            if n >= largest_len {
                (largest, largest_len) = (show(key), n);
            }
        });
        return Err(PacketError::VarsTooLong {
            len: total,
            count,
            largest,
            largest_len,
        });
    }
    Ok(total)
}

/// `visited_len` of a slice of pairs.
pub fn vars_len<K, V>(vars: &[(K, V)]) -> Result<usize, PacketError>
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    visited_len(&|f| each_pair(vars, f))
}

/// The size of the packet without its body: header and variables. This is
/// the buffer size [`encode_into`] needs; an `Ok` here means it succeeds.
pub fn encoded_len<K, V>(vars: &[(K, V)]) -> Result<usize, PacketError>
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    Ok(HEADER_LEN + vars_len(vars)?)
}

fn put_u16(dst: &mut [u8], n: usize) {
    debug_assert!(n <= MAX_LEN);
    dst[..2].copy_from_slice(&(n as u16).to_le_bytes());
}

/// Write a packet whose variables block `visited_len` measured at
/// `datasize` bytes into `out`, which holds at least `HEADER_LEN + datasize`.
fn write_visited(visit: Visit, datasize: usize, modifier1: u8, modifier2: u8, out: &mut [u8]) {
    out[0] = modifier1;
    put_u16(&mut out[1..3], datasize);
    out[3] = modifier2;
    let mut pos = HEADER_LEN;
    visit(&mut |key, value| {
        let end = pos + var_size(key, value);
        let (klen, rest) = out[pos..end].split_at_mut(2);
        let (kbytes, rest) = rest.split_at_mut(key.len());
        let (vlen, vbytes) = rest.split_at_mut(2);
        put_u16(klen, key.len());
        kbytes.copy_from_slice(key);
        put_u16(vlen, value.len());
        vbytes.copy_from_slice(value);
        pos = end;
    });
    debug_assert_eq!(pos, HEADER_LEN + datasize);
}

/// Writes the header and the variables at the start of `out` and returns
/// how many bytes it wrote: `encoded_len(vars)`. `out` may be longer.
///
/// The variables are measured and checked first, so this never produces a
/// malformed packet; on error nothing is written.
pub fn encode_into<K, V>(
    vars: &[(K, V)],
    modifier1: u8,
    modifier2: u8,
    out: &mut [u8],
) -> Result<usize, PacketError>
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let visit: Visit = &|f| each_pair(vars, f);
    let datasize = visited_len(visit)?;
    let needed = HEADER_LEN + datasize;
    if out.len() < needed {
        return Err(PacketError::BufferTooSmall {
            needed,
            available: out.len(),
        });
    }
    write_visited(visit, datasize, modifier1, modifier2, out);
    Ok(needed)
}

/// The packet of the variables `visit` produces, in a new buffer of
/// exactly its size, without collecting the variables first: one pass
/// measures, one writes.
pub fn encode_visited(visit: Visit, modifier1: u8, modifier2: u8) -> Result<Vec<u8>, PacketError> {
    let datasize = visited_len(visit)?;
    let mut buf = vec![0u8; HEADER_LEN + datasize];
    write_visited(visit, datasize, modifier1, modifier2, &mut buf);
    Ok(buf)
}

/// The packet without its body (header and variables) in a new buffer of
/// exactly `encoded_len(vars)` bytes.
pub fn encode_vars<K, V>(
    vars: &[(K, V)],
    modifier1: u8,
    modifier2: u8,
) -> Result<Vec<u8>, PacketError>
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    encode_visited(&|f| each_pair(vars, f), modifier1, modifier2)
}

/// The part of a variable that did not fit in the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarField {
    KeyLength,
    Key,
    ValueLength,
    Value,
}

impl fmt::Display for VarField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VarField::KeyLength => "key length",
            VarField::Key => "key",
            VarField::ValueLength => "value length",
            VarField::Value => "value",
        })
    }
}

/// Why bytes are not a uwsgi packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer than the 4 header bytes.
    ShortHeader { len: usize },
    /// The header announces `datasize` bytes of variables, `available`
    /// follow it.
    ShortVars { datasize: usize, available: usize },
    /// Variable `index` (0-based), starting at `offset` in the block, has
    /// its `field` running past the end of the `datasize`-byte block.
    Truncated {
        index: usize,
        offset: usize,
        field: VarField,
        datasize: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::ShortHeader { len } => write!(
                f,
                "uwsgi packet of {len} bytes is shorter than its {HEADER_LEN}-byte header"
            ),
            DecodeError::ShortVars {
                datasize,
                available,
            } => write!(
                f,
                "uwsgi header announces {datasize} bytes of variables, {available} follow"
            ),
            DecodeError::Truncated {
                index,
                offset,
                field,
                datasize,
            } => write!(
                f,
                "uwsgi variable #{index} (at offset {offset}): its {field} runs past \
                 the end of the {datasize}-byte variables block"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Parses a packet: `(modifier1, modifier2, variables, rest)`, where `rest`
/// is what follows the variables block (the request body). The block must
/// be exactly a sequence of whole variables.
#[allow(clippy::type_complexity)]
pub fn decode(packet: &[u8]) -> Result<(u8, u8, Vec<(Vec<u8>, Vec<u8>)>, &[u8]), DecodeError> {
    if packet.len() < HEADER_LEN {
        return Err(DecodeError::ShortHeader { len: packet.len() });
    }
    let modifier1 = packet[0];
    let datasize = u16::from_le_bytes([packet[1], packet[2]]) as usize;
    let modifier2 = packet[3];
    let after = &packet[HEADER_LEN..];
    if after.len() < datasize {
        return Err(DecodeError::ShortVars {
            datasize,
            available: after.len(),
        });
    }
    let (block, rest) = after.split_at(datasize);

    let mut vars = Vec::new();
    let mut pos = 0;
    while pos < block.len() {
        let index = vars.len();
        let offset = pos;
        let truncated = |field| DecodeError::Truncated {
            index,
            offset,
            field,
            datasize,
        };
        let mut take = |n: usize, field| {
            let bytes = block.get(pos..pos + n).ok_or(truncated(field))?;
            pos += n;
            Ok::<_, DecodeError>(bytes)
        };
        let u16_at = |b: &[u8]| u16::from_le_bytes([b[0], b[1]]) as usize;
        let klen = u16_at(take(2, VarField::KeyLength)?);
        let key = take(klen, VarField::Key)?.to_vec();
        let vlen = u16_at(take(2, VarField::ValueLength)?);
        let value = take(vlen, VarField::Value)?.to_vec();
        vars.push((key, value));
    }
    Ok((modifier1, modifier2, vars, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wsgi::cgi::{cgi_vars, Field, RequestParts, Vars};

    fn vars(list: &[(&[u8], &[u8])]) -> Vars {
        list.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
    }

    /// `encode_vars`, `encode_into` (exact and roomy buffers) and
    /// `encoded_len` agree; returns the packet.
    fn encode_all_ways(v: &Vars, m1: u8, m2: u8) -> Result<Vec<u8>, PacketError> {
        let by_vec = encode_vars(v, m1, m2);
        let len = encoded_len(v);
        match &by_vec {
            Ok(p) => {
                assert_eq!(len, Ok(p.len()));
                assert_eq!(vars_len(v), Ok(p.len() - HEADER_LEN));
                let mut roomy = vec![0xAAu8; p.len() + 7];
                assert_eq!(encode_into(v, m1, m2, &mut roomy), Ok(p.len()));
                assert_eq!(&roomy[..p.len()], &p[..]);
                assert!(roomy[p.len()..].iter().all(|&b| b == 0xAA));
            }
            Err(e) => {
                assert_eq!(len.as_ref(), Err(e));
                assert_eq!(vars_len(v).as_ref(), Err(e));
                let mut big = vec![0u8; 4 * MAX_LEN];
                assert_eq!(encode_into(v, m1, m2, &mut big).as_ref(), Err(e));
                let mut small = [0u8; 2];
                assert_eq!(encode_into(v, m1, m2, &mut small).as_ref(), Err(e));
            }
        }
        by_vec
    }

    #[test]
    fn small_example_bytes() {
        let v = vars(&[(b"A", b"1"), (b"KEY", b"val"), (b"E", b"")]);
        let p = encode_all_ways(&v, 0, 0).unwrap();
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0x00, 0x15, 0x00, 0x00,         // modifier1 0, datasize 21, modifier2 0
            0x01, 0x00, b'A',               // key "A"
            0x01, 0x00, b'1',               // value "1"
            0x03, 0x00, b'K', b'E', b'Y',   // key "KEY"
            0x03, 0x00, b'v', b'a', b'l',   // value "val"
            0x01, 0x00, b'E',               // key "E"
            0x00, 0x00,                     // empty value
        ];
        assert_eq!(p, expected);
    }

    #[test]
    fn lengths_are_little_endian_and_modifiers_in_place() {
        // A 300-byte value (0x012C); the block is 2+1+2+300 = 305 (0x0131).
        let value = vec![b'x'; 300];
        let v = vars(&[(b"K", &value)]);
        let p = encode_all_ways(&v, 5, 9).unwrap();
        assert_eq!(&p[..4], &[5, 0x31, 0x01, 9]);
        assert_eq!(&p[4..7], &[0x01, 0x00, b'K']);
        assert_eq!(&p[7..9], &[0x2C, 0x01]);
        assert_eq!(&p[9..], &value[..]);
        assert_eq!(p.len(), 4 + 305);
    }

    #[test]
    fn empty_vars() {
        let p = encode_all_ways(&Vars::new(), 0, 0).unwrap();
        assert_eq!(p, [0, 0, 0, 0]);
        let p = encode_all_ways(&Vars::new(), 0xff, 0x7f).unwrap();
        assert_eq!(p, [0xff, 0, 0, 0x7f]);
        let (m1, m2, v, rest) = decode(&p).unwrap();
        assert_eq!((m1, m2, v.len(), rest), (0xff, 0x7f, 0, &[][..]));
        // The one variable that is all empty still takes its two lengths.
        let p = encode_all_ways(&vars(&[(b"", b"")]), 0, 0).unwrap();
        assert_eq!(p, [0, 4, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn binary_and_latin1_bytes_pass_unchanged() {
        let v = vars(&[
            (b"HTTP_X_LATIN1", b"caf\xe9 \xff\x80"),
            (b"NUL\0KEY", b"\0\0\r\n\0"),
            (b"\xe9", b"\x00"),
        ]);
        let p = encode_all_ways(&v, 0, 0).unwrap();
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0x00, 46, 0x00, 0x00,
            13, 0, b'H', b'T', b'T', b'P', b'_', b'X', b'_', b'L', b'A', b'T', b'I', b'N', b'1',
            7, 0, b'c', b'a', b'f', 0xe9, b' ', 0xff, 0x80,
            7, 0, b'N', b'U', b'L', 0, b'K', b'E', b'Y',
            5, 0, 0, 0, b'\r', b'\n', 0,
            1, 0, 0xe9,
            1, 0, 0,
        ];
        assert_eq!(p, expected);
        let (_, _, back, rest) = decode(&p).unwrap();
        assert_eq!(back, v);
        assert!(rest.is_empty());
    }

    #[test]
    fn order_and_duplicates_are_kept() {
        let v = vars(&[(b"B", b"1"), (b"A", b"2"), (b"B", b"3")]);
        let p = encode_all_ways(&v, 0, 0).unwrap();
        assert_eq!(decode(&p).unwrap().2, v);
    }

    #[test]
    fn body_follows_the_vars_block() {
        let v = vars(&[(b"CONTENT_LENGTH", b"5")]);
        let mut p = encode_all_ways(&v, 0, 0).unwrap();
        p.extend_from_slice(b"hello");
        let (m1, m2, back, rest) = decode(&p).unwrap();
        assert_eq!((m1, m2, back, rest), (0, 0, v, &b"hello"[..]));
    }

    #[test]
    fn the_whole_block_at_and_over_the_limit() {
        // One variable filling the block exactly: 2 + 1 + 2 + 65530 = 65535.
        let at = vars(&[(b"K", &vec![b'v'; MAX_LEN - 5])]);
        let p = encode_all_ways(&at, 0, 0).unwrap();
        assert_eq!(&p[..4], &[0, 0xff, 0xff, 0]);
        assert_eq!(p.len(), HEADER_LEN + MAX_LEN);
        assert_eq!(decode(&p).unwrap().2, at);

        // Several variables adding up to exactly 65535, then one byte more.
        let mut many: Vars = (0..100)
            .map(|i| (format!("VAR_{i:03}").into_bytes(), vec![b'x'; 500]))
            .collect(); // 100 * (2 + 7 + 2 + 500) = 51100
        many.push((b"FILL".to_vec(), vec![b'y'; MAX_LEN - 51100 - 8]));
        assert_eq!(vars_len(&many), Ok(MAX_LEN));
        let p = encode_all_ways(&many, 0, 0).unwrap();
        assert_eq!(decode(&p).unwrap().2, many);

        many.last_mut().unwrap().1.push(b'y');
        let err = encode_all_ways(&many, 0, 0).unwrap_err();
        assert_eq!(
            err,
            PacketError::VarsTooLong {
                len: MAX_LEN + 1,
                count: 101,
                largest: "FILL".into(),
                largest_len: 14436,
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("65536 bytes"), "{msg}");
        assert!(msg.contains("101 variables"), "{msg}");
        assert!(msg.contains("\"FILL\", 14436 bytes"), "{msg}");
        assert!(msg.contains("at most 65535"), "{msg}");

        let one_over = vars(&[(b"K", &vec![b'v'; MAX_LEN - 4])]);
        assert!(matches!(
            encode_all_ways(&one_over, 0, 0),
            Err(PacketError::VarsTooLong { len: 65536, .. })
        ));
    }

    #[test]
    fn key_at_and_over_the_limit() {
        // The largest key that fits: the block is 2 + 65531 + 2 + 0.
        let fits = vars(&[(&vec![b'K'; MAX_LEN - 4], b"")]);
        let p = encode_all_ways(&fits, 0, 0).unwrap();
        assert_eq!(decode(&p).unwrap().2, fits);
        // 65535 is a valid key length, but with its two lengths the block
        // cannot hold it.
        let at = vars(&[(&vec![b'K'; MAX_LEN], b"")]);
        assert!(matches!(
            encode_all_ways(&at, 0, 0),
            Err(PacketError::VarsTooLong {
                len: 65539,
                count: 1,
                largest_len: 65539,
                ..
            })
        ));
        // One byte over is the key's own error, named by its index.
        let mut over = vars(&[(b"OK", b"1"), (b"", b"")]);
        over[1].0 = vec![b'K'; MAX_LEN + 1];
        let err = encode_all_ways(&over, 0, 0).unwrap_err();
        assert_eq!(
            err,
            PacketError::KeyTooLong {
                index: 1,
                key: format!("{}...", "K".repeat(64)),
                len: 65536
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("#1"), "{msg}");
        assert!(msg.contains("65536-byte name"), "{msg}");
        assert!(msg.contains("at most 65535"), "{msg}");
    }

    #[test]
    fn value_at_and_over_the_limit() {
        let fits = vars(&[(b"", &vec![b'v'; MAX_LEN - 4])]);
        let p = encode_all_ways(&fits, 0, 0).unwrap();
        assert_eq!(&p[4..8], &[0, 0, 0xfb, 0xff]);
        assert_eq!(decode(&p).unwrap().2, fits);

        let at = vars(&[(b"HTTP_COOKIE", &vec![b'v'; MAX_LEN])]);
        assert!(matches!(
            encode_all_ways(&at, 0, 0),
            Err(PacketError::VarsTooLong { len: 65550, .. })
        ));

        let over = vars(&[
            (b"A", b"1"),
            (b"B", b"2"),
            (b"HTTP_X_\xe9\n", &vec![b'v'; MAX_LEN + 1]),
            // A later key over the limit is not the one reported.
            (&vec![b'K'; MAX_LEN + 1], b""),
        ]);
        let err = encode_all_ways(&over, 0, 0).unwrap_err();
        assert_eq!(
            err,
            PacketError::ValueTooLong {
                index: 2,
                key: "HTTP_X_\\xe9\\n".into(),
                len: 65536
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("#2 \"HTTP_X_\\xe9\\n\""), "{msg}");
        assert!(msg.contains("65536-byte value"), "{msg}");
    }

    #[test]
    fn a_short_buffer_is_an_error_not_a_partial_packet() {
        let v = vars(&[(b"A", b"1"), (b"KEY", b"val")]);
        let need = encoded_len(&v).unwrap();
        for size in 0..need {
            let mut buf = vec![0u8; size];
            assert_eq!(
                encode_into(&v, 0, 0, &mut buf),
                Err(PacketError::BufferTooSmall {
                    needed: need,
                    available: size
                })
            );
        }
        let msg = PacketError::BufferTooSmall {
            needed: 20,
            available: 3,
        }
        .to_string();
        assert!(msg.contains("20 bytes") && msg.contains("holds 3"), "{msg}");
    }

    #[test]
    fn borrowed_pairs_encode_too() {
        let owned = vars(&[(b"A", b"1"), (b"KEY", b"val")]);
        let borrowed: Vec<(&[u8], &[u8])> = owned
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        assert_eq!(
            encode_vars(&borrowed, 1, 2).unwrap(),
            encode_vars(&owned, 1, 2).unwrap()
        );
    }

    #[test]
    fn decode_errors() {
        assert_eq!(decode(b""), Err(DecodeError::ShortHeader { len: 0 }));
        assert_eq!(decode(b"\0\0\0"), Err(DecodeError::ShortHeader { len: 3 }));
        assert_eq!(
            decode(b"\0\x05\0\0\x01\0"),
            Err(DecodeError::ShortVars {
                datasize: 5,
                available: 2
            })
        );
        let t = |index, offset, field, datasize| DecodeError::Truncated {
            index,
            offset,
            field,
            datasize,
        };
        // One byte where a key length needs two.
        assert_eq!(
            decode(b"\0\x01\0\0\x01"),
            Err(t(0, 0, VarField::KeyLength, 1))
        );
        // A key length of 2 with one key byte.
        assert_eq!(decode(b"\0\x03\0\0\x02\0K"), Err(t(0, 0, VarField::Key, 3)));
        // A whole first variable, then a key with no value length.
        assert_eq!(
            decode(b"\0\x09\0\0\x01\0A\0\0\x01\0B\0"),
            Err(t(1, 5, VarField::ValueLength, 9))
        );
        // A value length past the block, even though the body has bytes.
        assert_eq!(
            decode(b"\0\x06\0\0\x01\0A\x02\0Vbody"),
            Err(t(0, 0, VarField::Value, 6))
        );
        let msg = t(1, 5, VarField::ValueLength, 9).to_string();
        assert!(
            msg.contains("#1") && msg.contains("offset 5") && msg.contains("value length"),
            "{msg}"
        );
        assert!(DecodeError::ShortVars {
            datasize: 5,
            available: 2
        }
        .to_string()
        .contains("5 bytes of variables, 2 follow"));
    }

    // ---- randomized properties, fixed seeds (reproducible) ----

    /// splitmix64: small, fast, good enough to drive test data.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn range(&mut self, lo: usize, hi_incl: usize) -> usize {
            lo + self.below(hi_incl - lo + 1)
        }
        fn chance(&mut self, one_in: usize) -> bool {
            self.below(one_in) == 0
        }
        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
        fn bytes_in(&mut self, lo: usize, hi_incl: usize) -> Vec<u8> {
            let len = self.range(lo, hi_incl);
            self.bytes(len)
        }
        /// Lengths biased to the interesting places: small, and around the
        /// 16-bit limit.
        fn len(&mut self) -> usize {
            match self.below(20) {
                0 => self.range(MAX_LEN - 8, MAX_LEN + 2),
                1 => self.range(256, 40_000),
                2..=4 => self.range(0, 2),
                _ => self.range(0, 40),
            }
        }
        fn var(&mut self) -> (Vec<u8>, Vec<u8>) {
            let (kl, vl) = (self.len(), self.len());
            (self.bytes(kl), self.bytes(vl))
        }
    }

    /// The model: what the encoder must say about `v`, computed naively.
    fn expected(v: &Vars) -> Result<usize, &'static str> {
        for (k, val) in v {
            if k.len() > MAX_LEN {
                return Err("key");
            }
            if val.len() > MAX_LEN {
                return Err("value");
            }
        }
        let total: usize = v.iter().map(|(k, val)| 4 + k.len() + val.len()).sum();
        if total > MAX_LEN {
            Err("block")
        } else {
            Ok(total)
        }
    }

    fn kind(e: &PacketError) -> &'static str {
        match e {
            PacketError::KeyTooLong { .. } => "key",
            PacketError::ValueTooLong { .. } => "value",
            PacketError::VarsTooLong { .. } => "block",
            PacketError::BufferTooSmall { .. } => "buffer",
        }
    }

    fn check_roundtrip(rng: &mut Rng, v: &Vars) {
        let (m1, m2) = (rng.next() as u8, rng.next() as u8);
        let got = encode_all_ways(v, m1, m2);
        match (expected(v), got) {
            (Ok(datasize), Ok(p)) => {
                assert_eq!(p.len(), HEADER_LEN + datasize);
                assert_eq!(u16::from_le_bytes([p[1], p[2]]) as usize, datasize);
                let body = if rng.chance(2) {
                    rng.bytes_in(0, 64)
                } else {
                    Vec::new()
                };
                let mut with_body = p.clone();
                with_body.extend_from_slice(&body);
                let (d1, d2, back, rest) = decode(&with_body).unwrap();
                assert_eq!((d1, d2), (m1, m2));
                assert!(back == *v, "round trip changed the variables");
                assert_eq!(rest, &body[..]);
                // Any shorter buffer is refused, never half-filled and Ok.
                let short = rng.below(p.len());
                let mut buf = vec![0u8; short];
                assert!(matches!(
                    encode_into(v, m1, m2, &mut buf),
                    Err(PacketError::BufferTooSmall { .. })
                ));
            }
            (Err(want), Err(e)) => {
                assert_eq!(kind(&e), want, "{e}");
                assert!(e.to_string().contains("65535"), "{e}");
            }
            (want, got) => panic!(
                "model says {want:?}, encoder says {:?}",
                got.map(|p| p.len())
            ),
        }
    }

    #[test]
    fn random_vars_round_trip_or_fail_cleanly() {
        let mut rng = Rng(0x5EED_0001);
        let (mut ok, mut err) = (0, 0);
        for _ in 0..3000 {
            let n = match rng.below(10) {
                0 => 0,
                1 => rng.range(30, 200),
                _ => rng.range(1, 12),
            };
            let v: Vars = (0..n).map(|_| rng.var()).collect();
            match expected(&v) {
                Ok(_) => ok += 1,
                Err(_) => err += 1,
            }
            check_roundtrip(&mut rng, &v);
        }
        // Both sides of the limit were exercised.
        assert!(ok > 1000 && err > 200, "ok {ok}, err {err}");
    }

    #[test]
    fn random_blocks_around_the_limit() {
        let mut rng = Rng(0x5EED_0002);
        for _ in 0..400 {
            // Small variables, then one that brings the block to exactly
            // `target` bytes: 65535 must pass, 65536 and up must fail.
            let target = rng.range(MAX_LEN - 3, MAX_LEN + 3);
            let mut v: Vars = Vec::new();
            let mut total = 0;
            while total < target - 2000 {
                let var = (rng.bytes_in(0, 30), rng.bytes_in(0, 1500));
                total += 4 + var.0.len() + var.1.len();
                v.push(var);
            }
            let key = rng.bytes_in(0, 30);
            let vlen = target - total - 4 - key.len();
            v.insert(rng.range(0, v.len()), (key, rng.bytes(vlen)));
            assert_eq!(
                expected(&v),
                if target <= MAX_LEN {
                    Ok(target)
                } else {
                    Err("block")
                }
            );
            check_roundtrip(&mut rng, &v);
        }
    }

    #[test]
    fn random_bytes_decode_without_panic_and_reencode_exactly() {
        let mut rng = Rng(0x5EED_0003);
        let valid: Vec<Vec<u8>> = (0..50)
            .map(|_| {
                let v: Vars = (0..rng.range(0, 6))
                    .map(|_| (rng.bytes_in(0, 5), rng.bytes_in(0, 5)))
                    .collect();
                encode_vars(&v, 0, 0).unwrap()
            })
            .collect();
        let mut decoded = 0;
        for _ in 0..20_000 {
            let input = if rng.chance(3) {
                rng.bytes_in(0, 40)
            } else {
                // A valid packet, mutated, cut or extended.
                let mut p = valid[rng.below(valid.len())].clone();
                for _ in 0..rng.range(0, 3) {
                    if !p.is_empty() {
                        let i = rng.below(p.len());
                        p[i] = rng.next() as u8;
                    }
                }
                match rng.below(3) {
                    0 => p.truncate(rng.range(0, p.len())),
                    1 => p.extend(rng.bytes_in(0, 8)),
                    _ => {}
                }
                p
            };
            if let Ok((m1, m2, v, rest)) = decode(&input) {
                decoded += 1;
                // Whatever decodes is exactly what the encoder writes.
                let p = encode_vars(&v, m1, m2).unwrap();
                assert_eq!(&input[..input.len() - rest.len()], &p[..]);
            }
        }
        assert!(decoded > 1000, "{decoded}");
    }

    fn random_parts(rng: &mut Rng) -> RequestParts {
        fn field(rng: &mut Rng) -> Vec<u8> {
            let n = match rng.below(50) {
                0 => rng.range(20_000, 70_000),
                _ => rng.range(0, 24),
            };
            rng.bytes(n)
        }
        const NAMES: &[&[u8]] = &[
            b"Host",
            b"Cookie",
            b"X-Multi",
            b"x-multi",
            b"Content-Type",
            b"Content-Length",
            b"Transfer-Encoding",
            b"Proxy",
            b"X_Under",
            b"Accept",
            b"X-\xe9",
        ];
        let headers: Vec<(Vec<u8>, Vec<u8>)> = (0..rng.range(0, 12))
            .map(|_| {
                let name = if rng.chance(4) {
                    rng.bytes_in(1, 10)
                } else {
                    NAMES[rng.below(NAMES.len())].to_vec()
                };
                (name, field(rng))
            })
            .collect();
        let params: Vec<(Vec<u8>, Vec<u8>)> = (0..rng.range(0, 3))
            .map(|_| {
                let name: &[u8] = [&b"SCRIPT_NAME"[..], b"APP_ENV", b"HTTP_HOST"][rng.below(3)];
                (name.to_vec(), field(rng))
            })
            .collect();
        let mut p = RequestParts::default();
        for f in [
            Field::Method,
            Field::RequestUri,
            Field::Uri,
            Field::QueryString,
            Field::Protocol,
        ] {
            p.set(f, &field(rng));
        }
        let script_name = if rng.chance(2) {
            b"/app/".to_vec()
        } else {
            field(rng)
        };
        p.set(Field::ScriptName, &script_name);
        for f in [
            Field::ServerName,
            Field::ServerPort,
            Field::RemoteAddr,
            Field::RemotePort,
            Field::DocumentRoot,
        ] {
            p.set(f, &field(rng));
        }
        p.https = rng.chance(2);
        p.content_length = if rng.chance(2) {
            Some(rng.next())
        } else {
            None
        };
        for (name, value) in headers {
            p.add_header(&name, &value);
        }
        for (name, value) in params {
            p.add_param(&name, &value);
        }
        p
    }

    #[test]
    fn cgi_vars_of_random_requests_round_trip() {
        let mut rng = Rng(0x5EED_0004);
        let (mut ok, mut err) = (0, 0);
        for _ in 0..2000 {
            let parts = random_parts(&mut rng);
            let v = cgi_vars(&parts);
            match expected(&v) {
                Ok(_) => ok += 1,
                Err(_) => err += 1,
            }
            check_roundtrip(&mut rng, &v);
        }
        assert!(ok > 500 && err > 100, "ok {ok}, err {err}");
    }

    #[test]
    fn a_typical_request() {
        let mut parts = RequestParts::default();
        parts
            .set(Field::Method, b"GET")
            .set(Field::RequestUri, b"/t?a=1")
            .set(Field::Uri, b"/t")
            .set(Field::QueryString, b"a=1")
            .set(Field::Protocol, b"HTTP/1.1")
            .set(Field::ServerName, b"localhost")
            .set(Field::ServerPort, b"1984")
            .set(Field::RemoteAddr, b"127.0.0.1")
            .set(Field::RemotePort, b"40000")
            .set(Field::DocumentRoot, b"/srv/html")
            .add_header(b"Host", b"localhost");
        let v = cgi_vars(&parts);
        let p = encode_vars(&v, 0, 0).unwrap();
        let (_, _, back, rest) = decode(&p).unwrap();
        assert_eq!(back, v);
        assert!(rest.is_empty());
        let keys: Vec<&[u8]> = back.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(keys[0], b"QUERY_STRING");
        assert_eq!(*keys.last().unwrap(), b"HTTP_HOST");
    }
}
