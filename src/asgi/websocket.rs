//! One ASGI WebSocket connection's two directions, on the asyncio loop:
//! `receive()` gives `websocket.connect`, then what the client sent
//! (`inbound`), then `websocket.disconnect`; `send()` turns
//! `websocket.accept` into the `101` head, `websocket.send` into frames and
//! `websocket.close` into the Close frame (or, before the accept, a `403`),
//! all through the request's exchange: nginx writes them out with the
//! backpressure of an HTTP response (a `send()` waits while the client is
//! behind).
//!
//! nginx's side (`http::websocket`) reads and decodes the client's frames,
//! answers Pings, and runs the closing handshake.

use super::channel::{caused_by, resolve, wait_for_room};
use super::inbound::{Data, Inbound, Received};
use super::messages::{parse_websocket, WsSend};
use super::ready::Ready;
use crate::exchange::{release_dropped, Chunk, Continuation, Event, Exchange, Room};
use crate::log::Level;
use crate::python::event_loop::EventLoop;
use crate::python::ngx_wsgi::ClientDisconnected;
use crate::websocket::{close, FrameHeader, Handshake, OpCode};
use crate::wsgi::call::{send_error, send_status};
use crate::wsgi::request_log::RequestLog;
use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCFunction, PyDict};
use std::sync::{Arc, Mutex};

/// How long an app may go on once its WebSocket is over (seconds): as
/// long as a client has to answer our Close.
const LEFT_BEHIND: f64 = close::CLOSE_WAIT_MS as f64 / 1000.0;

/// Frames up to this size go out as one copied piece; larger payloads are
/// sent from the app's `bytes` by reference (see `Chunk`).
const COPY_MAX: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No `websocket.accept` yet.
    Connecting,
    Open,
    /// The app closed (or refused) the connection: nothing more to send.
    Closed,
}

struct State {
    phase: Phase,
    connect_given: bool,
    task: Option<Py<PyAny>>,
    finished: bool,
}

pub struct WsChannel {
    exchange: Arc<Exchange>,
    event_loop: Arc<EventLoop>,
    log: RequestLog,
    inbound: Arc<Inbound>,
    handshake: Handshake,
    state: Mutex<State>,
}

/// What the app's `receive`, `send` and the task's end are bound to.
#[pyclass(module = "ngx_wsgi", frozen)]
pub struct WebSocket {
    pub inner: Arc<WsChannel>,
}

fn message<'py>(py: Python<'py>, kind: &str) -> PyResult<Bound<'py, PyDict>> {
    let m = PyDict::new(py);
    m.set_item(intern!(py, "type"), kind)?;
    Ok(m)
}

