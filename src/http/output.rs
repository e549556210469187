//! Writing a response from the event loop as the Python thread produces it.
//!
//! `pump` drains the request's exchange into nginx's output chain. It only
//! drains while the socket has nothing pending, so at most one batch sits
//! in nginx and at most `wsgi_buffer_size` bytes in the exchange. A
//! response that got that far ahead of its client parks (its thread goes
//! back to the pool); once nginx has handed everything to the socket,
//! `pump` resumes it. A slow client costs bounded memory, not a thread.
//! The write handler flushes and pumps again. The request is released
//! (unblocked and finalized) only when the Python side says it has
//! finished, on every path.

use super::variables::RequestStats;
use crate::exchange::{Chunk, Event, Exchange, FileRange, ResponseHead};
use crate::metrics::Outcome;
use crate::module::Module;
use crate::wsgi::body_stream::BodyStream;
use ngx::ffi::*;
use ngx::http::HttpModule;
use std::os::fd::AsRawFd;
use std::ptr;
use std::sync::Arc;

/// A `wsgi_app` request's state on the event loop. `#[repr(C)]` with the
/// stats first: see `variables::RequestStats`.
#[repr(C)]
pub struct RequestCtx {
    pub stats: RequestStats,
    pub exchange: Arc<Exchange>,
    /// Body chunks and files whose buffers nginx may still be sending.
    held: Vec<(*mut ngx_chain_t, Held)>,
    /// Chain links (with their bufs) free for reuse.
    free: Vec<*mut ngx_chain_t>,
    head_sent: bool,
    /// HEAD, 204/304, or the header could not be sent: drop the body.
    discard: bool,
    ended: bool,
    aborted: bool,
    rc: ngx_int_t,
    /// The request's timer (see `timeout`), and when it was dispatched.
    timer: ngx_event_t,
    pub dispatched: ngx_msec_t,
    /// `wsgi_request_timeout` passed (the timer then runs the grace).
    pub timed_out: bool,
    /// The client was answered by the module itself (504, 413, 408, or a
    /// cut): whatever the thread still sends is dropped.
    pub answered: bool,
    /// The body streamed to the app (`wsgi_request_buffering off`), and
    /// whether reading it paused because the app is behind.
    pub body: Option<Arc<BodyStream>>,
    pub body_paused: bool,
    /// The worker stopped waiting for it (its thread did not come back).
    pub abandoned: bool,
    /// A WebSocket request: where its client's messages go, until the app
    /// accepts; then the connection's state (see `websocket`).
    pub ws_inbound: Option<Arc<crate::asgi::inbound::Inbound>>,
    pub ws: Option<Box<super::websocket::Session>>,
    /// `asgi_websocket_max_message_size` and `asgi_websocket_timeout`.
    pub ws_max_message: usize,
    pub ws_timeout: ngx_msec_t,
}

