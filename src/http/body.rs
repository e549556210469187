//! `wsgi_request_buffering off`: the request body streamed to the app as it
//! arrives, on nginx's own unbuffered reading (as `proxy_request_buffering
//! off` uses it): nginx reads into its body buffer and hands over what it
//! has in `rb->bufs`; this copies it into the request's `BodyStream` and
//! marks nginx's buffers consumed, so nginx reads on. Once the stream holds
//! `wsgi_buffer_size` unread, reading stops (the client's window fills);
//! the app's thread nudges the event loop when it has read enough, and
//! `pump` reads on. nginx still enforces `client_max_body_size` (for
//! chunked and HTTP/2 bodies; a declared length over it is refused before
//! the app is called) and `client_body_timeout`.

use super::output::{self, RequestCtx};
use crate::exchange::CancelReason;
use crate::metrics::Outcome;
use crate::wsgi::body_stream::{BodyError, BodyStream};
use ngx::ffi::*;
use std::sync::Arc;

/// What nginx reads a streamed HTTP/1.x body into, at least: its own
/// buffer is `client_body_buffer_size` (8k by default), which would cost a
/// read and a hand-over per 8 KiB.
const READ_BUFFER: usize = 64 * 1024;

/// After dispatch: take what nginx has read so far and go on reading.
pub unsafe fn start(r: *mut ngx_http_request_t, ctx: &mut RequestCtx, stream: Arc<BodyStream>) {
    ctx.body = Some(stream.clone());
    (*r).read_event_handler = Some(read_handler);
    take(r, &stream);
    enlarge_read_buffer(r);
    pull(r, ctx);
}

/// Give nginx a larger buffer to read the rest of the body into. nginx
/// reads into whatever `rb->buf` is, and its filters hand the bytes over
/// as buffers pointing into it, which `take` has consumed: an empty buffer
/// can be swapped. Not for HTTP/2 (its body arrives in frames, with flow
/// control of its own), nor for a body that nearly fits already.
unsafe fn enlarge_read_buffer(r: *mut ngx_http_request_t) {
    let rb = (*r).request_body;
    if rb.is_null() || (*rb).buf.is_null() || !(*r).stream.is_null() {
        return;
    }
    let b = (*rb).buf;
    let size = (*b).end.offset_from((*b).start) as usize;
    let pending = (*b).last != (*b).pos;
    let more = (*r).headers_in.chunked() != 0 || (*rb).rest > size as off_t;
    if pending || !more || size >= READ_BUFFER {
        return;
    }
    let bigger = ngx_create_temp_buf((*r).pool, READ_BUFFER);
    if !bigger.is_null() {
        (*rb).buf = bigger;
    }
}

unsafe extern "C" fn read_handler(r: *mut ngx_http_request_t) {
    super::guard((), || {
        if let Some(ctx) = RequestCtx::get(r) {
            pull(r, ctx);
        }
    })
}

/// Move what nginx has into the stream; returns how many bytes.
unsafe fn take(r: *mut ngx_http_request_t, stream: &BodyStream) -> usize {
    let rb = (*r).request_body;
    if rb.is_null() {
        return 0;
    }
    let mut taken = 0;
    let mut cl = (*rb).bufs;
    while !cl.is_null() {
        let b = (*cl).buf;
        if (*b).in_file() == 0 && !(*b).pos.is_null() && (*b).last > (*b).pos {
            let n = (*b).last.offset_from((*b).pos) as usize;
            stream.push(std::slice::from_raw_parts((*b).pos, n));
            taken += n;
            // Consumed: nginx reuses the buffer and reads on.
            (*b).pos = (*b).last;
        }
        cl = (*cl).next;
    }
    (*rb).bufs = std::ptr::null_mut();
    taken
}

/// Read on while the stream wants more and the client has sent it.
pub unsafe fn pull(r: *mut ngx_http_request_t, ctx: &mut RequestCtx) {
    let Some(stream) = ctx.body.clone() else {
        return;
    };
    loop {
        take(r, &stream);
        if stream.ended() {
            return;
        }
        if (*r).reading_body() == 0 {
            return complete(r, &stream);
        }
        if !stream.wants_more() {
            // Full: the app's thread nudges us once it has read enough.
            // nginx's client_body_timeout must not run meanwhile.
            let rev = (*(*r).connection).read;
            if (*rev).timer_set() != 0 {
                ngx_del_timer(rev);
            }
            ctx.body_paused = true;
            return;
        }
        let rc = ngx_http_read_unbuffered_request_body(r);
        let taken = take(r, &stream);
        if rc == NGX_OK as ngx_int_t {
            return complete(r, &stream);
        }
        if rc >= NGX_HTTP_SPECIAL_RESPONSE as ngx_int_t {
            return failed(r, ctx, &stream, rc);
        }
        if taken == 0 {
            return; // NGX_AGAIN: nginx waits for the client
        }
    }
}

/// The whole body is in: from now on, reading only watches for the client
/// going away, as while any request is in the app.
unsafe fn complete(r: *mut ngx_http_request_t, stream: &BodyStream) {
    stream.end(Ok(()));
    (*r).read_event_handler = Some(ngx_http_test_reading);
}

/// nginx gave up on the body (`rc`: 413, 408, or 400 when the client went
/// away or sent a malformed body). The app's next read raises; the client
/// gets `rc` if nothing of the response went out, else a cut.
unsafe fn failed(
    r: *mut ngx_http_request_t,
    ctx: &mut RequestCtx,
    stream: &BodyStream,
    rc: ngx_int_t,
) {
    let why = match rc as u32 {
        NGX_HTTP_REQUEST_ENTITY_TOO_LARGE => BodyError::TooLarge,
        NGX_HTTP_REQUEST_TIME_OUT => BodyError::TimedOut,
        _ => BodyError::ClientGone,
    };
    stream.end(Err(why));
    (*r).read_event_handler = Some(ngx_http_block_reading);
    let c = (*r).connection;
    ngx::ngx_log_error!(
        NGX_LOG_INFO,
        (*c).log,
        "wsgi: the request body ended early: {why}; the app's read raises"
    );
    if why == BodyError::ClientGone {
        ctx.stats.outcome = Some(Outcome::ClientClosed);
        (*c).set_error(1);
        output::pump(r);
        return;
    }
    let body = match why {
        BodyError::TooLarge => "413 Request Entity Too Large: the request body is too large\n",
        _ => "408 Request Timeout: the request body did not arrive in time\n",
    };
    if why == BodyError::TimedOut {
        ctx.stats.outcome = Some(Outcome::ClientClosed);
    }
    if let Some(resume) = ctx.exchange.cancel_for(CancelReason::ClientGone) {
        resume();
    }
    output::answer_early(r, ctx, rc as u16, body);
}

/// The request is over for the app (released, timed out, or the client
/// left): a reader blocked on the body wakes with an error.
pub fn stop(ctx: &RequestCtx) {
    if let Some(stream) = &ctx.body {
        stream.end(Err(BodyError::Cancelled));
    }
}
