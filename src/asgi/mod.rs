//! ASGI 3 (spec version 2.4) inside the nginx worker (`asgi_app`), on the
//! same foundations as WSGI: the request is read by nginx, handed over
//! through an exchange, and its response comes back through that exchange
//! to the same `pump` (backpressure, cuts, release); only who produces the
//! events differs. Here it is one asyncio loop per worker, on a Python
//! thread of its own (`python::event_loop`), where each request is a task.
//!
//! - `scope.rs`: the connection scope from the request's parts;
//! - `channel.rs`: an HTTP request's `receive()` and `send()`;
//! - `websocket.rs`: a WebSocket's, and `inbound.rs`, the queue of what
//!   its client sent;
//! - `messages.rs`: what `send()` may be given, checked;
//! - `ready.rs`: an awaitable whose result is already there;
//! - `lifespan.rs`: startup and shutdown, per app and worker;
//! - `glue.py`: the few lines of asyncio plumbing best written in Python.

pub mod channel;
pub mod inbound;
pub mod lifespan;
pub mod messages;
pub mod ready;
pub mod scope;
#[cfg(test)]
mod tests;
pub mod websocket;

use crate::exchange::{Continuation, Exchange};
use crate::log::{Level, Log};
use crate::python::event_loop::{EventLoop, LoopChoice};
use crate::websocket::Handshake;
use crate::wsgi::call::send_error;
use crate::wsgi::cgi::RequestParts;
use crate::wsgi::input::Body;
use crate::wsgi::request_log::RequestLog;
use channel::HttpChannel;
use inbound::Inbound;
use lifespan::Lifespan;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};
use scope::{Kind, ScopeTemplate};
use std::sync::Arc;
use websocket::WsChannel;

const GLUE: &std::ffi::CStr = pyo3::ffi::c_str!(include_str!("glue.py"));

/// One request for an ASGI app.
pub struct AsgiCall {
    pub app: usize,
    pub parts: RequestParts,
    pub body: Body,
    pub exchange: Arc<Exchange>,
    /// For a WebSocket: its handshake, and the queue nginx puts what the
    /// client sends in.
    pub websocket: Option<(Handshake, Arc<Inbound>)>,
}

/// An ASGI app as the worker runs it.
pub struct AsgiApp {
    pub callable: Py<PyAny>,
    /// The lifespan state, copied into each request's scope; `None` where
    /// the app does not do lifespan.
    state: Option<Py<PyDict>>,
    lifespan: Option<Lifespan>,
    /// False when its lifespan startup failed.
    pub serving: bool,
}

/// What `Asgi::start` needs of each ASGI app.
pub struct AppToStart {
    pub index: usize,
    pub callable: Py<PyAny>,
    pub lifespan: lifespan::Mode,
}

/// A worker's ASGI side.
pub struct Asgi {
    pub event_loop: Arc<EventLoop>,
    glue: Py<PyAny>,
    template: ScopeTemplate,
    /// By app index (WSGI apps have `None`).
    apps: Vec<Option<AsgiApp>>,
    names: Vec<Arc<str>>,
    log: Arc<dyn Log>,
}

impl Asgi {
    /// Start the loop thread, then each app's lifespan (waiting for its
    /// startup, with the GIL released). An app whose startup fails is
    /// logged and does not serve.
    pub fn start(
        choice: LoopChoice,
        to_start: Vec<AppToStart>,
        names: Vec<Arc<str>>,
        log: Arc<dyn Log>,
    ) -> Result<Arc<Asgi>, String> {
        let (glue, template) = Python::attach(|py| -> PyResult<_> {
            let glue = PyModule::from_code(py, GLUE, c"ngx_wsgi/asgi_glue.py", c"ngx_wsgi._asgi")?;
            Ok((glue.into_any().unbind(), ScopeTemplate::new(py)?))
        })
        .map_err(|e| Python::attach(|py| crate::wsgi::request_log::format_traceback(py, &e)))?;
        let event_loop = EventLoop::start(choice, log.clone())?;
        let mut apps: Vec<Option<AsgiApp>> = (0..names.len()).map(|_| None).collect();
        for app in to_start {
            let name = names.get(app.index).cloned().unwrap_or_else(|| "?".into());
            // The same app in several locations is one app: one lifespan,
            // one state.
            let twin = apps
                .iter()
                .flatten()
                .find(|a| a.callable.as_ptr() == app.callable.as_ptr());
            if let Some(twin) = twin {
                let entry = Python::attach(|py| AsgiApp {
                    callable: app.callable.clone_ref(py),
                    state: twin.state.as_ref().map(|s| s.clone_ref(py)),
                    lifespan: None,
                    serving: twin.serving,
                });
                apps[app.index] = Some(entry);
                continue;
            }
            let (state, shared_state, callable) = Python::attach(|py| {
                let state = PyDict::new(py);
                (
                    state.clone().unbind(),
                    state.into_any().unbind(),
                    app.callable.clone_ref(py),
                )
            });
            let mut entry = AsgiApp {
                callable: app.callable,
                state: None,
                lifespan: None,
                serving: true,
            };
            if app.lifespan != lifespan::Mode::Off {
                let glue = Python::attach(|py| glue.clone_ref(py));
                match lifespan::startup(&event_loop, glue, callable, shared_state, app.lifespan) {
                    Ok(Some(ls)) => {
                        entry.state = Some(state);
                        entry.lifespan = Some(ls);
                    }
                    Ok(None) => log.log(
                        Level::Info,
                        &format!("wsgi: app \"{name}\" does not do the lifespan protocol (asgi_lifespan auto): served without it"),
                    ),
                    Err(why) => {
                        entry.serving = false;
                        log.log(
                            Level::Error,
                            &format!("wsgi: app \"{name}\" does not serve: {}", why.lines().next().unwrap_or("")),
                        );
                        for line in why.lines().skip(1) {
                            log.log(Level::Error, &format!("wsgi: {line}"));
                        }
                    }
                }
            }
            apps[app.index] = Some(entry);
        }
        Ok(Arc::new(Asgi {
            event_loop,
            glue,
            template,
            apps,
            names,
            log,
        }))
    }

