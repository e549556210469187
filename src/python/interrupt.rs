//! Interrupting a request that stays too long in the app: which pool thread
//! runs which request, and the watchdog thread that raises
//! `ngx_wsgi.RequestTimeout` into it.
//!
//! Raising into another thread (`PyThreadState_SetAsyncExc`) needs the GIL,
//! which nginx's event loop must never wait for; so the event loop only
//! queues the request here, and the watchdog, a Python thread of its own,
//! takes the GIL and raises. Under the GIL the check "thread T still runs
//! request R" and the raise are one step: a pool thread changes requests
//! only while it holds the GIL, so the exception cannot land in the next
//! request. If it is still pending when the request ends (the thread never
//! ran Python again), the thread clears it before taking the next one.
//!
//! The exception only takes effect when the thread next runs Python code:
//! a C extension that holds the GIL, or a blocking call that released it
//! (`time.sleep`, a socket read), goes on until it returns. That is what
//! the grace period and worker recycling are for (see `http::timeout`).

use super::ngx_wsgi::RequestTimeout;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// One pool thread.
#[derive(Default)]
struct Slot {
    /// Python's id of the thread (`threading.get_ident()`).
    ident: AtomicU64,
    /// The request (its exchange's token) the thread runs, 0 when idle.
    current: AtomicUsize,
    /// An exception was raised into the thread for its current request.
    raised: AtomicBool,
}

#[derive(Default)]
struct Pending {
    tokens: Vec<usize>,
    closed: bool,
}

pub struct Interrupts {
    slots: Vec<Slot>,
    pending: Mutex<Pending>,
    ready: Condvar,
}

impl Interrupts {
    pub fn new(threads: usize) -> Interrupts {
        Interrupts {
            slots: (0..threads).map(|_| Slot::default()).collect(),
            pending: Mutex::new(Pending::default()),
            ready: Condvar::new(),
        }
    }

    /// Pool thread `i`, at its start.
    pub fn register(&self, i: usize, _py: Python<'_>) {
        // SAFETY: the calling thread is attached (the token proves it).
        let ident = unsafe { pyo3::ffi::PyThread_get_thread_ident() };
        self.slots[i].ident.store(ident as u64, Ordering::Relaxed);
    }

    /// Pool thread `i` starts running the request `token`. Called with the
    /// GIL, so that the watchdog never sees a half-made change.
    pub fn running(&self, i: usize, _py: Python<'_>, token: usize) {
        self.slots[i].current.store(token, Ordering::Relaxed);
    }

    /// Pool thread `i` is done with its request (with the GIL).
    pub fn done(&self, i: usize, _py: Python<'_>) {
        let slot = &self.slots[i];
        slot.current.store(0, Ordering::Relaxed);
        if slot.raised.swap(false, Ordering::Relaxed) {
            // A RequestTimeout that the request never met must not meet
            // the next one.
            unsafe {
                pyo3::ffi::PyThreadState_SetAsyncExc(
                    slot.ident.load(Ordering::Relaxed) as _,
                    std::ptr::null_mut(),
                );
            }
        }
    }

    /// Event loop: have the thread that runs `token` interrupted. Never
    /// waits for the GIL.
    pub fn request(&self, token: usize) {
        self.pending.lock().unwrap().tokens.push(token);
        self.ready.notify_one();
    }

    pub fn close(&self) {
        self.pending.lock().unwrap().closed = true;
        self.ready.notify_one();
    }

    /// The watchdog thread's life: wait for requests, raise into their
    /// threads, until `close`.
    pub fn watch(&self) {
        loop {
            let tokens = {
                let mut p = self.pending.lock().unwrap();
                while p.tokens.is_empty() && !p.closed {
                    p = self.ready.wait(p).unwrap();
                }
                if p.closed {
                    return;
                }
                std::mem::take(&mut p.tokens)
            };
            Python::attach(|py| {
                for token in tokens {
                    self.raise(py, token);
                }
            });
        }
    }

    /// With the GIL: raise RequestTimeout into the thread that runs
    /// `token`, if one still does. True if it did.
    fn raise(&self, py: Python<'_>, token: usize) -> bool {
        let Some(slot) = self
            .slots
            .iter()
            .find(|s| s.current.load(Ordering::Relaxed) == token)
        else {
            return false;
        };
        let exc = py.get_type::<RequestTimeout>();
        // SAFETY: the GIL is held; the type object lives as long as the
        // interpreter.
        let n = unsafe {
            pyo3::ffi::PyThreadState_SetAsyncExc(
                slot.ident.load(Ordering::Relaxed) as _,
                exc.as_ptr(),
            )
        };
        slot.raised.store(n > 0, Ordering::Relaxed);
        n > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyo3::types::PyDict;
    use std::sync::Arc;

    #[test]
    fn raises_into_the_thread_that_runs_the_request_and_no_other() {
        Python::initialize();
        let interrupts = Arc::new(Interrupts::new(2));
        let watchdog = {
            let i = interrupts.clone();
            std::thread::spawn(move || i.watch())
        };
        // A pool thread busy in pure Python for request 7: the watchdog
        // must stop it with RequestTimeout, an `except Exception` in the
        // app notwithstanding.
        let worker = {
            let i = interrupts.clone();
            std::thread::spawn(move || {
                Python::attach(|py| {
                    super::super::ngx_wsgi::install(py).unwrap();
                    i.register(0, py);
                    let code = c"
import ngx_wsgi
def busy():
    n = 0
    while True:
        try:
            n += 1
        except Exception:
            pass
";
                    let globals = PyDict::new(py);
                    py.run(code, Some(&globals), None).unwrap();
                    i.running(0, py, 7);
                    let err = globals
                        .get_item("busy")
                        .unwrap()
                        .unwrap()
                        .call0()
                        .unwrap_err();
                    let timeout = err.is_instance_of::<RequestTimeout>(py);
                    i.done(0, py);
                    timeout
                })
            })
        };
        // Request 8 runs nowhere: nothing to raise into.
        interrupts.request(8);
        while interrupts.slots[0].current.load(Ordering::Relaxed) != 7 {
            std::thread::yield_now();
        }
        interrupts.request(7);
        assert!(
            worker.join().unwrap(),
            "the busy loop ended with RequestTimeout"
        );
        assert!(!interrupts.slots[0].raised.load(Ordering::Relaxed));
        interrupts.close();
        watchdog.join().unwrap();
    }
}
