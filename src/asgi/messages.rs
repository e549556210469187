//! What an ASGI app may `send()`, for an HTTP response or on a WebSocket,
//! checked. A status or
//! header that could corrupt the response on the wire is an exception
//! raised into the app, never bytes sent: a status outside 100..=599, a
//! header name that is not a token, a value with CR, LF or other control
//! characters. Hop-by-hop headers (`connection`, `transfer-encoding`, ...)
//! are dropped: nginx owns the framing and the connection.

use crate::exchange::head::{has_control, is_hop_by_hop, is_token_bytes};
use crate::exchange::ResponseHead;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString};

/// One `send()` of an HTTP response.
pub enum HttpSend<'py> {
    Start(ResponseHead),
    /// `body` is `bytes` or `bytearray`.
    Body {
        body: Bound<'py, PyAny>,
        more: bool,
    },
    /// `http.response.pathsend`: the file at `path` is the body.
    PathSend(String),
}

fn item<'py>(
    message: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
) -> Option<Bound<'py, PyAny>> {
    message.get_item(key).ok().flatten()
}

/// The message's `type`.
pub fn message_type(message: &Bound<'_, PyAny>) -> PyResult<String> {
    let dict = message
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("an ASGI message must be a dict"))?;
    item(dict, intern!(message.py(), "type"))
        .ok_or_else(|| PyValueError::new_err("an ASGI message needs a \"type\""))?
        .extract()
        .map_err(|_| PyTypeError::new_err("an ASGI message's \"type\" must be a str"))
}

/// The bytes of a `bytes`, `bytearray` or absent (empty) field.
pub fn bytes_field<'py>(
    message: &Bound<'py, PyDict>,
    key: &str,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    match item(message, &PyString::new(message.py(), key)) {
        None => Ok(None),
        Some(v) if v.is_instance_of::<PyBytes>() || v.is_instance_of::<PyByteArray>() => {
            Ok(Some(v))
        }
        Some(v) if v.is_none() => Ok(None),
        Some(v) => Err(PyTypeError::new_err(format!(
            "\"{key}\" must be bytes, not {}",
            v.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))),
    }
}

fn flag(message: &Bound<'_, PyDict>, key: &Bound<'_, PyString>) -> PyResult<bool> {
    match item(message, key) {
        None => Ok(false),
        Some(v) => v.is_truthy(),
    }
}

pub fn parse_http<'py>(message: &Bound<'py, PyAny>) -> PyResult<HttpSend<'py>> {
    let py = message.py();
    let kind = message_type(message)?;
    let dict = message.cast::<PyDict>()?;
    match kind.as_str() {
        "http.response.start" => parse_start(dict).map(HttpSend::Start),
        "http.response.body" => Ok(HttpSend::Body {
            body: bytes_field(dict, "body")?.unwrap_or_else(|| PyBytes::new(py, b"").into_any()),
            more: flag(dict, intern!(py, "more_body"))?,
        }),
        "http.response.pathsend" => {
            let path: String = item(dict, intern!(py, "path"))
                .ok_or_else(|| PyValueError::new_err("http.response.pathsend needs a \"path\""))?
                .extract()?;
            if !path.starts_with('/') {
                return Err(PyValueError::new_err(format!(
                    "http.response.pathsend needs an absolute path, not {path:?}"
                )));
            }
            Ok(HttpSend::PathSend(path))
        }
        other => Err(PyRuntimeError::new_err(format!(
            "unexpected ASGI message {other:?} for an HTTP response"
        ))),
    }
}

