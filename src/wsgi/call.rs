//! Calling a WSGI application for one request and turning what it does into
//! exchange events: the head with the first non-empty chunk, the body, and
//! then `End`, or a 500 / `Abort` when the application fails. `close()` is
//! called on the result on every path, client disconnect included.
//!
//! Iterating the result is resumable: when the client is behind (the
//! exchange is full), the iteration stops before asking for the next item
//! and hands back a [`Response`] to park; the thread is free, and the
//! response goes on later, on whichever thread takes it.

use super::file_wrapper::FileWrapper;
use super::request_log::RequestLog;
use super::response::{
    body_bytes, write_chunk, write_file, Feed, Responder, StartResponse, WriteError,
};
use super::spill::SpillPolicy;
use crate::exchange::{CancelReason, Event, Exchange, ResponseHead, Room};
use crate::log::Level;
use crate::python::ngx_wsgi::RequestTimeout;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyIterator, PyList, PyTuple};
use std::sync::{Arc, Mutex};

/// The short plain-text response for failures before the head went out.
fn error_response(code: u16, reason: &str, body: &str) -> (ResponseHead, Vec<u8>) {
    let head = ResponseHead {
        code,
        status: format!("{code} {reason}").into_bytes(),
        headers: vec![("Content-Type".into(), b"text/plain; charset=utf-8".to_vec())],
        content_length: Some(body.len() as u64),
    };
    (head, body.as_bytes().to_vec())
}

enum Failure {
    Python(&'static str, PyErr),
    Protocol(String),
    Cancelled,
}

/// What the thread does next with a response.
pub enum Step {
    /// The response is complete, cut or cancelled, and `close()` has run.
    Done,
    /// The client is behind: park this, and call `Response::run` again
    /// once it has caught up (or gone).
    Park(Response),
}

/// A response whose body is being iterated.
pub struct Response {
    /// The app's return value, for `close()`.
    result: Py<PyAny>,
    items: Py<PyIterator>,
    responder: Arc<Mutex<Responder>>,
    exchange: Arc<Exchange>,
    /// A list or tuple: its items are all there, so the event loop is woken
    /// once for all of them rather than once per item.
    in_memory: bool,
}

/// Run `app(environ, start_response)`: to the end of its response, or
/// until the client is behind.
pub fn call_app(
    py: Python<'_>,
    app: &Bound<'_, PyAny>,
    environ: Bound<'_, PyDict>,
    exchange: &Arc<Exchange>,
    spill: Option<Arc<SpillPolicy>>,
    log: &RequestLog,
) -> Step {
    let responder = Arc::new(Mutex::new(Responder::new(
        exchange.clone(),
        spill,
        log.clone(),
    )));
    let start_response = match Bound::new(py, StartResponse::new(responder.clone())) {
        Ok(s) => s,
        Err(e) => {
            fail(
                py,
                &responder,
                log,
                Failure::Python("creating start_response", e),
            );
            return Step::Done;
        }
    };
    let result = match app.call1((environ, start_response)) {
        Ok(result) => result,
        Err(e) => {
            fail(
                py,
                &responder,
                log,
                Failure::Python("application raised an exception", e),
            );
            return Step::Done;
        }
    };

    // wsgi.file_wrapper over a regular file: nginx sends the file itself.
    if let Some(sent) = send_file(py, &result, &responder) {
        return wind_up(py, &result, &responder, sent, log);
    }

    // A body of exactly one item has a known length: send it as
    // Content-Length rather than chunked.
    let (single, in_memory) = if let Ok(list) = result.cast::<PyList>() {
        (
            (list.len() == 1).then(|| list.get_item(0).ok()).flatten(),
            true,
        )
    } else if let Ok(tuple) = result.cast::<PyTuple>() {
        (
            (tuple.len() == 1).then(|| tuple.get_item(0).ok()).flatten(),
            true,
        )
    } else {
        (None, false)
    };
    if let Some(Ok(bytes)) = single.as_ref().map(body_bytes) {
        responder
            .lock()
            .unwrap()
            .default_content_length(bytes.len() as u64);
    }

    match result.try_iter() {
        Ok(items) => Response {
            result: result.unbind(),
            items: items.unbind(),
            responder,
            exchange: exchange.clone(),
            in_memory,
        }
        .run(py, log),
        Err(e) => wind_up(
            py,
            &result,
            &responder,
            Err(Failure::Python("the response is not iterable", e)),
            log,
        ),
    }
}

impl Response {
    pub fn exchange(&self) -> &Arc<Exchange> {
        &self.exchange
    }