/// What keeps a buffer's bytes valid while nginx sends them.
enum Held {
    Memory(#[allow(dead_code)] Chunk),
    File(#[allow(dead_code)] FileRange),
}

unsafe extern "C" fn cancel_on_cleanup(data: *mut core::ffi::c_void) {
    // The request is being terminated (client gone, timeout) or freed. A
    // parked response goes on, to run close() and finish; a read of the
    // body raises.
    let ctx = &*(data as *const RequestCtx);
    super::guard((), || {
        super::body::stop(ctx);
        if let Some(resume) = ctx.exchange.cancel() {
            resume();
        }
        // Terminated while held (not yet released): nginx has put its own
        // write handler in place of `writer`, so `pump` must be woken
        // directly, or a response left queued behind a busy socket would
        // never be taken, and the request never released (the worker then
        // waits for it forever on quit). The request stays alive, blocked,
        // until `release`; a released one is retired, and skipped.
        if !ctx.exchange.is_retired() {
            ctx.exchange.wake_again();
        }
    })
}

impl RequestCtx {
    /// Create the context in the request's pool and register it.
    pub unsafe fn attach(
        r: *mut ngx_http_request_t,
        app: usize,
        exchange: Arc<Exchange>,
    ) -> Option<&'static mut RequestCtx> {
        let pool = ngx::core::Pool::from_ngx_pool((*r).pool);
        let ctx = pool.allocate(RequestCtx {
            stats: RequestStats {
                app: Some(app),
                ..Default::default()
            },
            exchange,
            held: Vec::new(),
            free: Vec::new(),
            head_sent: false,
            discard: false,
            ended: false,
            aborted: false,
            rc: NGX_OK as ngx_int_t,
            timer: std::mem::zeroed(),
            dispatched: 0,
            timed_out: false,
            answered: false,
            body: None,
            body_paused: false,
            abandoned: false,
            ws_inbound: None,
            ws: None,
            ws_max_message: 0,
            ws_timeout: 0,
        });
        if ctx.is_null() {
            return None;
        }
        let cln = ngx_http_cleanup_add(r, 0);
        if cln.is_null() {
            return None;
        }
        (*cln).handler = Some(cancel_on_cleanup);
        (*cln).data = ctx.cast();
        *(*r).ctx.add(Module::module().ctx_index) = ctx.cast();
        Some(&mut *ctx)
    }

    /// The request will not be run after all (the queue is full, or it
    /// waited too long): retire the exchange, and note how long it waited.
    /// The context stays in the module's slot, for the `$wsgi_*`
    /// variables, until a `uwsgi_upstream` fallback puts its own there.
    pub unsafe fn detach(&mut self) {
        self.disarm_timer();
        // Never run: no producer listens.
        drop(self.exchange.retire());
        self.stats.queue_wait = Some(self.exchange.report().queue_wait.unwrap_or_else(|| {
            std::time::Duration::from_millis(ngx_current_msec.wrapping_sub(self.dispatched) as u64)
        }));
    }

    pub unsafe fn get(r: *mut ngx_http_request_t) -> Option<&'static mut RequestCtx> {
        (*(*r).ctx.add(Module::module().ctx_index) as *mut RequestCtx).as_mut()
    }

    /// Call `handler` (with the request as the event's data) in `ms`.
    pub unsafe fn arm_timer(
        &mut self,
        handler: unsafe extern "C" fn(*mut ngx_event_t),
        ms: ngx_msec_t,
    ) {
        let r = self.exchange.token as *mut ngx_http_request_t;
        self.timer.handler = Some(handler);
        self.timer.data = r.cast();
        self.timer.log = (*(*r).connection).log;
        ngx_add_timer(&mut self.timer, ms);
    }

    pub unsafe fn disarm_timer(&mut self) {
        if self.timer.timer_set() != 0 {
            ngx_del_timer(&mut self.timer);
        }
    }

    /// Forget chunks nginx has finished sending; keep their links for reuse.
    fn reclaim(&mut self) {
        let free = &mut self.free;
        self.held.retain(|(cl, _)| unsafe {
            let b = (**cl).buf;
            let consumed = if (*b).in_file() != 0 {
                (*b).file_pos == (*b).file_last
            } else {
                (*b).pos == (*b).last
            };
            if consumed {
                free.push(*cl);
                false
            } else {
                true
            }
        });
    }

    /// A chain link with a cleared buf, from the free list or the pool.
    unsafe fn free_link(&mut self, r: *mut ngx_http_request_t) -> *mut ngx_chain_t {
        let cl = match self.free.pop() {
            Some(cl) => cl,
            None => {
                let cl = ngx_alloc_chain_link((*r).pool);
                if cl.is_null() {
                    return cl;
                }
                (*cl).buf = ngx_pcalloc((*r).pool, size_of::<ngx_buf_t>()) as *mut ngx_buf_t;
                if (*cl).buf.is_null() {
                    return ptr::null_mut();
                }
                cl
            }
        };
        ptr::write_bytes((*cl).buf, 0, 1);
        (*cl).next = ptr::null_mut();
        cl
    }

    unsafe fn link_for(&mut self, r: *mut ngx_http_request_t, data: Chunk) -> *mut ngx_chain_t {
        let cl = self.free_link(r);
        if cl.is_null() {
            return cl;
        }
        let b = (*cl).buf;
        // nginx sends straight from the chunk's memory (a Vec, or a Python
        // bytes object), which `held` keeps alive until the buffer is
        // consumed. nginx never writes to a memory buf it sends.
        let data_ptr = data.as_slice().as_ptr();
        (*b).start = data_ptr.cast_mut();
        (*b).pos = (*b).start;
        (*b).last = (*b).start.add(data.len());
        (*b).end = (*b).last;
        (*b).set_memory(1);
        self.held.push((cl, Held::Memory(data)));
        cl
    }

