//! The log of one request: messages carry the request's context, as
//! nginx's own messages do, and Python exceptions their traceback.

use super::cgi::{Field, RequestParts};
use crate::log::{Level, Log};
use pyo3::prelude::*;
use std::sync::Arc;

/// The log of one request: messages carry the request's context, as nginx's
/// own messages do (`client: ..., server: ..., request: "...", app: "..."`).
/// The context is formatted only when something is logged. Cheap to clone:
/// what writes the response (`write()`, a parked response) keeps one.
#[derive(Clone)]
pub struct RequestLog {
    pub log: Arc<dyn Log>,
    pub parts: Arc<RequestParts>,
    pub app: Arc<str>,
}

impl RequestLog {
    pub fn log(&self, level: Level, msg: &str) {
        let text = String::from_utf8_lossy;
        self.log.log(
            level,
            &format!(
                "wsgi: {msg}, client: {}, server: {}, request: \"{}\", app: \"{}\"",
                text(self.parts.get(Field::RemoteAddr)),
                text(self.parts.get(Field::ServerName)),
                text(self.parts.get(Field::RequestLine)),
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
