//! The server's side of the opening handshake (RFC 6455 §4.2), as pure
//! functions of the request: [`check_request`] says whether a request is a
//! valid WebSocket upgrade and gives what the `101` response needs.
//!
//! The response to a valid request is, per §4.2.2:
//!
//! ```text
//! HTTP/1.1 101 Switching Protocols
//! Upgrade: websocket
//! Connection: Upgrade
//! Sec-WebSocket-Accept: <Handshake::accept>
//! Sec-WebSocket-Protocol: <one of Handshake::subprotocols, if the app picked one>
//! ```
//!
//! No `Sec-WebSocket-Extensions` is ever answered: no extension (such as
//! permessage-deflate) is negotiated, so the client may not use one.
//!
//! ```
//! use ngx_http_wsgi_module::websocket::handshake::check_request;
//!
//! let headers: [(&[u8], &[u8]); 5] = [
//!     (b"Host", b"server.example.com"),
//!     (b"Upgrade", b"websocket"),
//!     (b"Connection", b"Upgrade"),
//!     (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
//!     (b"Sec-WebSocket-Version", b"13"),
//! ];
//! let handshake = check_request(b"GET", b"HTTP/1.1", headers).unwrap();
//! assert_eq!(handshake.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); // RFC 6455 §1.3
//! assert!(handshake.subprotocols.is_empty());
//! ```

use std::fmt;

use super::base64;
use super::sha1::Sha1;

/// The GUID the key is hashed with (§1.3).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version: 13.
pub const VERSION: &str = "13";

/// `Sec-WebSocket-Accept` for the client's `Sec-WebSocket-Key` (as sent,
/// without surrounding whitespace): base64(SHA-1(key + GUID)).
pub fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(GUID.as_bytes());
    base64::encode(&h.finish())
}

/// What the `101` response needs from a valid upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The value of `Sec-WebSocket-Accept`.
    pub accept: String,
    /// The subprotocols the client offers, in its order of preference
    /// (ASGI's `scope["subprotocols"]`); the response may name one.
    pub subprotocols: Vec<String>,
}

/// Why a request is not a valid WebSocket upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// No `Upgrade: websocket`: not a WebSocket request at all, which the
    /// caller may serve as plain HTTP.
    NotWebSocket,
    /// The method is not GET.
    Method,
    /// The request is not HTTP/1.1.
    HttpVersion,
    /// `Connection` has no `upgrade` token.
    NoConnectionUpgrade,
    /// `Sec-WebSocket-Version` is missing or not 13.
    UnsupportedVersion,
    /// No `Sec-WebSocket-Key`.
    MissingKey,
    /// More than one `Sec-WebSocket-Key`.
    DuplicateKey,
    /// A `Sec-WebSocket-Key` that is not the base64 of 16 bytes.
    InvalidKey,
    /// A `Sec-WebSocket-Protocol` element that is not an HTTP token.
    InvalidSubprotocol,
}

impl HandshakeError {
    /// The HTTP status to refuse the request with: 426 Upgrade Required for
    /// a version other than 13 (the response must then carry
    /// `Sec-WebSocket-Version: 13`, §4.4), 400 for the others.
    /// `NotWebSocket` is not meant to be refused; 400 if it is.
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::UnsupportedVersion => 426,
            _ => 400,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandshakeError::NotWebSocket => "not a websocket request (no \"Upgrade: websocket\")",
            HandshakeError::Method => "websocket handshake with a method other than GET",
            HandshakeError::HttpVersion => {
                "websocket handshake over a protocol other than HTTP/1.1"
            }
            HandshakeError::NoConnectionUpgrade => {
                "websocket handshake without \"upgrade\" in the Connection header"
            }
            HandshakeError::UnsupportedVersion => {
                "websocket handshake with a Sec-WebSocket-Version missing or other than 13"
            }
            HandshakeError::MissingKey => "websocket handshake without Sec-WebSocket-Key",
            HandshakeError::DuplicateKey => "websocket handshake with several Sec-WebSocket-Key",
            HandshakeError::InvalidKey => {
                "websocket handshake with a Sec-WebSocket-Key that is not 16 bytes in base64"
            }
            HandshakeError::InvalidSubprotocol => {
                "websocket handshake with a Sec-WebSocket-Protocol that is not a list of tokens"
            }
        })
    }
}

impl std::error::Error for HandshakeError {}

/// `value` without the spaces and tabs around it.
fn trim(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// The elements of a comma-separated header value (RFC 9110 §5.6.1),
/// trimmed, empty ones skipped.
fn elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|e| !e.is_empty())
}

fn has_token(value: &[u8], token: &str) -> bool {
    elements(value).any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
}