    /// A file buffer over `range`: nginx sends it with sendfile (or reads
    /// it through its output buffers); `held` owns the descriptor.
    unsafe fn link_for_file(
        &mut self,
        r: *mut ngx_http_request_t,
        range: FileRange,
    ) -> *mut ngx_chain_t {
        let file = ngx_pcalloc((*r).pool, size_of::<ngx_file_t>()) as *mut ngx_file_t;
        let cl = if file.is_null() {
            ptr::null_mut()
        } else {
            self.free_link(r)
        };
        if cl.is_null() {
            return cl;
        }
        let name = "wsgi.file_wrapper";
        (*file).fd = range.fd.as_raw_fd();
        (*file).name = ngx_str_t {
            len: name.len(),
            data: name.as_ptr().cast_mut(),
        };
        (*file).log = (*(*r).connection).log;
        let b = (*cl).buf;
        (*b).file = file;
        (*b).file_pos = range.offset as off_t;
        (*b).file_last = (range.offset + range.len) as off_t;
        (*b).set_in_file(1);
        self.held.push((cl, Held::File(range)));
        cl
    }
}

unsafe fn pool_str(r: *mut ngx_http_request_t, bytes: &[u8]) -> Option<ngx_str_t> {
    let data = ngx_pnalloc((*r).pool, bytes.len().max(1)) as *mut u8;
    if data.is_null() {
        return None;
    }
    ptr::copy_nonoverlapping(bytes.as_ptr(), data, bytes.len());
    Some(ngx_str_t {
        len: bytes.len(),
        data,
    })
}

/// Put the app's status and headers into `r->headers_out`.
unsafe fn apply_head(r: *mut ngx_http_request_t, head: &ResponseHead) -> Option<()> {
    let out = &mut (*r).headers_out;
    out.status = head.code as ngx_uint_t;
    // For 204 and 304 nginx's own status line is used: nginx applies its
    // no-body rules (header_only, no Content-Type or length) only then.
    if !no_body_status(head.code) && !head.status.is_empty() {
        out.status_line = pool_str(r, &head.status)?;
    }
    out.content_length_n = head.content_length.map_or(-1, |n| n as off_t);
    for (name, value) in &head.headers {
        if name.eq_ignore_ascii_case("content-type") {
            let v = pool_str(r, value)?;
            out.content_type_len = v.len;
            out.content_type = v;
            out.content_type_lowcase = ptr::null_mut();
            continue;
        }
        let h = ngx_list_push(&mut out.headers) as *mut ngx_table_elt_t;
        if h.is_null() {
            return None;
        }
        // Zeroed first: nginx 1.23+ has a `next` field that 1.22 lacks.
        ptr::write_bytes(h, 0, 1);
        (*h).hash = 1;
        (*h).key = pool_str(r, name.as_bytes())?;
        (*h).value = pool_str(r, value)?;
        let lower = pool_str(r, name.to_ascii_lowercase().as_bytes())?;
        (*h).lowcase_key = lower.data;
        // nginx adds its own Server and Date unless these are set.
        if name.eq_ignore_ascii_case("server") {
            out.server = h;
        } else if name.eq_ignore_ascii_case("date") {
            out.date = h;
        }
    }
    Some(())
}

/// Statuses whose responses never have a body (RFC 9110).
fn no_body_status(code: u16) -> bool {
    code < 200 || code == 204 || code == 304
}

/// A short plain-text response from the module itself (500, 503, 504).
pub unsafe fn send_plain(r: *mut ngx_http_request_t, status: u16, body: &'static str) -> ngx_int_t {
    send_whole(r, status, "text/plain; charset=utf-8", body.as_bytes())
}

/// A whole response the module made (the `wsgi_status` page): the body is
/// copied into the request's pool.
pub unsafe fn send_owned(
    r: *mut ngx_http_request_t,
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
) -> ngx_int_t {
    let data = ngx_pnalloc((*r).pool, body.len().max(1)) as *mut u8;
    if data.is_null() {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    }
    ptr::copy_nonoverlapping(body.as_ptr(), data, body.len());
    send_whole(
        r,
        status,
        content_type,
        std::slice::from_raw_parts(data, body.len()),
    )
}

