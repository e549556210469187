//! Per-worker state, created in `init_process`: the Python runtime, the
//! eventfd through which Python threads wake the event loop, a timer that
//! keeps a gracefully quitting worker alive while requests are still in
//! Python (nginx exits a quitting worker once no timers are left), the
//! worker's metrics, and its recycling.
//!
//! **Recycling** uses nginx's own way of replacing a worker. A worker that
//! exits without being told to by the master is respawned by the master
//! (`ngx_reap_children`); so a worker that should go (`wsgi_max_requests`,
//! `wsgi_max_rss`, a thread that never came back from
//! `wsgi_request_timeout`) sets `ngx_quit` on itself, as `SIGQUIT` would:
//! it closes its listening sockets (the master's and the other workers'
//! stay open, so no connection is refused), closes idle keep-alive
//! connections, finishes the requests it holds, and exits; the master
//! starts a new worker at once. With one worker, connections wait in the
//! listen backlog while the old one drains. A request whose thread never
//! came back is *abandoned*: the worker does not wait for it, and closes
//! its connection as it exits.

use super::log::NginxLog;
use super::metrics::Metrics;
use super::output;
use crate::conf::MainConf;
use crate::exchange::{Exchange, Wake};
use crate::log::{Level, Log};
use crate::metrics::RecycleReason;
use crate::module::Module;
use crate::python::runtime::Runtime;
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
    /// Requests the worker no longer waits for (their thread did not come
    /// back from `wsgi_request_timeout`).
    abandoned: Vec<*mut ngx_http_request_t>,
    /// Requests released so far, and the number at which to recycle.
    served: u64,
    max_requests: Option<u64>,
    max_rss: Option<u64>,
    rss_checked: ngx_msec_t,
    recycling: bool,
    pub metrics: Metrics,
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

    /// `r` is done with; `abandoned` if the worker had stopped waiting for
    /// it already (`abandon`).
    pub fn request_done(&mut self, r: *mut ngx_http_request_t, abandoned: bool) {
        if abandoned {
            self.abandoned.retain(|&a| a != r);
        } else {
            self.in_flight -= 1;
        }
        if self.in_flight == 0 && self.keep.timer_set() != 0 {
            unsafe { ngx_del_timer(&mut *self.keep) };
        }
        self.served += 1;
        if let Some(max) = self.max_requests.filter(|&m| self.served >= m) {
            self.recycle(
                RecycleReason::MaxRequests,
                &format!("it has served {max} requests (wsgi_max_requests)"),
            );
        }
        self.check_rss();
    }

    /// Stop waiting for `r`: a quitting worker may exit without it.
    pub fn abandon(&mut self, r: *mut ngx_http_request_t, ctx: &mut super::output::RequestCtx) {
        if ctx.abandoned {
            return;
        }
        ctx.abandoned = true;
        self.abandoned.push(r);
        self.in_flight -= 1;
        if self.in_flight == 0 && self.keep.timer_set() != 0 {
            unsafe { ngx_del_timer(&mut *self.keep) };
        }
    }

    /// `wsgi_max_rss`, checked between requests, at most once a second.
    fn check_rss(&mut self) {
        let Some(max) = self.max_rss else { return };
        let now = unsafe { ngx_current_msec };
        if now.wrapping_sub(self.rss_checked) < 1000 {
            return;
        }
        self.rss_checked = now;
        if let Some(rss) = rss_bytes().filter(|&rss| rss > max) {
            self.recycle(
                RecycleReason::MaxRss,
                &format!(
                    "its RSS is {} MiB, over wsgi_max_rss ({} MiB)",
                    rss >> 20,
                    max >> 20
                ),
            );
        }
    }

    /// Replace this worker: see the module's docs. Once.
    pub fn recycle(&mut self, reason: RecycleReason, why: &str) {
        if self.recycling {
            return;
        }
        self.recycling = true;
        self.metrics.recycled(reason);
        unsafe {
            let log = (*ngx_cycle).log;
            if ngx_process != NGX_PROCESS_WORKER as ngx_uint_t {
                ngx::ngx_log_error!(
                    NGX_LOG_WARN,
                    log,
                    "wsgi: this worker should be recycled ({why}), but without a master process nothing would replace it: it goes on"
                );
                return;
            }
            ngx::ngx_log_error!(
                NGX_LOG_NOTICE,
                log,
                "wsgi: recycling this worker: {why}; it takes no new connections, finishes its requests and exits, and the master starts a new one"
            );
            ngx_quit = 1;
        }
    }

    /// Count a finished request in the worker's metrics.
    pub fn count(&mut self, stats: &super::variables::RequestStats, status: u16) {
        self.metrics.count(stats, status);
    }
}

/// Run the log phase for `r`, as nginx does when it finalizes a request
/// (`ngx_http_log_request`, which is not exported).
unsafe fn log_request(r: *mut ngx_http_request_t) {
    let cmcf =
        *(*r).main_conf.add(ngx_http_core_module.ctx_index) as *mut ngx_http_core_main_conf_t;
    let handlers = &(*cmcf).phases[ngx_http_phases_NGX_HTTP_LOG_PHASE as usize].handlers;
    let list =
        std::slice::from_raw_parts(handlers.elts as *const ngx_http_handler_pt, handlers.nelts);
    for handler in list.iter().flatten() {
        handler(r);
    }
}

/// The process's resident set size.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * unsafe { ngx_pagesize } as u64)
}

/// `wsgi_max_requests N JITTER`: N, moved by a random amount within
/// ±JITTER, so that workers started together do not recycle together.
fn with_jitter(n: u64, jitter: u64) -> u64 {
    if jitter == 0 {
        return n;
    }
    let mut r = 0u64;
    unsafe { libc::getrandom((&raw mut r).cast(), 8, 0) };
    (n - jitter + r % (2 * jitter + 1)).max(1)
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
            abandoned: Vec::new(),
            served: 0,
            max_requests: mcf.max_requests.map(|(n, j)| with_jitter(n, j)),
            max_rss: mcf.max_rss,
            rss_checked: 0,
            recycling: false,
            metrics: Metrics::start(cycle, mcf),
        });
        WORKER = Box::into_raw(worker);
        NGX_OK as ngx_int_t
    })
}

pub unsafe extern "C" fn exit_process(_cycle: *mut ngx_cycle_t) {
    super::guard((), || {
        let Some(w) = get() else { return };
        w.metrics.stop();
        if let Some(rt) = &w.runtime {
            rt.shutdown();
        }
        // Their threads may still run, but the process is exiting: log them
        // (their 504 or cut went out at the deadline), and close the
        // connections nginx would otherwise find open. Nothing is freed
        // under the threads' feet.
        for r in std::mem::take(&mut w.abandoned) {
            log_request(r);
            ngx_close_connection((*r).connection);
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
