//! Calling a WSGI application for one request and turning what it does into
//! exchange events: the head with the first non-empty chunk, the body, and
//! then `End`, or a 500 / `Abort` when the application fails. `close()` is
//! called on the result on every path, client disconnect included.

use super::exchange::{Event, Exchange, ResponseHead};
use super::file_wrapper::FileWrapper;
use super::response::{body_bytes, write_chunk, write_file, Responder, StartResponse, WriteError};
use crate::log::{Level, Log};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::sync::{Arc, Mutex};

/// The log of one request: messages carry the request's context, as nginx's
/// own messages do (`client: ..., server: ..., request: "...", app: "..."`).
/// The context is formatted only when something is logged.
pub struct RequestLog<'a> {
    pub log: Arc<dyn Log>,
    pub client: &'a [u8],
    pub server: &'a [u8],
    pub request_line: &'a [u8],
    pub app: &'a str,
}

impl RequestLog<'_> {
    pub fn log(&self, level: Level, msg: &str) {
        let text = String::from_utf8_lossy;
        self.log.log(
            level,
            &format!(
                "wsgi: {msg}, client: {}, server: {}, request: \"{}\", app: \"{}\"",
                text(self.client),
                text(self.server),
                text(self.request_line),
                self.app
            ),
        );
    }

    /// Log a Python exception with its traceback, one log entry per line so
    /// that no line is cut by nginx's entry size limit.
    pub fn exception(&self, py: Python<'_>, what: &str, err: &PyErr) {
        self.log(Level::Error, &format!("{what}: {}", err_summary(py, err)));
        for line in format_traceback(py, err).lines() {
            self.log.log(Level::Error, &format!("wsgi: {line}"));
        }
    }
}

pub fn err_summary(py: Python<'_>, err: &PyErr) -> String {
    let name = err
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    format!("{name}: {}", err.value(py))
}

pub fn format_traceback(py: Python<'_>, err: &PyErr) -> String {
    let formatted = py
        .import("traceback")
        // (type, value, traceback): the one-argument form is Python 3.10+.
        .and_then(|tb| {
            tb.call_method1(
                "format_exception",
                (err.get_type(py), err.value(py), err.traceback(py)),
            )
        })
        .and_then(|lines| lines.extract::<Vec<String>>());
    match formatted {
        Ok(lines) => lines.concat(),
        Err(_) => err_summary(py, err),
    }
}

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

/// Run `app(environ, start_response)` to the end of its response.
pub fn call_app(
    py: Python<'_>,
    app: &Bound<'_, PyAny>,
    environ: Bound<'_, PyDict>,
    exchange: &Arc<Exchange>,
    log: &RequestLog,
) {
    let responder = Arc::new(Mutex::new(Responder::new(exchange.clone())));
    let start_response = match Bound::new(py, StartResponse::new(responder.clone())) {
        Ok(s) => s,
        Err(e) => {
            return fail(
                py,
                &responder,
                log,
                Failure::Python("creating start_response", e),
            )
        }
    };

    let outcome = match app.call1((environ, start_response)) {
        Err(e) => Err(Failure::Python("application raised an exception", e)),
        Ok(result) => {
            let iterated = iterate(py, &result, &responder);
            let closed = close(&result);
            match (iterated, closed) {
                (Ok(()), Err(e)) => Err(Failure::Python(
                    "close() of the response raised an exception",
                    e,
                )),
                (outcome, Err(e)) => {
                    log.exception(py, "close() of the response raised an exception", &e);
                    outcome
                }
                (outcome, Ok(())) => outcome,
            }
        }
    };

    match outcome {
        Ok(()) => finish(&responder, log),
        Err(f) => fail(py, &responder, log, f),
    }
}

fn iterate(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    responder: &Arc<Mutex<Responder>>,
) -> Result<(), Failure> {
    // wsgi.file_wrapper over a regular file: nginx sends the file itself.
    if let Ok(wrapper) = result.cast::<FileWrapper>() {
        if responder.lock().unwrap().started() {
            if let Some(range) = wrapper.borrow().file_range(py) {
                return match write_file(responder, range) {
                    Ok(()) => Ok(()),
                    Err(WriteError::Cancelled) => Err(Failure::Cancelled),
                    Err(WriteError::NotStarted) => unreachable!("started() was checked"),
                };
            }
        }
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

    let items = result
        .try_iter()
        .map_err(|e| Failure::Python("the response is not iterable", e))?;
    for item in items {
        let item = item.map_err(|e| Failure::Python("application raised an exception", e))?;
        let bytes = body_bytes(&item).map_err(|e| Failure::Python("invalid response body", e))?;
        // The items of a list are all there: the event loop is woken once,
        // when the response is complete, rather than once per item.
        let shared = item.cast::<PyBytes>().ok();
        match write_chunk(py, responder, &bytes, shared, in_memory) {
            Ok(()) => {}
            Err(WriteError::Cancelled) => return Err(Failure::Cancelled),
            Err(WriteError::NotStarted) => {
                return Err(Failure::Protocol(
                    "the application returned body data before calling start_response()".into(),
                ))
            }
        }
        if responder.lock().unwrap().overflowed {
            break;
        }
    }
    Ok(())
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
    match failure {
        Failure::Cancelled => log.log(
            Level::Info,
            "client closed the connection while the application was responding",
        ),
        Failure::Python(what, err) => {
            log.exception(py, what, &err);
            after_failure(responder);
        }
        Failure::Protocol(msg) => {
            log.log(Level::Error, &msg);
            after_failure(responder);
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

/// A whole 500 response with a short plain body, for failures before the
/// app's head went out.
pub fn send_error(exchange: &Arc<Exchange>, body: &str) {
    let (head, body) = error_response(500, "Internal Server Error", body);
    // Within a job: the thread's `finish()` follows and wakes the event loop.
    let _ = exchange
        .queue(Event::Head(head))
        .and_then(|_| exchange.queue(Event::Data(body.into())))
        .and_then(|_| exchange.queue(Event::End));
}