/// Send `body`, which lives as long as the request, as the whole response.
unsafe fn send_whole(
    r: *mut ngx_http_request_t,
    status: u16,
    content_type: &'static str,
    body: &[u8],
) -> ngx_int_t {
    if ngx_http_discard_request_body(r) != NGX_OK as ngx_int_t {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    }
    let out = &mut (*r).headers_out;
    out.status = status as ngx_uint_t;
    out.content_type = ngx_str_t {
        len: content_type.len(),
        data: content_type.as_ptr().cast_mut(),
    };
    out.content_type_len = content_type.len();
    out.content_length_n = body.len() as off_t;
    let rc = ngx_http_send_header(r);
    if rc == NGX_ERROR as ngx_int_t || rc > NGX_OK as ngx_int_t || (*r).header_only() != 0 {
        return rc;
    }
    let b = ngx_pcalloc((*r).pool, size_of::<ngx_buf_t>()) as *mut ngx_buf_t;
    if b.is_null() {
        return NGX_ERROR as ngx_int_t;
    }
    (*b).start = body.as_ptr().cast_mut();
    (*b).pos = (*b).start;
    (*b).last = (*b).start.add(body.len());
    (*b).end = (*b).last;
    (*b).set_memory(1);
    if r == (*r).main {
        (*b).set_last_buf(1);
    } else {
        (*b).set_last_in_chain(1);
    }
    let mut out = ngx_chain_t {
        buf: b,
        next: ptr::null_mut(),
    };
    ngx_http_output_filter(r, &mut out)
}

pub(super) unsafe fn core_loc_conf(r: *mut ngx_http_request_t) -> *mut ngx_http_core_loc_conf_t {
    *(*r).loc_conf.add(ngx_http_core_module.ctx_index) as *mut ngx_http_core_loc_conf_t
}

/// Wait for the socket to drain, with the client's send timeout.
unsafe fn wait_writable(r: *mut ngx_http_request_t) {
    let c = (*r).connection;
    let wev = (*c).write;
    let clcf = core_loc_conf(r);
    if (*wev).delayed() == 0 {
        ngx_add_timer(wev, (*clcf).send_timeout);
    }
    if ngx_handle_write_event(wev, (*clcf).send_lowat) != NGX_OK as ngx_int_t {
        (*c).set_error(1);
    }
}

unsafe fn socket_busy(r: *mut ngx_http_request_t) -> bool {
    (*(*r).connection).buffered() & NGX_HTTP_WRITE_BUFFERED != 0
}

