//! What a response's head may hold: the checks that keep a status or a
//! header from corrupting the response on the wire, shared by WSGI's
//! `start_response` and ASGI's `http.response.start`.

/// Headers that describe one hop, not the response: the server owns them.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// A hop-by-hop header (compared without case).
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
}

/// Control characters other than tab: CR and LF would end the header.
pub fn has_control(bytes: &[u8]) -> bool {
    bytes.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f)
}

/// An HTTP token (RFC 9110): what a header name must be.
pub fn is_token(name: &str) -> bool {
    is_token_bytes(name.as_bytes())
}

pub fn is_token_bytes(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(c))
}
