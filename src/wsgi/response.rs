//! `start_response` and the `write()` callable it returns (PEP 3333), and
//! the validation of what the application hands them. A status or header
//! that could corrupt the response on the wire is an exception raised into
//! the application, never bytes sent.

use super::request_log::RequestLog;
use super::spill::{SpillPolicy, Spiller};
use crate::exchange::head::{has_control, is_hop_by_hop, is_token};
use crate::exchange::{
    release_dropped, Cancelled, Chunk, Event, Exchange, FileRange, ResponseHead,
};
use crate::log::Level;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};
use std::sync::{Arc, Mutex};

/// A native string as PEP 3333 defines it: latin-1 code points only.
fn latin1(s: &str, what: &str) -> Result<Vec<u8>, String> {
    if s.is_ascii() {
        return Ok(s.as_bytes().to_vec());
    }
    s.chars()
        .map(|c| {
            u8::try_from(u32::from(c))
                .map_err(|_| format!("{what} has a character outside latin-1: {c:?}"))
        })
        .collect()
}

/// "200 OK" → (200, b"200 OK").
pub fn parse_status(status: &str) -> Result<(u16, Vec<u8>), String> {
    let bytes = latin1(status, "status")?;
    if has_control(&bytes) {
        return Err(format!("status {status:?} contains control characters"));
    }
    let digits = bytes.get(..3).filter(|d| d.iter().all(u8::is_ascii_digit));
    match (digits, bytes.get(3)) {
        // A 1xx is interim: as the final status, the client would wait on.
        (Some(d), Some(b' ')) if d[0] == b'1' => Err(format!(
            "status {status:?} is informational (1xx): a response needs a final status, 200 to 599"
        )),
        (Some(d), Some(b' ')) if d[0] != b'0' => {
            let code = std::str::from_utf8(d).unwrap().parse().unwrap();
            Ok((code, bytes))
        }
        _ => Err(format!(
            "status {status:?} is not of the form \"NNN Reason\""
        )),
    }
}

/// Check one header; returns its value as latin-1 bytes.
pub fn check_header(name: &str, value: &str) -> Result<Vec<u8>, String> {
    if !is_token(name) {
        return Err(format!("header name {name:?} is not a valid token"));
    }
    if is_hop_by_hop(name.as_bytes()) {
        return Err(format!(
            "hop-by-hop header {name:?} is not allowed from a WSGI application"
        ));
    }
    let v = latin1(value, "header value")?;
    if has_control(&v) {
        return Err(format!(
            "header {name:?} has a value with CR, LF or control characters"
        ));
    }
    Ok(v)
}

/// Build the response head from `start_response`'s arguments.
pub fn parse_head<N, V>(status: &str, headers: Vec<(N, V)>) -> Result<ResponseHead, String>
where
    N: AsRef<str> + Into<String>,
    V: AsRef<str>,
{
    let (code, status) = parse_status(status)?;
    let mut head = ResponseHead {
        code,
        status,
        headers: Vec::with_capacity(headers.len()),
        content_length: None,
    };
    for (name, value) in headers {
        let value = value.as_ref();
        let v = check_header(name.as_ref(), value)?;
        if name.as_ref().eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(&v)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| format!("Content-Length {value:?} is not a number"))?;
            if head.content_length.is_some_and(|m| m != n) {
                return Err("conflicting Content-Length headers".into());
            }
            head.content_length = Some(n);
        } else {
            head.headers.push((name.into(), v));
        }
    }
    Ok(head)
}

/// Why writing a chunk did not happen.
pub enum WriteError {
    Cancelled,
    NotStarted,
}

/// The state of one response, shared by `start_response`, `write()` and
/// the loop that iterates the application's result. All three run on the
/// request's Python thread (one at a time, if the response parks and
/// goes on on another).
pub struct Responder {
    pub(super) exchange: Arc<Exchange>,
    /// Set by start_response, sent with the first non-empty chunk.
    pending: Option<ResponseHead>,
    head_sent: bool,
    declared: Option<u64>,
    sent: u64,
    /// The app wrote more than its Content-Length; the rest was dropped.
    pub overflowed: bool,
    /// Where `write()` may put what the client is not ready for.
    spiller: Option<Spiller>,
    pub log: RequestLog,
}

impl Responder {
    pub fn new(
        exchange: Arc<Exchange>,
        spill_policy: Option<Arc<SpillPolicy>>,
        log: RequestLog,
    ) -> Responder {
        Responder {
            exchange,
            pending: None,
            head_sent: false,
            declared: None,
            sent: 0,
            overflowed: false,
            spiller: Spiller::new(spill_policy),
            log,
        }
    }

    pub fn head_sent(&self) -> bool {
        self.head_sent
    }

    pub fn started(&self) -> bool {
        self.head_sent || self.pending.is_some()
    }

    pub fn sent(&self) -> u64 {
        self.sent
    }

    pub fn declared(&self) -> Option<u64> {
        self.declared
    }