/// Move what the Python thread produced into nginx; release the request
/// once the thread has finished.
pub unsafe fn pump(r: *mut ngx_http_request_t) {
    let Some(ctx) = RequestCtx::get(r) else {
        return;
    };
    if ctx.ws.is_some() {
        return super::websocket::drive(r, ctx);
    }
    let c = (*r).connection;

    if (*c).error() != 0 {
        // Client gone or timed out: discard, and wait for the thread to end
        // (a parked response goes on, to wind up).
        super::body::stop(ctx);
        if let Some(resume) = ctx.exchange.cancel() {
            resume();
        }
        if ctx.exchange.take().finished {
            release(r, ctx);
        }
        return;
    }
    if ctx.body_paused {
        // The app has read enough of the streamed body: read on.
        ctx.body_paused = false;
        super::body::pull(r, ctx);
    }
    if socket_busy(r) {
        return; // `writer` pumps again once the socket drains
    }
    ctx.reclaim();

    let batch = ctx.exchange.take();
    if ctx.answered {
        // The client has its answer (504, 413, 408, or a cut): nothing the
        // thread still sends goes out.
        if batch.finished {
            release(r, ctx);
        }
        return;
    }
    let mut events = batch.events;
    if !ctx.head_sent
        && ctx.ws_inbound.is_some()
        && matches!(events.front(), Some(Event::Head(h)) if h.code == 101)
    {
        // An ASGI app accepted its WebSocket (only a WebSocket's channel
        // sends a 101: the HTTP sides refuse 1xx statuses).
        return super::websocket::upgrade(r, ctx, events, batch.finished);
    }
    if !ctx.head_sent && head_then_abort(&events) {
        // The app failed after its head, before any of its body, and the
        // head has not gone out: the client can have a 500 rather than a
        // cut. (ASGI: http.response.start, then an exception.)
        events = crate::wsgi::call::internal_error_events();
    }
    let mut out: *mut ngx_chain_t = ptr::null_mut();
    let mut tail: *mut ngx_chain_t = ptr::null_mut();
    let mut last = false;
    let mut head_now = false;
    for event in events {
        let cl = match event {
            Event::Head(head) => {
                ctx.head_sent = true;
                head_now = true;
                let rc = match apply_head(r, &head) {
                    Some(()) => ngx_http_send_header(r),
                    None => NGX_ERROR as ngx_int_t,
                };
                if rc == NGX_ERROR as ngx_int_t
                    || rc > NGX_OK as ngx_int_t
                    || (*r).header_only() != 0
                    || no_body_status(head.code)
                {
                    ctx.discard = true;
                    if rc == NGX_ERROR as ngx_int_t {
                        (*c).set_error(1);
                    }
                }
                ctx.rc = rc;
                continue;
            }
            Event::Data(data) if !ctx.discard => ctx.link_for(r, data),
            Event::File(range) if !ctx.discard => ctx.link_for_file(r, range),
            Event::Data(_) | Event::File(_) => continue,
            Event::End => {
                ctx.ended = true;
                last = !ctx.discard;
                continue;
            }
            Event::Abort => {
                // Whatever came before the abort in this batch still goes
                // out (below); only then is the connection cut, in `release`.
                ctx.ended = true;
                ctx.aborted = true;
                continue;
            }
        };
        if cl.is_null() {
            (*c).set_error(1);
            break;
        }
        if tail.is_null() {
            out = cl;
        } else {
            (*tail).next = cl;
        }
        tail = cl;
    }

    if (*c).error() == 0 {
        if !tail.is_null() {
            let b = (*tail).buf;
            (*b).set_flush(1);
            if last {
                if r == (*r).main {
                    (*b).set_last_buf(1);
                } else {
                    (*b).set_last_in_chain(1);
                }
            }
            ctx.rc = ngx_http_output_filter(r, out);
        } else if last && !ctx.aborted {
            ctx.rc = ngx_http_send_special(r, NGX_HTTP_LAST as ngx_uint_t);
        } else if head_now && !ctx.discard && !ctx.aborted {
            // A head alone (an ASGI stream whose body is slow to come):
            // nginx would hold it back until the body.
            ctx.rc = ngx_http_send_special(r, NGX_HTTP_FLUSH as ngx_uint_t);
        }
        if ctx.rc == NGX_ERROR as ngx_int_t {
            (*c).set_error(1);
        }
    }
    ctx.reclaim();

    if (*c).error() != 0 || ctx.aborted {
        if let Some(resume) = ctx.exchange.cancel() {
            resume();
        }
    }
    if batch.finished {
        release(r, ctx);
    } else if (*c).error() == 0 {
        if socket_busy(r) {
            wait_writable(r);
        } else if let Some(resume) = ctx.exchange.resume_parked() {
            // The client has everything it was given: the parked response
            // goes on, on a pool thread, with the rest of its time.
            resume();
            super::timeout::resumed(r, ctx);
        }
    }
}

/// The head, then (with no body in between) the abort.
fn head_then_abort(events: &std::collections::VecDeque<Event>) -> bool {
    let mut rest = events
        .iter()
        .filter(|e| !matches!(e, Event::Data(d) if d.is_empty()));
    matches!(
        (rest.next(), rest.next()),
        (Some(Event::Head(_)), Some(Event::Abort))
    )
}

/// Send `head` (a WebSocket's `101`), as `pump` sends an app's head.
pub(super) unsafe fn send_head(
    r: *mut ngx_http_request_t,
    ctx: &mut RequestCtx,
    head: &ResponseHead,
) -> bool {
    ctx.head_sent = true;
    ctx.rc = match apply_head(r, head) {
        Some(()) => ngx_http_send_header(r),
        None => NGX_ERROR as ngx_int_t,
    };
    ctx.rc == NGX_OK as ngx_int_t
}

/// A WebSocket is over, and its app done: release the request (which
/// closes the connection: it is not kept alive).
pub(super) unsafe fn release_websocket(r: *mut ngx_http_request_t, ctx: &mut RequestCtx) {
    // Once: the session goes, and with it the connection's events
    // (`websocket::on_event` hands them to nginx's request handling).
    if ctx.ws.take().is_none() {
        return;
    }
    ctx.ended = true;
    ctx.rc = NGX_OK as ngx_int_t;
    release(r, ctx);
}

