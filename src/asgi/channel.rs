//! One ASGI HTTP request's two directions: `receive()` hands out the
//! request body (read by nginx first) as `http.request` messages, then
//! `http.disconnect` once the client has gone or the response is over;
//! `send()` turns the response messages into exchange events, as WSGI's
//! responder does, with the same rules: the head first, never more than
//! `content-length`, a response that fails after it started is cut.
//!
//! Everything here runs on the worker's asyncio loop thread, with the GIL.
//! The event loop's side reaches it only through the exchange and by
//! posting work to the loop (a disconnect, a future whose client caught
//! up).

use super::messages::{parse_http, HttpSend};
use super::ready::Ready;
use crate::exchange::{release_dropped, CancelReason, Chunk, Event, Exchange, FileRange, Room};
use crate::log::Level;
use crate::python::event_loop::EventLoop;
use crate::python::ngx_wsgi::ClientDisconnected;
use crate::wsgi::call::send_error;
use crate::wsgi::input::Body;
use crate::wsgi::request_log::RequestLog;
use pyo3::exceptions::asyncio::CancelledError;
use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

/// The most of the body one `http.request` message carries.
const BODY_PIECE: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No `http.response.start` yet.
    Start,
    Body,
    /// The response is complete: nothing more may be sent.
    Done,
}

struct State {
    body: Body,
    body_pos: u64,
    /// The last `http.request` (more_body false) was handed out.
    body_done: bool,
    /// `receive()` futures waiting for a disconnect.
    waiters: Vec<Py<PyAny>>,
    gone: bool,
    phase: Phase,
    declared: Option<u64>,
    sent: u64,
    /// The exchange was told the app is done with the request.
    finished: bool,
    /// The app's task, to cancel at `wsgi_request_timeout`.
    task: Option<Py<PyAny>>,
    /// The head is queued, and nothing has followed it yet.
    head_waiting: bool,
}

pub struct HttpChannel {
    exchange: Arc<Exchange>,
    event_loop: Arc<EventLoop>,
    log: RequestLog,
    state: Mutex<State>,
}

/// What the app's `receive`, `send` and the task's end are bound to.
#[pyclass(module = "ngx_wsgi", frozen)]
pub struct Channel {
    pub inner: Arc<HttpChannel>,
}

impl HttpChannel {
    pub fn new(
        exchange: Arc<Exchange>,
        event_loop: Arc<EventLoop>,
        log: RequestLog,
        body: Body,
    ) -> Arc<HttpChannel> {
        Arc::new(HttpChannel {
            exchange,
            event_loop,
            log,
            state: Mutex::new(State {
                body,
                body_pos: 0,
                body_done: false,
                waiters: Vec::new(),
                gone: false,
                phase: Phase::Start,
                declared: None,
                sent: 0,
                finished: false,
                task: None,
                head_waiting: false,
            }),
        })
    }

    /// The task that runs the app.
    pub fn set_task(&self, task: Py<PyAny>) {
        self.state.lock().unwrap().task = Some(task);
    }

    /// On the loop thread: the client has gone, the request is over, or
    /// it timed out (then its task is cancelled too: `CancelledError` is
    /// raised at the `await` it waits in).
    pub fn disconnected(&self, py: Python<'_>) {
        let (waiters, task) = {
            let mut st = self.state.lock().unwrap();
            st.gone = true;
            let timed_out = self.exchange.cancel_reason() == Some(CancelReason::TimedOut);
            (
                std::mem::take(&mut st.waiters),
                st.task.take().filter(|_| timed_out && !st.finished),
            )
        };
        if let Some(task) = task {
            let _ = task.bind(py).call_method0(intern!(py, "cancel"));
        }
        for fut in waiters {
            if let Ok(m) = disconnect_message(py) {
                resolve(py, fut.bind(py), &m);
            }
        }
    }

