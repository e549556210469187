//! The ASGI lifespan protocol, per app and worker (`asgi_lifespan`):
//! `lifespan.startup` runs before the worker serves, `lifespan.shutdown`
//! when it exits (graceful quit, reload, recycling). The protocol itself is
//! a little state machine in the glue (`glue.py`), on the loop thread; this
//! side starts it, waits for what it reports (with the GIL released), and
//! decides what a report means.

use crate::python::event_loop::EventLoop;
use crate::wsgi::request_log::format_traceback;
use pyo3::prelude::*;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// `asgi_lifespan auto | on | off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// An app that raises on the lifespan scope (or returns at once) does
    /// not support it: served without.
    #[default]
    Auto,
    /// The app must complete startup, or its requests get 500.
    On,
    Off,
}

/// How long the worker waits for startup and shutdown.
pub const STARTUP_WAIT: Duration = Duration::from_secs(60);
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// What the glue reported: `(event, detail)`.
#[derive(Default)]
struct Reports {
    events: Vec<(String, String)>,
}

#[derive(Default)]
struct Shared {
    reports: Mutex<Reports>,
    arrived: Condvar,
}

/// The callable the glue reports through (on the loop thread).
#[pyclass]
struct Report {
    shared: Arc<Shared>,
}

#[pymethods]
impl Report {
    fn __call__(&self, py: Python<'_>, event: String, detail: &Bound<'_, PyAny>) {
        let detail = if detail.is_instance_of::<pyo3::exceptions::PyBaseException>() {
            format_traceback(py, &PyErr::from_value(detail.clone()))
        } else {
            detail.str().map(|s| s.to_string()).unwrap_or_default()
        };
        self.shared
            .reports
            .lock()
            .unwrap()
            .events
            .push((event, detail));
        self.shared.arrived.notify_all();
    }
}

/// An app whose lifespan startup completed: its shutdown is due at exit.
pub struct Lifespan {
    /// The glue's `Lifespan` object.
    handle: Arc<Mutex<Option<Py<PyAny>>>>,
    shared: Arc<Shared>,
}

/// Wait (without the GIL) for the next report after the first `seen`.
fn next_report(shared: &Shared, seen: usize, wait: Duration) -> Option<(String, String)> {
    let deadline = Instant::now() + wait;
    let mut reports = shared.reports.lock().unwrap();
    while reports.events.len() <= seen {
        let left = deadline.checked_duration_since(Instant::now())?;
        reports = shared.arrived.wait_timeout(reports, left).unwrap().0;
    }
    Some(reports.events[seen].clone())
}

/// Run `app`'s lifespan startup on the loop, and wait for it. `Ok(None)`:
/// the app does not do lifespan (and `mode` is `Auto`); `Err`: why the app
/// must not serve.
pub fn startup(
    event_loop: &Arc<EventLoop>,
    glue: Py<PyAny>,
    app: Py<PyAny>,
    state: Py<PyAny>,
    mode: Mode,
) -> Result<Option<Lifespan>, String> {
    let shared = Arc::new(Shared::default());
    let handle = Arc::new(Mutex::new(None));
    {
        let (shared, handle, el) = (shared.clone(), handle.clone(), event_loop.clone());
        event_loop.post(Box::new(move |py| {
            let report = Bound::new(
                py,
                Report {
                    shared: shared.clone(),
                },
            );
            let started = report.and_then(|report| {
                glue.bind(py).call_method1(
                    "start_lifespan",
                    (el.py_loop().bind(py), app, state, report),
                )
            });
            match started {
                Ok(ls) => *handle.lock().unwrap() = Some(ls.unbind()),
                Err(e) => {
                    let tb = format_traceback(py, &e);
                    shared
                        .reports
                        .lock()
                        .unwrap()
                        .events
                        .push(("error".into(), tb));
                    shared.arrived.notify_all();
                }
            }
        }));
    }
    let unsupported = |why: String| match mode {
        Mode::Auto => Ok(None),
        _ => Err(why),
    };
    match next_report(&shared, 0, STARTUP_WAIT) {
        None => Err(format!(
            "lifespan startup did not complete within {} s",
            STARTUP_WAIT.as_secs()
        )),
        Some((event, _)) if event == "lifespan.startup.complete" => {
            Ok(Some(Lifespan { handle, shared }))
        }
        Some((event, msg)) if event == "lifespan.startup.failed" => {
            Err(format!("lifespan startup failed: {msg}"))
        }
        Some((event, tb)) if event == "error" => {
            unsupported(format!("the app raised on the lifespan scope:\n{tb}"))
        }
        Some(_) => unsupported("the app returned without completing lifespan startup".into()),
    }
}

impl Lifespan {
    /// Send `lifespan.shutdown` and wait for the app to complete it.
    pub fn shutdown(&self, event_loop: &Arc<EventLoop>) -> Result<(), String> {
        let seen = self.shared.reports.lock().unwrap().events.len();
        let handle = self.handle.clone();
        event_loop.post(Box::new(move |py| {
            if let Some(ls) = handle.lock().unwrap().as_ref() {
                let _ = ls.bind(py).call_method0("shutdown");
            }
        }));
        match next_report(&self.shared, seen, SHUTDOWN_WAIT) {
            Some((event, _)) if event == "lifespan.shutdown.complete" => Ok(()),
            Some((event, msg)) if event == "lifespan.shutdown.failed" => {
                Err(format!("lifespan shutdown failed: {msg}"))
            }
            Some((event, tb)) if event == "error" => {
                Err(format!("the app raised during lifespan shutdown:\n{tb}"))
            }
            Some(_) => Err("the app returned without completing lifespan shutdown".into()),
            None => Err(format!(
                "lifespan shutdown did not complete within {} s",
                SHUTDOWN_WAIT.as_secs()
            )),
        }
    }
}