    /// Iterate on: to the end of the body, or until the client is behind.
    pub fn run(self, py: Python<'_>, log: &RequestLog) -> Step {
        let exchange = self.exchange.clone();
        let mut items = self.items.bind(py).clone();
        let iterated = loop {
            // Ask for no more than the client can take now: the app is
            // paused between items, with no item in hand.
            match exchange.room() {
                Room::Space => {}
                Room::Full => return Step::Park(self),
                Room::Cancelled => break Err(Failure::Cancelled),
            }
            match items.next() {
                None => break Ok(()),
                Some(Err(e)) => break Err(Failure::Python("application raised an exception", e)),
                Some(Ok(item)) => match self.send_item(py, &item) {
                    Ok(true) => {}
                    Ok(false) => break Ok(()),
                    Err(f) => break Err(f),
                },
            }
        };
        wind_up(py, self.result.bind(py), &self.responder, iterated, log)
    }

    /// Send one item; false once the declared Content-Length is reached.
    fn send_item(&self, py: Python<'_>, item: &Bound<'_, PyAny>) -> Result<bool, Failure> {
        let bytes = body_bytes(item).map_err(|e| Failure::Python("invalid response body", e))?;
        let feed = if self.in_memory {
            Feed::Quiet
        } else {
            Feed::Wake
        };
        let shared = item.cast::<PyBytes>().ok();
        match write_chunk(py, &self.responder, &bytes, shared, feed) {
            Ok(()) => Ok(!self.responder.lock().unwrap().overflowed),
            Err(WriteError::Cancelled) => Err(Failure::Cancelled),
            Err(WriteError::NotStarted) => Err(Failure::Protocol(
                "the application returned body data before calling start_response()".into(),
            )),
        }
    }
}

/// The body as a file range for nginx, when the result is a
/// `wsgi.file_wrapper` over a regular file and the head is ready.
fn send_file(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    responder: &Arc<Mutex<Responder>>,
) -> Option<Result<(), Failure>> {
    let wrapper = result.cast::<FileWrapper>().ok()?;
    if !responder.lock().unwrap().started() {
        return None;
    }
    let range = wrapper.borrow().file_range(py)?;
    Some(match write_file(responder, range) {
        Ok(()) => Ok(()),
        Err(WriteError::Cancelled) => Err(Failure::Cancelled),
        Err(WriteError::NotStarted) => unreachable!("started() was checked"),
    })
}

/// The end of a response: `close()` the result, then end or fail it.
fn wind_up(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    responder: &Mutex<Responder>,
    outcome: Result<(), Failure>,
    log: &RequestLog,
) -> Step {
    // The failure is logged first: what close() does and logs comes after.
    let failed = outcome.err().map(|f| report(py, responder, log, f));
    // A close() that raises after the body is complete (or short of its
    // Content-Length, which `finish` deals with) is logged; the client
    // gets the body as it is.
    if let Err(e) = close(result) {
        log.exception(py, "close() of the response raised an exception", &e);
    }
    match failed {
        None => finish(responder, log),
        Some(true) => after_failure(responder),
        Some(false) => {}
    }
    Step::Done
}

fn close(result: &Bound<'_, PyAny>) -> PyResult<()> {
    // Lists and tuples have no close(); asking them costs an AttributeError.
    if result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyTuple>() {
        return Ok(());
    }
    if result.hasattr("close")? {
        result.call_method0("close")?;
    }
    Ok(())
}

fn finish(responder: &Mutex<Responder>, log: &RequestLog) {
    let mut r = responder.lock().unwrap();
    match r.finish_head() {
        Ok(()) => {}
        Err(WriteError::Cancelled) => return,
        Err(WriteError::NotStarted) => {
            drop(r);
            return fail_before_head(
                responder,
                log,
                "the application returned without calling start_response()",
            );
        }
    }
    if r.overflowed {
        log.log(
            Level::Error,
            &format!("the application sent more than its Content-Length of {} bytes; the excess was dropped", r.declared().unwrap_or(0)),
        );
    }
    let event = match r.declared() {
        Some(declared) if r.sent() < declared => {
            log.log(
                Level::Error,
                &format!("the application sent {} of the {declared} bytes of its Content-Length; closing the connection", r.sent()),
            );
            Event::Abort
        }
        _ => Event::End,
    };
    // The thread's `finish()` follows and wakes the event loop.
    let _ = r.exchange.queue(event);
}

fn fail(py: Python<'_>, responder: &Mutex<Responder>, log: &RequestLog, failure: Failure) {
    if report(py, responder, log, failure) {
        after_failure(responder);
    }
}

/// Log a failure; true if the response must now end in one (a 500, or a
/// cut), false if no one listens any more (the client left, or the event
/// loop answered a timeout).
fn report(
    py: Python<'_>,
    responder: &Mutex<Responder>,
    log: &RequestLog,
    failure: Failure,
) -> bool {
    let exchange = responder.lock().unwrap().exchange.clone();
    match failure {
        Failure::Cancelled if exchange.cancel_reason() == Some(CancelReason::TimedOut) => {
            log.log(
                Level::Error,
                "the request timed out (wsgi_request_timeout): its response was stopped",
            );
            false
        }
        Failure::Cancelled => {
            log.log(
                Level::Info,
                "client closed the connection while the application was responding",
            );
            false
        }
        // The event loop has answered the client already (504, or a cut).
        Failure::Python(_, err) if err.is_instance_of::<RequestTimeout>(py) => {
            log.exception(
                py,
                "the request timed out (wsgi_request_timeout): RequestTimeout was raised in the app",
                &err,
            );
            false
        }
        Failure::Python(what, err) => {
            log.exception(py, what, &err);
            exchange.note_app_failure();
            true
        }
        Failure::Protocol(msg) => {
            log.log(Level::Error, &msg);
            exchange.note_app_failure();
            true
        }
    }
}

fn after_failure(responder: &Mutex<Responder>) {
    if responder.lock().unwrap().head_sent() {
        // The status is out; only a cut connection tells the client.
        let _ = responder.lock().unwrap().push(Event::Abort);
    } else {
        send_500(responder);
    }
}

fn fail_before_head(responder: &Mutex<Responder>, log: &RequestLog, msg: &str) {
    log.log(Level::Error, msg);
    send_500(responder);
}

fn send_500(responder: &Mutex<Responder>) {
    send_error(
        &responder.lock().unwrap().exchange,
        "500 Internal Server Error\n",
    );
}

/// The events of a plain 500, for the consumer to use instead of a
/// response that failed before any of it went out.
pub fn internal_error_events() -> std::collections::VecDeque<Event> {
    let (head, body) = error_response(500, "Internal Server Error", "500 Internal Server Error\n");
    [Event::Head(head), Event::Data(body.into()), Event::End].into()
}

/// A whole 500 response with a short plain body, for failures before the
/// app's head went out.
pub fn send_error(exchange: &Arc<Exchange>, body: &str) {
    send_status(exchange, 500, "Internal Server Error", body);
}

/// A whole response with a short plain body (an error, or a refusal).
pub fn send_status(exchange: &Arc<Exchange>, code: u16, reason: &str, body: &str) {
    let (head, body) = error_response(code, reason, body);
    // Within a job: the thread's `finish()` follows and wakes the event loop.
    let _ = exchange
        .queue(Event::Head(head))
        .and_then(|_| exchange.queue(Event::Data(body.into())))
        .and_then(|_| exchange.queue(Event::End));
}