fn parse_start(message: &Bound<'_, PyDict>) -> PyResult<ResponseHead> {
    let py = message.py();
    let code: i64 = item(message, intern!(py, "status"))
        .ok_or_else(|| PyValueError::new_err("http.response.start needs a \"status\""))?
        .extract()
        .map_err(|_| PyTypeError::new_err("the status must be an int"))?;
    if !(100..=599).contains(&code) {
        return Err(PyValueError::new_err(format!(
            "status {code} is not an HTTP status (100 to 599)"
        )));
    }
    if code < 200 {
        // A 1xx is interim: the client would wait for the real response
        // (and a 101 is the server's, for an accepted WebSocket).
        return Err(PyValueError::new_err(format!(
            "status {code} is informational (1xx): http.response.start needs a final status, 200 to 599"
        )));
    }
    if flag(message, intern!(py, "trailers"))? {
        return Err(PyRuntimeError::new_err(
            "response trailers are not supported (the server does not offer http.response.trailers)",
        ));
    }
    let mut head = ResponseHead {
        code: code as u16,
        // nginx's own reason phrase.
        status: Vec::new(),
        headers: Vec::new(),
        content_length: None,
    };
    add_headers(message, &mut head)?;
    Ok(head)
}

/// The message's `headers` into `head`, checked; `content-length` into
/// its own field, hop-by-hop headers dropped.
fn add_headers(message: &Bound<'_, PyDict>, head: &mut ResponseHead) -> PyResult<()> {
    let Some(headers) = item(message, intern!(message.py(), "headers")) else {
        return Ok(());
    };
    for pair in headers.try_iter()? {
        let pair = pair?;
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair
            .extract()
            .map_err(|_| PyTypeError::new_err("each header must be a [name, value] pair"))?;
        let name = name
            .cast_into::<PyBytes>()
            .map_err(|_| PyTypeError::new_err("header names must be bytes"))?;
        let value = value
            .cast_into::<PyBytes>()
            .map_err(|_| PyTypeError::new_err("header values must be bytes"))?;
        let (name, value) = (name.as_bytes(), value.as_bytes());
        if !is_token_bytes(name) {
            return Err(PyValueError::new_err(format!(
                "header name {:?} is not a valid token",
                String::from_utf8_lossy(name)
            )));
        }
        if has_control(value) {
            return Err(PyValueError::new_err(format!(
                "header {:?} has a value with CR, LF or control characters",
                String::from_utf8_lossy(name)
            )));
        }
        if is_hop_by_hop(name) {
            continue;
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "content-length {:?} is not a number",
                        String::from_utf8_lossy(value)
                    ))
                })?;
            if head.content_length.is_some_and(|m| m != n) {
                return Err(PyValueError::new_err("conflicting content-length headers"));
            }
            head.content_length = Some(n);
            continue;
        }
        // A token is ASCII.
        let name = String::from_utf8(name.to_vec()).expect("a token is ASCII");
        head.headers.push((name, value.to_vec()));
    }
    Ok(())
}

/// One `send()` on a WebSocket.
pub enum WsSend<'py> {
    /// `websocket.accept`: the subprotocol chosen, and the app's headers
    /// (in a head with no status yet).
    Accept {
        subprotocol: Option<String>,
        head: ResponseHead,
    },
    /// `websocket.send`: a text message (UTF-8 already, as `bytes`), or a
    /// binary one.
    Send {
        payload: Bound<'py, PyAny>,
        text: bool,
    },
    /// `websocket.close`.
    Close { code: u16, reason: String },
}