    /// A one-element body's length is the Content-Length, when the app gave none.
    pub fn default_content_length(&mut self, n: u64) {
        if let Some(head) = self.pending.as_mut() {
            head.content_length.get_or_insert(n);
        }
    }

    fn send_head(&mut self) -> Result<(), WriteError> {
        if self.head_sent {
            return Ok(());
        }
        let head = self.pending.take().ok_or(WriteError::NotStarted)?;
        self.declared = head.content_length;
        self.head_sent = true;
        // Body data, the end or an abort follows at once and wakes the
        // consumer for both.
        self.exchange
            .queue(Event::Head(head))
            .map_err(|Cancelled| WriteError::Cancelled)
    }

    /// Send the head at the end of a response whose body was empty.
    pub fn finish_head(&mut self) -> Result<(), WriteError> {
        if !self.head_sent {
            if let Some(head) = self.pending.as_mut() {
                head.content_length.get_or_insert(0);
            }
        }
        self.send_head()
    }

    pub fn push(&self, event: Event) -> Result<(), Cancelled> {
        self.exchange.push(event)
    }
}

/// How a body chunk enters the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// More follow at once (the items of a list): the event loop is woken
    /// by what follows.
    Quiet,
    /// The event loop hears of it. The caller has checked for room (an
    /// iterated response parks when there is none).
    Wake,
    /// From `write()`, which returns only once the chunk is on its way:
    /// with no room, it goes to the spill file, or waits for the client.
    Blocking,
}

/// Send one body chunk: the head first if it has not gone out, never more
/// than the declared Content-Length. `data` is the item's bytes; `shared`
/// the item itself when it is an (immutable) `bytes`, which nginx may then
/// send without a copy.
pub fn write_chunk(
    py: Python<'_>,
    responder: &Mutex<Responder>,
    data: &[u8],
    shared: Option<&Bound<'_, PyBytes>>,
    feed: Feed,
) -> Result<(), WriteError> {
    if data.is_empty() {
        return Ok(());
    }
    // Chunks sent earlier and dropped by the event loop are released here.
    release_dropped(py);
    let (exchange, chunk) = {
        let mut r = responder.lock().unwrap();
        r.send_head()?;
        let room = r.declared.map_or(u64::MAX, |d| d.saturating_sub(r.sent));
        let n = (data.len() as u64).min(room) as usize;
        if n < data.len() {
            r.overflowed = true;
        }
        if n == 0 {
            return Ok(());
        }
        r.sent += n as u64;
        let chunk = match shared {
            Some(bytes) => Chunk::of_bytes(bytes, n),
            None => Chunk::Owned(data[..n].to_vec()),
        };
        (r.exchange.clone(), chunk)
    };
    let event = match feed {
        Feed::Quiet => return exchange.queue(Event::Data(chunk)).map_err(cancelled),
        Feed::Blocking if !exchange.has_space() => {
            // Taken out first: the guard must not outlive this statement.
            let spiller = responder.lock().unwrap().spiller.take();
            let spilled = match spiller {
                None => None,
                Some(mut spiller) => {
                    let data = chunk.as_slice();
                    let put = py.detach(|| spiller.put(data));
                    let mut r = responder.lock().unwrap();
                    match put {
                        Ok(range) => {
                            r.spiller = Some(spiller);
                            range
                        }
                        Err(why) => {
                            r.log.log(
                                Level::Error,
                                &format!("write() cannot spill to a temp file ({why}); it waits for the client instead"),
                            );
                            None
                        }
                    }
                }
            };
            match spilled {
                Some(range) => Event::File(range),
                None => {
                    py.detach(|| exchange.wait_for_space()).map_err(cancelled)?;
                    Event::Data(chunk)
                }
            }
        }
        Feed::Wake | Feed::Blocking => Event::Data(chunk),
    };
    exchange.push(event).map_err(cancelled)
}

fn cancelled(_: Cancelled) -> WriteError {
    WriteError::Cancelled
}

/// Send a file range as the body: the head first, never more than the
/// declared Content-Length, which defaults to the range's length.
pub fn write_file(responder: &Mutex<Responder>, mut range: FileRange) -> Result<(), WriteError> {
    let mut r = responder.lock().unwrap();
    if let Some(head) = r.pending.as_mut() {
        head.content_length.get_or_insert(range.len);
    }
    r.send_head()?;
    let room = r.declared.map_or(u64::MAX, |d| d.saturating_sub(r.sent));
    range.len = range.len.min(room);
    r.sent += range.len;
    if range.len == 0 {
        return Ok(());
    }
    r.exchange.push(Event::File(range)).map_err(cancelled)
}