    /// False only for an ASGI app whose lifespan startup failed.
    pub fn serving_or_wsgi(&self, app: usize) -> bool {
        self.apps
            .get(app)
            .and_then(Option::as_ref)
            .is_none_or(|a| a.serving)
    }

    /// From nginx's event loop: run `call` on the loop, as a task.
    pub fn call(self: &Arc<Self>, call: AsgiCall) {
        let me = self.clone();
        self.event_loop
            .post(Box::new(move |py| me.start_request(py, call)));
    }

    fn start_request(&self, py: Python<'_>, call: AsgiCall) {
        let exchange = call.exchange;
        let Some(app) = self
            .apps
            .get(call.app)
            .and_then(Option::as_ref)
            .filter(|a| a.serving)
        else {
            send_error(
                &exchange,
                "500 Internal Server Error: the application is not available\n",
            );
            exchange.finish();
            return;
        };
        exchange.enter_app();
        let log = RequestLog {
            log: self.log.clone(),
            parts: Arc::new(call.parts),
            app: self
                .names
                .get(call.app)
                .cloned()
                .unwrap_or_else(|| "?".into()),
        };
        // The app's two callables and the task's end, from the channel of
        // the request's kind; how to give it its task; what a cancel does.
        let kind = if call.websocket.is_some() {
            Kind::WebSocket
        } else {
            Kind::Http
        };
        type SetTask = Box<dyn FnOnce(Py<PyAny>)>;
        let (channel, set_task, hook): (PyResult<Bound<'_, PyAny>>, SetTask, Continuation) =
            match call.websocket {
                None => {
                    let ch = HttpChannel::new(
                        exchange.clone(),
                        self.event_loop.clone(),
                        log.clone(),
                        call.body,
                    );
                    let (c2, c3, el) = (ch.clone(), ch.clone(), self.event_loop.clone());
                    (
                        ch.bind(py).map(Bound::into_any),
                        Box::new(move |t| c3.set_task(t)),
                        Box::new(move || el.post(Box::new(move |py| c2.disconnected(py)))),
                    )
                }
                Some((handshake, inbound)) => {
                    let ch = WsChannel::new(
                        exchange.clone(),
                        self.event_loop.clone(),
                        log.clone(),
                        inbound,
                        handshake,
                    );
                    let (c2, c3) = (ch.clone(), ch.clone());
                    (
                        ch.bind(py).map(Bound::into_any),
                        Box::new(move |t| c3.set_task(t)),
                        Box::new(move || c2.disconnected()),
                    )
                }
            };
        // The client leaving (or the request's release) is a disconnect.
        if let Err(hook) = exchange.on_cancel(hook) {
            hook();
        }
        let channel = match channel {
            Ok(c) => c,
            Err(e) => {
                log.exception(py, "cannot start the request", &e);
                send_error(&exchange, "500 Internal Server Error\n");
                exchange.finish();
                return;
            }
        };
        let started = self
            .template
            .build(py, &log.parts, kind, app.state.as_ref().map(|s| s.bind(py)))
            .and_then(|scope| {
                self.glue.bind(py).call_method1(
                    intern!(py, "start"),
                    (
                        self.event_loop.py_loop().bind(py),
                        app.callable.bind(py),
                        scope,
                        channel.getattr(intern!(py, "receive"))?,
                        channel.getattr(intern!(py, "send"))?,
                        channel.getattr(intern!(py, "ended"))?,
                    ),
                )
            });
        match started {
            Ok(task) => set_task(task.unbind()),
            Err(e) => {
                let _ = channel.call_method1(intern!(py, "ended"), (e.value(py),));
            }
        }
    }

    /// At worker exit: each app's lifespan shutdown, then the loop stops.
    pub fn shutdown(&self) {
        for (i, app) in self.apps.iter().enumerate() {
            let Some(ls) = app.as_ref().and_then(|a| a.lifespan.as_ref()) else {
                continue;
            };
            if let Err(why) = ls.shutdown(&self.event_loop) {
                let name = self.names.get(i).map_or("?", |n| n);
                self.log.log(
                    Level::Error,
                    &format!("wsgi: app \"{name}\": {}", why.lines().next().unwrap_or("")),
                );
                for line in why.lines().skip(1) {
                    self.log.log(Level::Error, &format!("wsgi: {line}"));
                }
            }
        }
        self.event_loop.stop();
    }
}