pub fn parse_websocket<'py>(message: &Bound<'py, PyAny>) -> PyResult<WsSend<'py>> {
    let py = message.py();
    let kind = message_type(message)?;
    let dict = message.cast::<PyDict>()?;
    let present = |key: &str| item(dict, &PyString::new(py, key)).filter(|v| !v.is_none());
    match kind.as_str() {
        "websocket.accept" => {
            let subprotocol = present("subprotocol")
                .map(|v| {
                    v.extract::<String>()
                        .map_err(|_| PyTypeError::new_err("\"subprotocol\" must be a str"))
                })
                .transpose()?;
            if subprotocol
                .as_deref()
                .is_some_and(|s| !is_token_bytes(s.as_bytes()))
            {
                return Err(PyValueError::new_err(format!(
                    "subprotocol {subprotocol:?} is not a valid token"
                )));
            }
            let mut head = ResponseHead {
                code: 101,
                status: Vec::new(),
                headers: Vec::new(),
                content_length: None,
            };
            add_headers(dict, &mut head)?;
            // The handshake's own headers are the server's to give.
            head.headers.retain(|(n, _)| {
                !n.eq_ignore_ascii_case("sec-websocket-accept")
                    && !n.eq_ignore_ascii_case("sec-websocket-protocol")
                    && !n.eq_ignore_ascii_case("sec-websocket-extensions")
            });
            Ok(WsSend::Accept { subprotocol, head })
        }
        "websocket.send" => match (bytes_field(dict, "bytes")?, present("text")) {
            (Some(payload), None) => Ok(WsSend::Send {
                payload,
                text: false,
            }),
            (None, Some(text)) => {
                let text = text
                    .cast_into::<PyString>()
                    .map_err(|_| PyTypeError::new_err("\"text\" must be a str"))?;
                Ok(WsSend::Send {
                    payload: PyBytes::new(py, text.to_str()?.as_bytes()).into_any(),
                    text: true,
                })
            }
            _ => Err(PyValueError::new_err(
                "websocket.send needs exactly one of \"bytes\" and \"text\"",
            )),
        },
        "websocket.close" => {
            let code = match present("code") {
                None => crate::websocket::close::NORMAL,
                Some(c) => c
                    .extract::<u16>()
                    .ok()
                    .filter(|&c| crate::websocket::close::is_valid_code(c))
                    .ok_or_else(|| {
                        PyValueError::new_err(format!("{c} is not a close code a server may send"))
                    })?,
            };
            // Not a str: its str(), as FastAPI closes with a list of
            // validation errors (before the accept, where no reason is sent
            // anyway: the refusal is a 403).
            let reason = match present("reason") {
                None => String::new(),
                Some(r) => match r.extract::<String>() {
                    Ok(s) => s,
                    Err(_) => r.str()?.to_string(),
                },
            };
            Ok(WsSend::Close { code, reason })
        }
        other => Err(PyRuntimeError::new_err(format!(
            "unexpected ASGI message {other:?} for a WebSocket"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(py: Python<'_>, code: &str) -> PyResult<ResponseHead> {
        let d = py
            .eval(&std::ffi::CString::new(code).unwrap(), None, None)
            .unwrap();
        match parse_http(&d)? {
            HttpSend::Start(h) => Ok(h),
            _ => panic!("not a start"),
        }
    }

    #[test]
    fn a_start_becomes_a_checked_head() {
        Python::initialize();
        Python::attach(|py| {
            let h = start(py, "{'type': 'http.response.start', 'status': 201, 'headers': [(b'content-type', b'text/plain'), (b'Content-Length', b'5'), (b'connection', b'close'), (b'x-a', b'1')]}").unwrap();
            assert_eq!(h.code, 201);
            assert_eq!(h.content_length, Some(5));
            assert_eq!(
                h.headers,
                [
                    ("content-type".to_string(), b"text/plain".to_vec()),
                    ("x-a".into(), b"1".to_vec())
                ],
                "hop-by-hop dropped, content-length lifted out"
            );
            for (bad, says) in [
                ("{'type': 'http.response.start', 'status': 700}", "not an HTTP status"),
                ("{'type': 'http.response.start', 'status': '200'}", "must be an int"),
                ("{'type': 'http.response.start', 'status': 200, 'headers': [(b'x', b'a\\r\\nb: c')]}", "CR, LF"),
                ("{'type': 'http.response.start', 'status': 200, 'headers': [(b'x y', b'a')]}", "not a valid token"),
                ("{'type': 'http.response.start', 'status': 200, 'headers': [('x', 'a')]}", "must be bytes"),
                ("{'type': 'http.response.start', 'status': 200, 'trailers': True}", "trailers"),
                ("{'type': 'http.response.start'}", "needs a \"status\""),
            ] {
                let e = start(py, bad).err().unwrap().to_string();
                assert!(e.contains(says), "{bad}: {e}");
            }
        });
    }

    #[test]
    fn websocket_messages() {
        Python::initialize();
        Python::attach(|py| {
            let parse = |code: &str| {
                let m = py
                    .eval(&std::ffi::CString::new(code).unwrap(), None, None)
                    .unwrap();
                parse_websocket(&m)
                    .map(|w| match w {
                        WsSend::Accept { subprotocol, head } => {
                            format!("accept {subprotocol:?} {:?}", head.headers)
                        }
                        WsSend::Send { payload, text } => {
                            format!(
                                "send text={text} {:?}",
                                payload.extract::<Vec<u8>>().unwrap()
                            )
                        }
                        WsSend::Close { code, reason } => format!("close {code} {reason:?}"),
                    })
                    .map_err(|e| e.to_string())
            };
            assert_eq!(
                parse("{'type': 'websocket.accept', 'subprotocol': 'chat', 'headers': [(b'x-a', b'1'), (b'sec-websocket-accept', b'forged'), (b'connection', b'close')]}").unwrap(),
                "accept Some(\"chat\") [(\"x-a\", [49])]"
            );
            assert_eq!(
                parse("{'type': 'websocket.accept', 'subprotocol': None}").unwrap(),
                "accept None []"
            );
            assert!(parse("{'type': 'websocket.accept', 'subprotocol': 'a b'}")
                .unwrap_err()
                .contains("not a valid token"));
            assert_eq!(
                parse("{'type': 'websocket.send', 'text': 'hé', 'bytes': None}").unwrap(),
                "send text=true [104, 195, 169]"
            );
            assert_eq!(
                parse("{'type': 'websocket.send', 'bytes': b'\\x00'}").unwrap(),
                "send text=false [0]"
            );
            for bad in [
                "{'type': 'websocket.send'}",
                "{'type': 'websocket.send', 'text': 'a', 'bytes': b'a'}",
            ] {
                assert!(parse(bad).unwrap_err().contains("exactly one"), "{bad}");
            }
            assert!(parse("{'type': 'websocket.send', 'text': b'a'}")
                .unwrap_err()
                .contains("must be a str"));
            assert_eq!(
                parse("{'type': 'websocket.close'}").unwrap(),
                "close 1000 \"\""
            );
            assert_eq!(
                parse("{'type': 'websocket.close', 'code': 4001, 'reason': 'bye'}").unwrap(),
                "close 4001 \"bye\""
            );
            assert!(parse("{'type': 'websocket.close', 'code': 1005}")
                .unwrap_err()
                .contains("not a close code"));
            assert_eq!(
                parse("{'type': 'websocket.close', 'reason': [1]}").unwrap(),
                "close 1000 \"[1]\""
            );
            assert!(parse("{'type': 'http.response.start', 'status': 200}")
                .unwrap_err()
                .contains("unexpected ASGI message"));
        });
    }

    #[test]
    fn bodies_and_pathsends() {
        Python::initialize();
        Python::attach(|py| {
            let m = py
                .eval(
                    c"{'type': 'http.response.body', 'body': b'abc', 'more_body': True}",
                    None,
                    None,
                )
                .unwrap();
            match parse_http(&m).unwrap() {
                HttpSend::Body { body, more } => {
                    assert!(more);
                    assert_eq!(body.extract::<Vec<u8>>().unwrap(), b"abc");
                }
                _ => panic!(),
            }
            let m = py
                .eval(c"{'type': 'http.response.body'}", None, None)
                .unwrap();
            assert!(matches!(
                parse_http(&m).unwrap(),
                HttpSend::Body { more: false, .. }
            ));
            let m = py
                .eval(c"{'type': 'http.response.body', 'body': 'str'}", None, None)
                .unwrap();
            assert!(parse_http(&m).is_err());
            let m = py
                .eval(
                    c"{'type': 'http.response.pathsend', 'path': 'relative'}",
                    None,
                    None,
                )
                .unwrap();
            assert!(parse_http(&m).is_err());
            let m = py.eval(c"{'type': 'websocket.send'}", None, None).unwrap();
            assert!(parse_http(&m)
                .err()
                .unwrap()
                .to_string()
                .contains("unexpected ASGI message"));
        });
    }
}