/// The bytes of one body item: `bytes` or `bytearray`, nothing else.
pub fn body_bytes<'a>(item: &'a Bound<'_, PyAny>) -> PyResult<std::borrow::Cow<'a, [u8]>> {
    if let Ok(b) = item.cast::<PyBytes>() {
        return Ok(std::borrow::Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(b) = item.cast::<PyByteArray>() {
        return Ok(std::borrow::Cow::Owned(b.to_vec()));
    }
    let kind = item
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    Err(PyTypeError::new_err(format!(
        "WSGI response body items must be bytes, not {kind}"
    )))
}

pub fn write_error_to_py(e: WriteError) -> PyErr {
    match e {
        WriteError::Cancelled => PyOSError::new_err("client connection closed"),
        WriteError::NotStarted => PyRuntimeError::new_err("write() called before start_response()"),
    }
}

#[pyclass(module = "ngx_wsgi")]
pub struct StartResponse {
    responder: Arc<Mutex<Responder>>,
}

impl StartResponse {
    pub fn new(responder: Arc<Mutex<Responder>>) -> StartResponse {
        StartResponse { responder }
    }
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__(
        &self,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Write> {
        let exc_info = exc_info.filter(|e| !e.is_none());
        let mut r = self.responder.lock().unwrap();
        match exc_info {
            Some(info) if r.head_sent => {
                // Too late to replace the headers: re-raise the app's error.
                let info = info.cast::<PyTuple>()?;
                return Err(PyErr::from_value(info.get_item(1)?));
            }
            Some(_) => {}
            None if r.started() => {
                return Err(PyRuntimeError::new_err(
                    "start_response() called a second time without exc_info",
                ))
            }
            None => {}
        }
        let status = status
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("status must be a str"))?
            .to_cow()?;
        // PEP 3333: "a list of (header_name, header_value) tuples", as
        // wsgiref and mod_wsgi insist.
        if !headers.is_instance_of::<PyList>() {
            let kind = headers
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            return Err(PyTypeError::new_err(format!(
                "headers must be a list of (name, value) tuples, not {kind}"
            )));
        }
        // The str objects stay alive in `strings` while `list` borrows
        // their UTF-8 (no copy for ASCII, the usual case).
        let mut strings = Vec::new();
        for item in headers.try_iter()? {
            let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?
                .extract()
                .map_err(|_| PyTypeError::new_err("each header must be a (name, value) tuple"))?;
            let name = name
                .cast_into::<PyString>()
                .map_err(|_| PyTypeError::new_err("header names must be str"))?;
            let value = value
                .cast_into::<PyString>()
                .map_err(|_| PyTypeError::new_err("header values must be str"))?;
            strings.push((name, value));
        }
        let list = strings
            .iter()
            .map(|(n, v)| Ok((n.to_cow()?, v.to_cow()?)))
            .collect::<PyResult<Vec<_>>>()?;
        r.pending = Some(parse_head(&status, list).map_err(PyValueError::new_err)?);
        Ok(Write {
            responder: self.responder.clone(),
        })
    }
}

/// The legacy `write(data)` callable returned by `start_response`.
#[pyclass(module = "ngx_wsgi")]
pub struct Write {
    responder: Arc<Mutex<Responder>>,
}

#[pymethods]
impl Write {
    fn __call__(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = body_bytes(data)?;
        let shared = data.cast::<PyBytes>().ok();
        write_chunk(py, &self.responder, &bytes, shared, Feed::Blocking).map_err(write_error_to_py)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(parse_status("200 OK").unwrap(), (200, b"200 OK".to_vec()));
        assert_eq!(parse_status("418 I'm a teapot").unwrap().0, 418);
        assert_eq!(parse_status("599 ").unwrap().0, 599);
        for bad in [
            "200",
            "OK 200",
            "2000 OK",
            "20 OK",
            "200\r\nX: y",
            "099 x",
            "100 Continue",
            "101 Switching Protocols",
            "200 caf\u{20ac}",
        ] {
            assert!(parse_status(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_status("200 Caf\u{e9}").unwrap().1,
            b"200 Caf\xe9".to_vec()
        );
    }

    #[test]
    fn headers() {
        assert_eq!(check_header("X-Ok", "v\tw").unwrap(), b"v\tw".to_vec());
        assert!(check_header("X-Bad", "a\r\nSet-Cookie: x").is_err());
        assert!(check_header("X Bad", "a").is_err());
        assert!(check_header("", "a").is_err());
        assert!(check_header("Connection", "close").is_err());
        assert!(check_header("transfer-encoding", "chunked").is_err());
        assert!(check_header("X-Uni", "\u{263a}").is_err());
    }

    #[test]
    fn content_length_is_lifted_out_of_the_headers() {
        let h = parse_head("200 OK", vec![("Content-Length", "12"), ("X", "y")]).unwrap();
        assert_eq!(h.content_length, Some(12));
        assert_eq!(h.headers, vec![("X".to_string(), b"y".to_vec())]);
        assert!(parse_head("200 OK", vec![("Content-Length", "-1")]).is_err());
        assert!(parse_head(
            "200 OK",
            vec![("Content-Length", "1"), ("content-length", "2")]
        )
        .is_err());
    }
}