    pub fn bind(self: Arc<Self>, py: Python<'_>) -> PyResult<Bound<'_, Channel>> {
        Bound::new(py, Channel { inner: self })
    }

    fn finish(&self, st: &mut State) {
        if !st.finished {
            st.finished = true;
            self.exchange.finish();
        }
    }

    fn receive(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut st = self.state.lock().unwrap();
        if !st.body_done {
            let remaining = (st.body.len() - st.body_pos) as usize;
            let n = remaining.min(BODY_PIECE);
            let pos = st.body_pos;
            let body = &st.body;
            let bytes = PyBytes::new_with(py, n, |buf| {
                body.read_at(pos, buf)?;
                Ok(())
            })?;
            st.body_pos += n as u64;
            let more = st.body_pos < st.body.len();
            st.body_done = !more;
            let msg = PyDict::new(py);
            msg.set_item(intern!(py, "type"), intern!(py, "http.request"))?;
            msg.set_item(intern!(py, "body"), bytes)?;
            msg.set_item(intern!(py, "more_body"), more)?;
            return Ok(Bound::new(py, Ready::new(msg.into_any().unbind()))?
                .into_any()
                .unbind());
        }
        if st.gone {
            return Ok(
                Bound::new(py, Ready::new(disconnect_message(py)?.into_any().unbind()))?
                    .into_any()
                    .unbind(),
            );
        }
        let fut = self
            .event_loop
            .py_loop()
            .bind(py)
            .call_method0(intern!(py, "create_future"))?;
        st.waiters.push(fut.clone().unbind());
        Ok(fut.unbind())
    }

    fn send(&self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let msg = parse_http(message)?;
        let mut st = self.state.lock().unwrap();
        let cancelled = |_| ClientDisconnected::new_err("the client closed the connection");
        match (msg, st.phase) {
            (HttpSend::Start(head), Phase::Start) => {
                st.declared = head.content_length;
                st.phase = Phase::Body;
                // The body usually follows at once, and wakes the event
                // loop for both; `flush` sends the head alone if it does
                // not (a stream whose first part is slow to come).
                self.exchange.queue(Event::Head(head)).map_err(cancelled)?;
                st.head_waiting = true;
                drop(st);
                return Ok(Bound::new(py, Ready::none())?.into_any().unbind());
            }
            (HttpSend::Body { body, more }, Phase::Body) => {
                st.head_waiting = false;
                release_dropped(py);
                // A bytearray may change under us: copied. A bytes is
                // immutable: large ones go to nginx by reference.
                let copied: Vec<u8>;
                let data: &[u8] = match body.cast::<PyBytes>() {
                    Ok(b) => b.as_bytes(),
                    Err(_) => {
                        copied = body.extract()?;
                        &copied
                    }
                };
                let room = st.declared.map_or(u64::MAX, |d| d.saturating_sub(st.sent));
                let n = (data.len() as u64).min(room) as usize;
                if n < data.len() {
                    self.log.log(
                        Level::Error,
                        &format!("the application sent more than its content-length of {} bytes; the excess was dropped", st.declared.unwrap_or(0)),
                    );
                }
                st.sent += n as u64;
                if n > 0 {
                    let chunk = match body.cast::<PyBytes>() {
                        Ok(b) => Chunk::of_bytes(b, n),
                        Err(_) => Chunk::Owned(data[..n].to_vec()),
                    };
                    let event = Event::Data(chunk);
                    if more {
                        self.exchange.push(event)
                    } else {
                        self.exchange.queue(event)
                    }
                    .map_err(cancelled)?;
                }
                if !more {
                    self.end(&mut st).map_err(cancelled)?;
                } else if self.exchange.room() == Room::Full {
                    drop(st);
                    return wait_for_room(&self.exchange, &self.event_loop, py);
                }
            }
            (HttpSend::PathSend(path), Phase::Body) => {
                st.head_waiting = false;
                let file = std::fs::File::open(&path).map_err(|e| {
                    pyo3::exceptions::PyOSError::new_err(format!("cannot open {path}: {e}"))
                })?;
                let size = file.metadata()?.len();
                let room = st.declared.map_or(u64::MAX, |d| d.saturating_sub(st.sent));
                let len = size.min(room);
                st.sent += len;
                if len > 0 {
                    let range = FileRange {
                        fd: Arc::new(OwnedFd::from(file)),
                        offset: 0,
                        len,
                    };
                    self.exchange.queue(Event::File(range)).map_err(cancelled)?;
                }
                self.end(&mut st).map_err(cancelled)?;
            }
            (_, Phase::Done) => {
                return Err(PyRuntimeError::new_err(
                    "the response is complete: nothing more may be sent",
                ))
            }
            (HttpSend::Start(_), Phase::Body) => {
                return Err(PyRuntimeError::new_err(
                    "http.response.start was sent already",
                ))
            }
            (_, Phase::Start) => {
                return Err(PyRuntimeError::new_err(
                    "the response body came before http.response.start",
                ))
            }
        }
        Ok(Bound::new(py, Ready::none())?.into_any().unbind())
    }

    /// Soon after the head was queued (`call_soon`): if no body has
    /// followed, have the event loop send the head now; unless the task
    /// has ended meanwhile (it failed right after the head: `ended` says
    /// what the client gets, which can still be a 500).
    fn flush(&self, py: Python<'_>) {
        let mut st = self.state.lock().unwrap();
        let task_done = st.task.as_ref().is_some_and(|t| {
            t.bind(py)
                .call_method0(intern!(py, "done"))
                .and_then(|d| d.is_truthy())
                .unwrap_or(false)
        });
        if std::mem::take(&mut st.head_waiting) && !task_done {
            self.exchange.nudge();
        }
    }

    fn head_waiting(&self) -> bool {
        self.state.lock().unwrap().head_waiting
    }

    /// The last body message: end the response (or cut it, short of its
    /// content-length), and let the event loop release the request at
    /// once if the app is done with its body too.
    fn end(&self, st: &mut State) -> Result<(), crate::exchange::Cancelled> {
        st.phase = Phase::Done;
        let event = match st.declared {
            Some(declared) if st.sent < declared => {
                self.log.log(
                    Level::Error,
                    &format!("the application sent {} of the {declared} bytes of its content-length; closing the connection", st.sent),
                );
                Event::Abort
            }
            _ => Event::End,
        };
        self.exchange.queue(event)?;
        if st.body_done || st.body.is_empty() {
            st.body_done = true;
            self.finish(st);
        } else {
            self.exchange.nudge();
        }
        Ok(())
    }

    /// The app's task ended, with `exc` or not.
    fn ended(&self, py: Python<'_>, exc: Option<&Bound<'_, PyAny>>) {
        self.exchange.leave_app();
        let mut st = self.state.lock().unwrap();
        // A task that ends early because its request is over (the client
        // left, or it timed out) is no failure of the app.
        let over = if self.exchange.cancel_reason() == Some(CancelReason::TimedOut) {
            Some("the request's task ended after its wsgi_request_timeout")
        } else if st.gone || self.exchange.room() == Room::Cancelled {
            Some("client closed the connection while the application was responding")
        } else {
            None
        };
        let quietly = |e: &Bound<'_, PyAny>| {
            e.is_instance_of::<CancelledError>() || caused_by::<ClientDisconnected>(e)
        };
        match (exc, st.phase) {
            (Some(e), _) if over.is_some() && quietly(e) => {
                self.log.log(Level::Info, over.unwrap_or_default())
            }
            (None, phase) if over.is_some() && phase != Phase::Done => {
                self.log.log(Level::Info, over.unwrap_or_default())
            }
            (Some(e), phase) => {
                let err = PyErr::from_value(e.clone());
                self.log
                    .exception(py, "application raised an exception", &err);
                if phase != Phase::Done {
                    self.exchange.note_app_failure();
                    self.fail(&mut st);
                }
            }
            (None, Phase::Done) => {}
            (None, _) => {
                self.log.log(
                    Level::Error,
                    if st.phase == Phase::Start {
                        "the application returned without sending a response"
                    } else {
                        "the application returned without ending its response (more_body was never false)"
                    },
                );
                self.exchange.note_app_failure();
                self.fail(&mut st);
            }
        }
        st.body_done = true;
        self.finish(&mut st);
    }