/// An HTTP token (RFC 9110 §5.6.2).
fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Checks an upgrade request: its method, its protocol (`HTTP/1.1`, as
/// nginx's `$server_protocol` says it) and its headers (name, value), each
/// line as received, repeated names included; names are compared without
/// case. The errors come in the order of [`HandshakeError`]'s variants.
pub fn check_request<'a, I>(
    method: &[u8],
    protocol: &[u8],
    headers: I,
) -> Result<Handshake, HandshakeError>
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    let (mut upgrade, mut connection) = (false, false);
    let (mut version_seen, mut version_ok) = (false, true);
    let (mut key, mut keys) = (None, 0);
    let (mut subprotocols, mut subprotocols_ok) = (Vec::new(), true);
    for (name, value) in headers {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("upgrade") {
            upgrade |= has_token(value, "websocket");
        } else if is("connection") {
            connection |= has_token(value, "upgrade");
        } else if is("sec-websocket-version") {
            version_seen = true;
            version_ok &= trim(value) == VERSION.as_bytes();
        } else if is("sec-websocket-key") {
            keys += 1;
            key = Some(trim(value));
        } else if is("sec-websocket-protocol") {
            for e in elements(value) {
                match std::str::from_utf8(e) {
                    Ok(s) if is_token(e) => subprotocols.push(s.to_owned()),
                    _ => subprotocols_ok = false,
                }
            }
        }
    }
    if !upgrade {
        return Err(HandshakeError::NotWebSocket);
    }
    if method != b"GET" {
        return Err(HandshakeError::Method);
    }
    if protocol != b"HTTP/1.1" {
        return Err(HandshakeError::HttpVersion);
    }
    if !connection {
        return Err(HandshakeError::NoConnectionUpgrade);
    }
    if !(version_seen && version_ok) {
        return Err(HandshakeError::UnsupportedVersion);
    }
    let key = match (key, keys) {
        (None, _) => return Err(HandshakeError::MissingKey),
        (Some(_), 2..) => return Err(HandshakeError::DuplicateKey),
        (Some(key), _) => key,
    };
    if base64::decode(key).is_none_or(|k| k.len() != 16) {
        return Err(HandshakeError::InvalidKey);
    }
    if !subprotocols_ok {
        return Err(HandshakeError::InvalidSubprotocol);
    }
    Ok(Handshake {
        accept: accept_key(key),
        subprotocols,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";

    /// The RFC's §1.2 request.
    fn rfc_headers() -> Vec<(&'static [u8], &'static [u8])> {
        vec![
            (b"Host", b"server.example.com"),
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", KEY),
            (b"Origin", b"http://example.com"),
            (b"Sec-WebSocket-Protocol", b"chat, superchat"),
            (b"Sec-WebSocket-Version", b"13"),
        ]
    }

    fn check(headers: &[(&[u8], &[u8])]) -> Result<Handshake, HandshakeError> {
        check_request(b"GET", b"HTTP/1.1", headers.iter().copied())
    }

    /// The RFC request with header `name` replaced by these lines (or
    /// removed, with none).
    fn with(name: &str, lines: &[&'static [u8]]) -> Vec<(&'static [u8], &'static [u8])> {
        let mut h: Vec<_> = rfc_headers()
            .into_iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(name.as_bytes()))
            .collect();
        let name: &'static [u8] = rfc_headers()
            .iter()
            .map(|(n, _)| *n)
            .find(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            .unwrap();
        h.extend(lines.iter().map(|v| (name, *v)));
        h
    }

    /// The error and status that refuse the RFC request with header
    /// `name` as `lines`.
    fn refused(name: &str, lines: &[&'static [u8]]) -> (HandshakeError, u16) {
        let e = check(&with(name, lines)).unwrap_err();
        let status = e.status();
        (e, status)
    }

    #[test]
    fn the_rfc_example() {
        assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(
            check(&rfc_headers()),
            Ok(Handshake {
                accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(),
                subprotocols: vec!["chat".into(), "superchat".into()],
            })
        );
    }

    #[test]
    fn other_keys_give_other_accepts() {
        // Computed independently (Python's hashlib and base64).
        assert_eq!(
            accept_key(b"x3JJHMbDL1EzLkh9GBhXDw=="),
            "HSmrc0sMlYUkAGmm5OPpG2HaGWk="
        );
        assert_eq!(
            accept_key(b"AQIDBAUGBwgJCgsMDQ4PEA=="),
            "C/0nmHhBztSRGR1CwL6Tf4ZjwpY="
        );
    }

    #[test]
    fn names_and_tokens_ignore_case_and_lists_are_split() {
        let headers: Vec<(&[u8], &[u8])> = vec![
            (b"UPGRADE", b"WebSocket"),
            (b"connection", b"keep-alive, Upgrade"),
            (b"sec-websocket-key", b"  dGhlIHNhbXBsZSBub25jZQ==\t"),
            (b"SEC-WEBSOCKET-VERSION", b" 13 "),
        ];
        assert_eq!(
            check(&headers).unwrap().accept,
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        // Tokens among others, over several lines.
        let headers = [
            with("Connection", &[b"keep-alive", b"foo ,, UPGRADE"]),
            with("Upgrade", &[b"h2c", b"foo, websocket"]),
        ];
        for h in headers {
            assert!(check(&h).is_ok());
        }
    }

    #[test]
    fn not_a_websocket_request() {
        for lines in [&[][..], &[&b"h2c"[..]], &[b"websocket2"], &[b""]] {
            assert_eq!(
                refused("Upgrade", lines),
                (HandshakeError::NotWebSocket, 400)
            );
        }
        // Whatever else is wrong.
        assert_eq!(
            check_request(b"POST", b"HTTP/1.0", with("Upgrade", &[])),
            Err(HandshakeError::NotWebSocket)
        );
    }

    #[test]
    fn method_and_http_version() {
        for method in [&b"POST"[..], b"get", b"HEAD", b""] {
            let e = check_request(method, b"HTTP/1.1", rfc_headers()).unwrap_err();
            assert_eq!((e.clone(), e.status()), (HandshakeError::Method, 400));
        }
        for protocol in [&b"HTTP/1.0"[..], b"HTTP/2.0", b"http/1.1", b""] {
            let e = check_request(b"GET", protocol, rfc_headers()).unwrap_err();
            assert_eq!((e.clone(), e.status()), (HandshakeError::HttpVersion, 400));
        }
    }

    #[test]
    fn connection_needs_the_upgrade_token() {
        for lines in [
            &[][..],
            &[&b"keep-alive"[..]],
            &[b"upgrade-insecure"],
            &[b"close, upgraded"],
        ] {
            assert_eq!(
                refused("Connection", lines),
                (HandshakeError::NoConnectionUpgrade, 400)
            );
        }
    }

    #[test]
    fn only_version_13() {
        for lines in [
            &[][..],
            &[&b"8"[..]],
            &[b"13, 8"],
            &[b"13", b"8"],
            &[b"130"],
            &[b""],
        ] {
            assert_eq!(
                refused("Sec-WebSocket-Version", lines),
                (HandshakeError::UnsupportedVersion, 426)
            );
        }
        assert!(check(&with("Sec-WebSocket-Version", &[b"13", b"13"])).is_ok());
    }

    #[test]
    fn the_key_must_be_16_bytes_of_base64_once() {
        assert_eq!(
            check(&with("Sec-WebSocket-Key", &[])),
            Err(HandshakeError::MissingKey)
        );
        assert_eq!(
            check(&with("Sec-WebSocket-Key", &[KEY, KEY])),
            Err(HandshakeError::DuplicateKey)
        );
        for bad in [
            &b""[..],
            b"dGhlIHNhbXBsZSBub25jZQ",   // unpadded
            b"dGhlIHNhbXBsZSBub25j",     // 15 bytes
            b"dGhlIHNhbXBsZSBub25jZSE=", // 17 bytes
            b"dGhlIHNhbXBsZSBub25jZQ==AA==",
            b"dGhlIHNhbXBsZSBub25j ZQ==",
            b"not base64 at all!!!!!!!",
        ] {
            assert_eq!(
                refused("Sec-WebSocket-Key", &[bad]),
                (HandshakeError::InvalidKey, 400)
            );
        }
        // Any 16 bytes will do.
        let accept = check(&with("Sec-WebSocket-Key", &[b"AAAAAAAAAAAAAAAAAAAAAA=="])).unwrap();
        assert_eq!(accept.accept, accept_key(b"AAAAAAAAAAAAAAAAAAAAAA=="));
    }

    #[test]
    fn subprotocols() {
        let offered = |lines: &[&'static [u8]]| {
            check(&with("Sec-WebSocket-Protocol", lines)).map(|h| h.subprotocols)
        };
        assert_eq!(offered(&[]), Ok(vec![]));
        assert_eq!(offered(&[b""]), Ok(vec![]));
        assert_eq!(
            offered(&[b" graphql-ws ,, v2.chat~x", b"wamp.2.json"]),
            Ok(vec![
                "graphql-ws".into(),
                "v2.chat~x".into(),
                "wamp.2.json".into()
            ])
        );
        // Case and duplicates are the client's.
        assert_eq!(
            offered(&[b"Chat, chat"]),
            Ok(vec!["Chat".into(), "chat".into()])
        );
        for bad in [
            &b"chat, super chat"[..],
            b"a/b",
            b"\"quoted\"",
            b"caf\xc3\xa9",
            b"x\xff",
        ] {
            assert_eq!(offered(&[bad]), Err(HandshakeError::InvalidSubprotocol));
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let msg = HandshakeError::UnsupportedVersion.to_string();
        assert!(msg.contains("13"), "{msg}");
        assert!(HandshakeError::InvalidKey.to_string().contains("16 bytes"));
    }
}
