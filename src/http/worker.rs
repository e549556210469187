//! Per-worker state, created in `init_process`: the Python runtime, the
//! eventfd through which Python threads wake the event loop, and a timer
//! that keeps a gracefully quitting worker alive while requests are still
//! in Python (such a request holds no timer of its own, and nginx exits a
//! quitting worker once no timers are left).

use super::log::NginxLog;
use super::output;
use crate::conf::MainConf;
use crate::log::{Level, Log};
use crate::module::Module;
use crate::python::runtime::Runtime;
use crate::wsgi::exchange::{Exchange, Wake};
use ngx::ffi::*;
use ngx::http::HttpModuleMainConf;
use std::ptr;
use std::sync::{Arc, Mutex};

/// Exchanges with news for the event loop, and the eventfd that says so.
pub struct EventfdWaker {
    fd: i32,
    ready: Mutex<Vec<Arc<Exchange>>>,
}

impl Wake for EventfdWaker {
    fn wake(&self, exchange: &Arc<Exchange>) {
        let first = {
            let mut ready = self.ready.lock().unwrap();
            ready.push(exchange.clone());
            ready.len() == 1
        };
        // One write per batch: the event loop drains the whole list.
        if first {
            let one: u64 = 1;
            unsafe { libc::write(self.fd, (&raw const one).cast(), 8) };
        }
    }
}

/// The waker of `wsgi_inline` requests: their app runs on the event loop,
/// which pumps the response as soon as the app returns.
struct NoWake;

impl Wake for NoWake {
    fn wake(&self, _exchange: &Arc<Exchange>) {}
}

pub struct Worker {
    pub runtime: Option<Arc<Runtime>>,
    pub waker: Arc<EventfdWaker>,
    pub inline_waker: Arc<dyn Wake>,
    conn: *mut ngx_connection_t,
    keep: Box<ngx_event_t>,
    in_flight: usize,
}

static mut WORKER: *mut Worker = ptr::null_mut();

/// The worker's state; event-loop thread only.
pub fn get() -> Option<&'static mut Worker> {
    unsafe { WORKER.as_mut() }
}

const KEEP_MS: ngx_msec_t = 60_000;

impl Worker {
    pub fn request_started(&mut self) {
        self.in_flight += 1;
        if self.keep.timer_set() == 0 {
            unsafe { ngx_add_timer(&mut *self.keep, KEEP_MS) };
        }
    }

    pub fn request_done(&mut self) {
        self.in_flight -= 1;
        if self.in_flight == 0 && self.keep.timer_set() != 0 {
            unsafe { ngx_del_timer(&mut *self.keep) };
        }
    }
}

unsafe extern "C" fn keep_handler(ev: *mut ngx_event_t) {
    if let Some(w) = get() {
        if w.in_flight > 0 {
            ngx_add_timer(ev, KEEP_MS);
        }
    }
}

/// The eventfd is readable: pump every request that has news.
unsafe extern "C" fn wake_handler(_ev: *mut ngx_event_t) {
    super::guard((), || {
        let Some(w) = get() else { return };
        let mut buf = 0u64;
        while libc::read(w.waker.fd, (&raw mut buf).cast(), 8) == 8 {}
        let ready = std::mem::take(&mut *w.waker.ready.lock().unwrap());
        for exchange in ready {
            if exchange.is_retired() {
                continue;
            }
            let r = exchange.token as *mut ngx_http_request_t;
            let c = (*r).connection;
            // One guard per request: a panic while pumping one must not
            // leave the others of the batch unpumped (nothing would wake
            // them again).
            super::guard((), || output::pump(r));
            // What a request handler does after its event: run the
            // subrequests that finishing this one posted.
            ngx_http_run_posted_requests(c);
        }
    })
}

pub unsafe extern "C" fn init_process(cycle: *mut ngx_cycle_t) -> ngx_int_t {
    super::guard(NGX_OK as ngx_int_t, || {
        if ngx_process != NGX_PROCESS_WORKER as ngx_uint_t
            && ngx_process != NGX_PROCESS_SINGLE as ngx_uint_t
        {
            return NGX_OK as ngx_int_t;
        }
        let Some(mcf): Option<&MainConf> = Module::main_conf(&*cycle) else {
            return NGX_OK as ngx_int_t;
        };
        if mcf.apps.is_empty() {
            return NGX_OK as ngx_int_t;
        }
        let log = (*cycle).log;

        let fd = libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC);
        if fd < 0 {
            ngx::ngx_log_error!(
                NGX_LOG_ALERT,
                log,
                "wsgi: eventfd() failed: {}",
                std::io::Error::last_os_error()
            );
            return NGX_OK as ngx_int_t;
        }
        let conn = ngx_get_connection(fd, log);
        if conn.is_null() {
            libc::close(fd);
            return NGX_OK as ngx_int_t;
        }
        (*(*conn).read).handler = Some(wake_handler);
        (*(*conn).read).log = log;
        if ngx_handle_read_event((*conn).read, 0) != NGX_OK as ngx_int_t {
            ngx_close_connection(conn);
            return NGX_OK as ngx_int_t;
        }

        let mut keep: Box<ngx_event_t> = Box::new(std::mem::zeroed());
        keep.handler = Some(keep_handler);
        keep.log = log;

        let core = *(*cycle).conf_ctx.add(ngx_core_module.index) as *const ngx_core_conf_t;
        // Several processes serve the app when a master runs more than one worker.
        let multiprocess = core.is_null() || ((*core).master != 0 && (*core).worker_processes > 1);
        let nlog: Arc<dyn Log> = Arc::new(NginxLog);
        let runtime = match Runtime::start(&mcf.runtime_config(multiprocess), nlog.clone()) {
            Ok(rt) => Some(rt),
            Err(e) => {
                nlog.log(Level::Error, &format!("wsgi: Python failed to start: {e}"));
                None
            }
        };
        let worker = Box::new(Worker {
            runtime,
            waker: Arc::new(EventfdWaker {
                fd,
                ready: Mutex::new(Vec::new()),
            }),
            inline_waker: Arc::new(NoWake),
            conn,
            keep,
            in_flight: 0,
        });
        WORKER = Box::into_raw(worker);
        NGX_OK as ngx_int_t
    })
}

pub unsafe extern "C" fn exit_process(_cycle: *mut ngx_cycle_t) {
    super::guard((), || {
        let Some(w) = get() else { return };
        if let Some(rt) = &w.runtime {
            rt.shutdown();
        }
        if !w.conn.is_null() {
            ngx_close_connection(w.conn);
            w.conn = ptr::null_mut();
        }
        if w.keep.timer_set() != 0 {
            ngx_del_timer(&mut *w.keep);
        }
        // Python is not finalized: that can hang on live threads, and the
        // process is exiting.
    })
}