    /// A 500 if nothing of the response went out, else a cut.
    fn fail(&self, st: &mut State) {
        if st.phase == Phase::Start {
            send_error(&self.exchange, "500 Internal Server Error\n");
        } else {
            let _ = self.exchange.queue(Event::Abort);
        }
        st.phase = Phase::Done;
    }
}

/// Whether `e`, or an exception it was raised from or while handling, is
/// a `T`: frameworks turn the server's disconnect into their own (as
/// Starlette's `ClientDisconnect`), which is no failure either.
pub(super) fn caused_by<T: pyo3::PyTypeInfo>(e: &Bound<'_, PyAny>) -> bool {
    let py = e.py();
    let mut e = e.clone();
    for _ in 0..16 {
        if e.is_instance_of::<T>() {
            return true;
        }
        let next = e
            .getattr(intern!(py, "__cause__"))
            .ok()
            .filter(|c| !c.is_none())
            .or_else(|| {
                e.getattr(intern!(py, "__context__"))
                    .ok()
                    .filter(|c| !c.is_none())
            });
        match next {
            Some(n) => e = n,
            None => return false,
        }
    }
    false
}

/// The client is behind: a future that the event loop resolves (on the
/// asyncio loop) once it has drained, or the client has gone. As a parked
/// WSGI response, the wait is not time in the app (nginx's `send_timeout`
/// covers a client that reads too slowly).
pub(super) fn wait_for_room(
    exchange: &Arc<Exchange>,
    event_loop: &Arc<EventLoop>,
    py: Python<'_>,
) -> PyResult<Py<PyAny>> {
    let fut = event_loop
        .py_loop()
        .bind(py)
        .call_method0(intern!(py, "create_future"))?;
    let waiting = fut.clone().unbind();
    let (el, ex) = (event_loop.clone(), exchange.clone());
    exchange.leave_app();
    let resume: crate::exchange::Continuation = Box::new(move || {
        ex.enter_app();
        el.post(Box::new(move |py| {
            resolve(py, waiting.bind(py), py.None().bind(py))
        }));
    });
    if let Err(resume) = exchange.park(resume) {
        resume();
    }
    Ok(fut.unbind())
}