fn received(py: Python<'_>, r: Received) -> PyResult<Bound<'_, PyDict>> {
    match r {
        Received::Message(data) => {
            let m = message(py, "websocket.receive")?;
            match data {
                Data::Text(t) => m.set_item(intern!(py, "text"), t)?,
                Data::Binary(b) => m.set_item(intern!(py, "bytes"), PyBytes::new(py, &b))?,
            }
            Ok(m)
        }
        Received::Disconnect(code, reason) => {
            let m = message(py, "websocket.disconnect")?;
            m.set_item(intern!(py, "code"), code)?;
            m.set_item(intern!(py, "reason"), reason)?;
            Ok(m)
        }
    }
}

fn ready(py: Python<'_>, value: Option<Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
    let r = match value {
        Some(v) => Ready::new(v.unbind()),
        None => Ready::none(),
    };
    Ok(Bound::new(py, r)?.into_any().unbind())
}

impl WsChannel {
    pub fn new(
        exchange: Arc<Exchange>,
        event_loop: Arc<EventLoop>,
        log: RequestLog,
        inbound: Arc<Inbound>,
        handshake: Handshake,
    ) -> Arc<WsChannel> {
        Arc::new(WsChannel {
            exchange,
            event_loop,
            log,
            inbound,
            handshake,
            state: Mutex::new(State {
                phase: Phase::Connecting,
                connect_given: false,
                task: None,
                finished: false,
            }),
        })
    }

    pub fn bind(self: Arc<Self>, py: Python<'_>) -> PyResult<Bound<'_, WebSocket>> {
        Bound::new(py, WebSocket { inner: self })
    }

    pub fn set_task(&self, task: Py<PyAny>) {
        self.state.lock().unwrap().task = Some(task);
    }

    /// The request is over for nginx (the client left, or the worker is
    /// done with it): the app's `receive()` gives a disconnect (1006: no
    /// Close frame), unless nginx gave the client's own close already.
    /// The app then has `LEFT_BEHIND` to end before its task is cancelled:
    /// one that neither receives nor sends again (it waits on a pub/sub,
    /// say) would otherwise hold the connection, and a quitting worker,
    /// for good.
    pub fn disconnected(self: &Arc<Self>) {
        self.inbound.disconnect(close::ABNORMAL, "");
        let ch = self.clone();
        self.event_loop
            .post(Box::new(move |py| ch.cancel_later(py)));
    }

    /// (On the loop.)
    fn cancel_later(&self, py: Python<'_>) {
        let task = {
            let st = self.state.lock().unwrap();
            match (&st.task, st.finished) {
                (Some(task), false) => task.clone_ref(py),
                _ => return,
            }
        };
        let log = self.log.clone();
        let cancel = PyCFunction::new_closure(py, None, None, move |args, _| -> PyResult<()> {
            let task = task.bind(args.py());
            if !task.call_method0(intern!(args.py(), "done"))?.is_truthy()? {
                log.log(
                    Level::Info,
                    &format!(
                        "the WebSocket is over, and its application went on for {LEFT_BEHIND} s without ending: its task is cancelled"
                    ),
                );
                task.call_method0(intern!(args.py(), "cancel"))?;
            }
            Ok(())
        });
        let scheduled = cancel.and_then(|cancel| {
            self.event_loop
                .py_loop()
                .bind(py)
                .call_method1(intern!(py, "call_later"), (LEFT_BEHIND, cancel))
        });
        if let Err(e) = scheduled {
            self.log
                .exception(py, "cannot schedule the cancel of a WebSocket's task", &e);
        }
    }

    fn finish(&self, st: &mut State) {
        if !st.finished {
            st.finished = true;
            self.exchange.finish();
        }
    }

    fn receive(self: &Arc<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        {
            let mut st = self.state.lock().unwrap();
            if !st.connect_given {
                st.connect_given = true;
                return ready(py, Some(message(py, "websocket.connect")?.into_any()));
            }
        }
        // A future only when the app must wait.
        let mut waiting = None;
        let got = self.inbound.take(|| {
            let fut = self
                .event_loop
                .py_loop()
                .bind(py)
                .call_method0(intern!(py, "create_future"));
            let wake = match &fut {
                Ok(f) => self.deliver_later(f.clone().unbind()),
                Err(_) => Box::new(|| {}),
            };
            waiting = Some(fut);
            wake
        });
        match (got, waiting) {
            (Some(r), _) => ready(py, Some(received(py, r)?.into_any())),
            (None, Some(fut)) => Ok(fut?.unbind()),
            (None, None) => unreachable!("take leaves a waker when it gives nothing"),
        }
    }

    /// What `inbound` calls (on nginx's thread) when something arrives for
    /// a `receive()` that waits: take it on the loop, into `fut`.
    fn deliver_later(self: &Arc<Self>, fut: Py<PyAny>) -> Continuation {
        let me = self.clone();
        Box::new(move || {
            let el = me.event_loop.clone();
            el.post(Box::new(move |py| {
                let f = fut.bind(py);
                let done = f
                    .call_method0(intern!(py, "done"))
                    .and_then(|d| d.is_truthy())
                    .unwrap_or(true);
                if done {
                    return; // the app gave up waiting: what came stays
                }
                if let Some(r) = me.inbound.take(|| me.deliver_later(fut.clone_ref(py))) {
                    if let Ok(m) = received(py, r) {
                        resolve(py, f, &m);
                    }
                }
            }));
        })
    }

    fn send(&self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let msg = parse_websocket(message)?;
        let mut st = self.state.lock().unwrap();
        let gone = || ClientDisconnected::new_err("the client closed the WebSocket");
        if self.inbound.is_disconnected() || self.exchange.room() == Room::Cancelled {
            if st.phase != Phase::Closed {
                return Err(gone());
            }
        }
        match (msg, st.phase) {
            (
                WsSend::Accept {
                    subprotocol,
                    mut head,
                },
                Phase::Connecting,
            ) => {
                head.headers.push(("Upgrade".into(), b"websocket".to_vec()));
                head.headers.push((
                    "Sec-WebSocket-Accept".into(),
                    self.handshake.accept.clone().into_bytes(),
                ));
                if let Some(p) = subprotocol {
                    head.headers
                        .push(("Sec-WebSocket-Protocol".into(), p.into_bytes()));
                }
                st.phase = Phase::Open;
                self.exchange.queue(Event::Head(head)).map_err(|_| gone())?;
                self.exchange.nudge();
            }
            (WsSend::Send { payload, text }, Phase::Open) => {
                release_dropped(py);
                let op = if text { OpCode::Text } else { OpCode::Binary };
                let bytes = payload.cast::<PyBytes>().ok();
                let copied: Vec<u8>;
                let data: &[u8] = match &bytes {
                    Some(b) => b.as_bytes(),
                    None => {
                        copied = payload.extract()?;
                        &copied
                    }
                };
                let header = FrameHeader::new(op, data.len())
                    .encode()
                    .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
                match &bytes {
                    Some(b) if data.len() > COPY_MAX => {
                        // The header whole, then the payload by reference.
                        self.exchange
                            .queue(Event::Data(Chunk::Owned(header.to_vec())))
                            .and_then(|_| {
                                self.exchange
                                    .push(Event::Data(Chunk::of_bytes(b, data.len())))
                            })
                            .map_err(|_| gone())?;
                    }
                    _ => {
                        let mut frame = Vec::with_capacity(header.len() + data.len());
                        frame.extend_from_slice(&header);
                        frame.extend_from_slice(data);
                        self.exchange
                            .push(Event::Data(Chunk::Owned(frame)))
                            .map_err(|_| gone())?;
                    }
                }
                if self.exchange.room() == Room::Full {
                    drop(st);
                    return wait_for_room(&self.exchange, &self.event_loop, py);
                }
            }
            (WsSend::Close { code, reason }, Phase::Connecting) => {
                // Refused before the handshake: 403 (the spec's answer).
                let _ = (code, reason);
                send_status(&self.exchange, 403, "Forbidden", "403 Forbidden\n");
                st.phase = Phase::Closed;
                self.finish(&mut st);
            }
            (WsSend::Close { code, reason }, Phase::Open) => {
                let mut frame = Vec::new();
                close::encode_close(&mut frame, Some((code, &reason)))
                    .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
                st.phase = Phase::Closed;
                self.exchange
                    .queue(Event::Data(Chunk::Owned(frame)))
                    .and_then(|_| self.exchange.queue(Event::End))
                    .map_err(|_| gone())?;
                self.finish(&mut st);
            }
            (WsSend::Accept { .. }, _) => {
                return Err(PyRuntimeError::new_err("websocket.accept was sent already"))
            }
            (WsSend::Send { .. }, Phase::Connecting) => {
                return Err(PyRuntimeError::new_err(
                    "websocket.send before websocket.accept",
                ))
            }
            (_, Phase::Closed) => {
                return Err(PyRuntimeError::new_err(
                    "the WebSocket is closed: nothing more may be sent",
                ))
            }
        }
        ready(py, None)
    }

    /// The app's task ended, with `exc` or not.
    fn ended(&self, py: Python<'_>, exc: Option<&Bound<'_, PyAny>>) {
        self.exchange.leave_app();
        let mut st = self.state.lock().unwrap();
        let client_left = self.inbound.is_disconnected() || self.exchange.room() == Room::Cancelled;
        // The client's leaving, as the server or a framework says it
        // (Starlette's WebSocketDisconnect, out of a receive loop), is no
        // failure of the app.
        let quietly = |e: &Bound<'_, PyAny>| {
            caused_by::<ClientDisconnected>(e)
                || e.is_instance_of::<pyo3::exceptions::asyncio::CancelledError>()
                || e.get_type()
                    .name()
                    .is_ok_and(|n| n == "WebSocketDisconnect")
        };
        match (exc, st.phase) {
            (Some(e), _) if client_left && quietly(e) => self.log.log(
                Level::Info,
                &format!(
                    "the WebSocket client left, and the application ended with {}",
                    e.get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ),
            ),
            (Some(e), phase) => {
                let err = PyErr::from_value(e.clone());
                self.log
                    .exception(py, "application raised an exception", &err);
                match phase {
                    Phase::Connecting => {
                        self.exchange.note_app_failure();
                        send_error(&self.exchange, "500 Internal Server Error\n");
                    }
                    // The client hears of it: 1011, internal error.
                    Phase::Open => self.close_for_app(close::INTERNAL_ERROR),
                    Phase::Closed => {}
                }
            }
            (None, Phase::Connecting) if !client_left => {
                self.log.log(
                    Level::Error,
                    "the application returned without accepting or closing the WebSocket",
                );
                self.exchange.note_app_failure();
                send_error(&self.exchange, "500 Internal Server Error\n");
            }
            // An app that returns closes its WebSocket, normally.
            (None, Phase::Open) => self.close_for_app(close::NORMAL),
            (None, _) => {}
        }
        st.phase = Phase::Closed;
        self.finish(&mut st);
    }

    fn close_for_app(&self, code: u16) {
        let mut frame = Vec::new();
        let _ = close::encode_close(&mut frame, Some((code, "")));
        let _ = self
            .exchange
            .queue(Event::Data(Chunk::Owned(frame)))
            .and_then(|_| self.exchange.queue(Event::End));
    }
}

#[pymethods]
impl WebSocket {
    fn receive(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.inner.receive(py)
    }

    fn send(&self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.inner.send(py, message)
    }

    #[pyo3(signature = (exc=None))]
    fn ended(&self, py: Python<'_>, exc: Option<&Bound<'_, PyAny>>) {
        self.inner.ended(py, exc.filter(|e| !e.is_none()));
    }
}