/// The thread is done: let nginx have the request back.
unsafe fn release(r: *mut ngx_http_request_t, ctx: &mut RequestCtx) {
    ctx.disarm_timer();
    if let Some(request_over) = ctx.exchange.retire() {
        request_over();
    }
    super::body::stop(ctx);
    super::handler::unhold(r, ctx.abandoned);
    let c = (*r).connection;
    let report = ctx.exchange.report();
    ctx.stats.queue_wait = report.queue_wait;
    ctx.stats.app_time = report.app_time;
    let outcome = ctx.stats.outcome.unwrap_or(if (*c).error() != 0 {
        Outcome::ClientClosed
    } else if ctx.aborted || !ctx.ended {
        Outcome::Aborted
    } else if report.app_failed || !ctx.head_sent {
        Outcome::Exception
    } else {
        Outcome::Ok
    });
    ctx.stats.outcome = Some(outcome);
    let rc = if (*c).error() != 0 {
        NGX_ERROR as ngx_int_t
    } else if ctx.answered {
        ctx.rc
    } else if !ctx.head_sent {
        // The thread ended without a response (it panicked): nginx's 500.
        NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t
    } else if ctx.aborted || !ctx.ended {
        // Cut the response: nginx still sends what it was handed (the
        // message stays incomplete, without a last chunk or short of its
        // Content-Length), then closes the connection (HTTP/2: resets the
        // stream) instead of keeping it alive.
        (*r).set_keepalive(0);
        ctx.rc
    } else {
        ctx.rc
    };
    if let Some(w) = super::worker::get() {
        let status = if rc == NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t {
            500
        } else {
            (*r).headers_out.status as u16
        };
        w.count(&ctx.stats, status);
    }
    ngx_http_finalize_request(r, rc);
}

/// Answer the client now, while the app still runs (`wsgi_request_timeout`
/// passed, or the streamed body failed): `status` with `body` if nothing of
/// the response went out (true); else cut the connection (false), at once
/// for HTTP/1.x (the response stays incomplete: no last chunk, or short of
/// its length), and when the thread lets go for HTTP/2 (the stream is
/// reset). The request itself stays blocked until the thread lets go, and
/// what the thread still sends is dropped.
pub unsafe fn answer_early(
    r: *mut ngx_http_request_t,
    ctx: &mut RequestCtx,
    status: u16,
    body: &'static str,
) -> bool {
    let c = (*r).connection;
    ctx.answered = true;
    if !ctx.head_sent {
        ctx.head_sent = true;
        ctx.discard = true;
        ctx.ended = true;
        (*r).set_keepalive(0);
        ctx.rc = send_plain(r, status, body);
        if ctx.rc == NGX_ERROR as ngx_int_t {
            (*c).set_error(1);
        } else if socket_busy(r) {
            wait_writable(r);
        }
        return true;
    }
    ctx.aborted = true;
    if (*r).stream.is_null() && (*c).fd != -1 {
        libc::shutdown((*c).fd, libc::SHUT_RDWR);
    }
    (*c).set_error(1);
    false
}

/// The request's write handler while it belongs to this module.
pub unsafe extern "C" fn writer(r: *mut ngx_http_request_t) {
    super::guard((), || {
        let c = (*r).connection;
        let wev = (*c).write;
        if (*wev).timedout() != 0 {
            ngx::ngx_log_error!(
                NGX_LOG_INFO,
                (*c).log,
                "wsgi: client timed out while the application was responding"
            );
            (*c).set_timedout(1);
            (*c).set_error(1);
        } else if (*wev).delayed() != 0 {
            // limit_rate: nginx re-posts the event when the delay is over.
            if ngx_handle_write_event(wev, (*core_loc_conf(r)).send_lowat) != NGX_OK as ngx_int_t {
                (*c).set_error(1);
            }
            if (*c).error() == 0 {
                return;
            }
        } else if socket_busy(r) {
            if ngx_http_output_filter(r, ptr::null_mut()) == NGX_ERROR as ngx_int_t {
                (*c).set_error(1);
            } else if socket_busy(r) {
                wait_writable(r);
                return;
            }
        }
        if (*wev).timer_set() != 0 {
            ngx_del_timer(wev);
        }
        pump(r);
    })
}