/// Give a future its result, unless it is done (the app cancelled it).
pub(super) fn resolve(py: Python<'_>, fut: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) {
    if !fut
        .call_method0(intern!(py, "done"))
        .and_then(|d| d.is_truthy())
        .unwrap_or(true)
    {
        let _ = fut.call_method1(intern!(py, "set_result"), (value,));
    }
}

fn disconnect_message(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let msg = PyDict::new(py);
    msg.set_item(intern!(py, "type"), intern!(py, "http.disconnect"))?;
    Ok(msg)
}

#[pymethods]
impl Channel {
    fn receive(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.inner.receive(py)
    }

    fn send(slf: &Bound<'_, Self>, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let inner = &slf.get().inner;
        let was_waiting = inner.head_waiting();
        let ready = inner.send(py, message)?;
        if !was_waiting && inner.head_waiting() {
            inner.event_loop.py_loop().bind(py).call_method1(
                intern!(py, "call_soon"),
                (slf.getattr(intern!(py, "flush"))?,),
            )?;
        }
        Ok(ready)
    }

    fn flush(&self, py: Python<'_>) {
        self.inner.flush(py);
    }

    #[pyo3(signature = (exc=None))]
    fn ended(&self, py: Python<'_>, exc: Option<&Bound<'_, PyAny>>) {
        self.inner.ended(py, exc.filter(|e| !e.is_none()));
    }
}
