//! The worker's asyncio loop, on a Python thread of its own, for ASGI apps.
//!
//! nginx's event loop never takes the GIL, so it hands work to this loop as
//! closures (`Work`), which run on the loop's thread with the GIL: start a
//! request's task, resolve a future whose client caught up, deliver a
//! disconnect. Posting is a push into an inbox under a mutex and, if the
//! inbox was empty, one write to an eventfd that the loop watches with
//! `add_reader`: a burst of work wakes the loop once, and the loop never
//! waits for nginx.

use crate::log::{Level, Log};
use pyo3::prelude::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// Something to do on the loop's thread, with the GIL.
pub type Work = Box<dyn FnOnce(Python<'_>) + Send>;

/// Which loop implementation (`asgi_loop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoopChoice {
    /// uvloop if it imports, else asyncio's.
    #[default]
    Auto,
    Asyncio,
    Uvloop,
}

pub struct EventLoop {
    inbox: Mutex<Vec<Work>>,
    efd: OwnedFd,
    /// The loop object, once the thread made it.
    py_loop: OnceLock<Py<PyAny>>,
    started: (Mutex<Option<Result<(), String>>>, Condvar),
    log: Arc<dyn Log>,
}

/// What `add_reader` calls when the eventfd is readable: run the inbox.
#[pyclass]
struct Wakeup {
    event_loop: Arc<EventLoop>,
}

#[pymethods]
impl Wakeup {
    fn __call__(&self, py: Python<'_>) {
        let mut counter = 0u64;
        // SAFETY: reading 8 bytes from our own non-blocking eventfd.
        unsafe {
            libc::read(
                self.event_loop.efd.as_raw_fd(),
                (&raw mut counter).cast(),
                8,
            )
        };
        let work = std::mem::take(&mut *self.event_loop.inbox.lock().unwrap());
        for w in work {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w(py))).is_err() {
                self.event_loop.log.log(
                    Level::Error,
                    "wsgi: internal error (panic) on the asyncio loop thread",
                );
            }
        }
    }
}

impl EventLoop {
    /// Start the loop thread and wait until its loop runs (or failed to).
    pub fn start(choice: LoopChoice, log: Arc<dyn Log>) -> Result<Arc<EventLoop>, String> {
        // SAFETY: a new eventfd, owned from here on.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(format!("eventfd(): {}", std::io::Error::last_os_error()));
        }
        let event_loop = Arc::new(EventLoop {
            inbox: Mutex::new(Vec::new()),
            efd: unsafe { OwnedFd::from_raw_fd(fd) },
            py_loop: OnceLock::new(),
            started: (Mutex::new(None), Condvar::new()),
            log,
        });
        let el = event_loop.clone();
        std::thread::Builder::new()
            .name("wsgi-asgi-loop".into())
            .spawn(move || el.run(choice))
            .map_err(|e| format!("cannot start the asyncio loop thread: {e}"))?;
        let (lock, cv) = &event_loop.started;
        let mut started = lock.lock().unwrap();
        while started.is_none() {
            started = cv.wait(started).unwrap();
        }
        started.clone().unwrap().map(|()| event_loop.clone())
    }

    fn run(self: Arc<Self>, choice: LoopChoice) {
        let outcome = Python::attach(|py| -> PyResult<()> {
            let py_loop = self.new_loop(py, choice)?;
            py.import("asyncio")?
                .call_method1("set_event_loop", (&py_loop,))?;
            let wakeup = Bound::new(
                py,
                Wakeup {
                    event_loop: self.clone(),
                },
            )?;
            py_loop.call_method1("add_reader", (self.efd.as_raw_fd(), wakeup))?;
            let _ = self.py_loop.set(py_loop.clone().unbind());
            self.report_start(Ok(()));
            // The GIL is released while the loop waits in its selector.
            // `stop` ends it. An exception that escapes it (asyncio lets
            // SystemExit and KeyboardInterrupt out of a task the app made
            // itself) must not leave every later ASGI request waiting for
            // a loop that no longer runs: it runs on.
            while let Err(e) = py_loop.call_method0("run_forever") {
                let msg = crate::wsgi::request_log::format_traceback(py, &e);
                self.log.log(
                    Level::Error,
                    &format!("wsgi: an exception escaped the asyncio loop, which runs on: {msg}"),
                );
            }
            Ok(())
        });
        if let Err(e) = outcome {
            let msg = Python::attach(|py| crate::wsgi::request_log::format_traceback(py, &e));
            // Before it started: `start` reports it; after: the log.
            if self.py_loop.get().is_none() {
                self.report_start(Err(msg));
            } else {
                self.log.log(
                    Level::Error,
                    &format!("wsgi: the asyncio loop stopped: {msg}"),
                );
            }
        }
    }

    fn new_loop<'py>(&self, py: Python<'py>, choice: LoopChoice) -> PyResult<Bound<'py, PyAny>> {
        if choice != LoopChoice::Asyncio {
            match py.import("uvloop") {
                Ok(uvloop) => return uvloop.call_method0("new_event_loop"),
                Err(e) if choice == LoopChoice::Uvloop => self.log.log(
                    Level::Error,
                    &format!(
                        "wsgi: asgi_loop uvloop: uvloop does not import ({}); using asyncio's loop",
                        crate::wsgi::request_log::err_summary(py, &e)
                    ),
                ),
                Err(_) => {}
            }
        }
        py.import("asyncio")?.call_method0("new_event_loop")
    }

    fn report_start(&self, result: Result<(), String>) {
        let (lock, cv) = &self.started;
        *lock.lock().unwrap() = Some(result);
        cv.notify_all();
    }

    /// The loop object (the thread has made it once `start` returned).
    pub fn py_loop(&self) -> &Py<PyAny> {
        self.py_loop.get().expect("the loop runs")
    }

    /// Run `work` on the loop's thread. Never blocks on Python.
    pub fn post(&self, work: Work) {
        let first = {
            let mut inbox = self.inbox.lock().unwrap();
            inbox.push(work);
            inbox.len() == 1
        };
        if first {
            let one: u64 = 1;
            // SAFETY: writing 8 bytes to our own eventfd.
            unsafe { libc::write(self.efd.as_raw_fd(), (&raw const one).cast(), 8) };
        }
    }

    /// Stop the loop (the worker is exiting).
    pub fn stop(self: &Arc<Self>) {
        let me = self.clone();
        self.post(Box::new(move |py| {
            let _ = me.py_loop().bind(py).call_method0("stop");
        }));
    }
}
