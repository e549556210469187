//! The `wsgi_app` and `asgi_app` content handler: read the body with
//! nginx, hand the request to a Python thread (WSGI) or to the worker's
//! asyncio loop (ASGI), return to the event loop.

use super::output::{self, RequestCtx};
use super::variables::RequestStats;
use super::{request, worker};
use crate::asgi::inbound::Inbound;
use crate::asgi::AsgiCall;
use crate::conf::{LocConf, MainConf};
use crate::exchange::Exchange;
use crate::metrics::Outcome;
use crate::module::Module;
use crate::python::runtime::{Request, Runtime};
use crate::uwsgi::upstream;
use crate::websocket::HandshakeError;
use crate::wsgi::body_stream::BodyStream;
use crate::wsgi::cgi::RequestParts;
use crate::wsgi::input::Body;
use ngx::ffi::*;
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf};

pub unsafe extern "C" fn wsgi_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    super::guard(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t, || handle(r))
}

unsafe fn handle(r: *mut ngx_http_request_t) -> ngx_int_t {
    let Some(app) = Module::location_conf(&*r).and_then(|l: &LocConf| l.app) else {
        return NGX_DECLINED as ngx_int_t;
    };
    let log = (*(*r).connection).log;
    let lcf: &LocConf = Module::location_conf(&*r).expect("wsgi loc conf");
    let fallback = upstream::has_upstream(lcf);
    let stats = RequestStats {
        app: Some(app),
        outcome: Some(Outcome::Fallback),
        ..Default::default()
    };
    match worker::get().and_then(|w| w.runtime.as_ref()) {
        None if fallback => {
            return upstream::fallback_from_handler(
                r,
                "Python is not available in this worker",
                stats,
            )
        }
        Some(rt) if !rt.app_loaded(app) && fallback => {
            return upstream::fallback_from_handler(
                r,
                "the app failed to load when the worker started",
                stats,
            )
        }
        None => {
            ngx::ngx_log_error!(
                NGX_LOG_ERR,
                log,
                "wsgi: Python is not available in this worker (see the error at worker start)"
            );
            return output::send_plain(
                r,
                500,
                "500 Internal Server Error: Python is not available in this worker\n",
            );
        }
        Some(rt) if !rt.app_loaded(app) => {
            ngx::ngx_log_error!(
                NGX_LOG_ERR,
                log,
                "wsgi: app \"{}\" is not available: it failed to load when the worker started",
                rt.app_name(app)
            );
            return output::send_plain(
                r,
                500,
                "500 Internal Server Error: the application failed to load\n",
            );
        }
        Some(_) => {}
    }
    if lcf.asgi() {
        match super::websocket::handshake(r) {
            Ok(_) | Err(HandshakeError::NotWebSocket) => {}
            Err(e) => return super::websocket::refuse(r, &e),
        }
    }
    if !lcf.request_buffering() {
        // The app is called once the body has begun (nginx keeps reading).
        (*r).set_request_body_no_buffering(1);
    }
    let rc = ngx_http_read_client_request_body(r, Some(body_read));
    if rc >= NGX_HTTP_SPECIAL_RESPONSE as ngx_int_t {
        return rc;
    }
    NGX_DONE as ngx_int_t
}

/// The body is in (or, `wsgi_request_buffering off`, on its way); give
/// the request to a Python thread.
unsafe extern "C" fn body_read(r: *mut ngx_http_request_t) {
    super::guard((), || {
        let rc = dispatch(r);
        if rc != NGX_DONE as ngx_int_t {
            ngx_http_finalize_request(r, rc);
        }
    })
}

unsafe fn dispatch(r: *mut ngx_http_request_t) -> ngx_int_t {
    let lcf: &LocConf = Module::location_conf(&*r).expect("wsgi loc conf");
    let mcf: &MainConf = Module::main_conf(&*r).expect("wsgi main conf");
    let (Some(w), Some(app)) = (worker::get(), lcf.app) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let Some(rt) = w.runtime.clone() else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let vars = mcf.vars.as_ref().expect("variables indexed");

    // nginx turns no_buffering off when the whole body was there at once.
    let streaming = (*r).request_body_no_buffering() != 0 && (*r).reading_body() != 0;
    let body = request::body(r);
    let content_length = if streaming {
        // The declared length; a chunked body streams without one (nginx
        // counts its length in content_length_n as it reads).
        let n = (*r).headers_in.content_length_n;
        ((*r).headers_in.chunked() == 0 && n >= 0).then_some(n as u64)
    } else {
        request::has_body(r).then_some(body.len())
    };
    let parts = request::parts(r, lcf, vars, content_length);
    if lcf.asgi() {
        return dispatch_asgi(r, lcf, w, &rt, app, parts, body);
    }
    let inline = lcf.inline();
    let exchange = if inline {
        // Called on the event loop: nothing drains the exchange until the
        // app returns, so it must never make the app wait (or park).
        Exchange::new(r as usize, usize::MAX, w.inline_waker.clone())
    } else {
        Exchange::new(r as usize, lcf.buffer_size(), w.waker.clone())
    };

    let Some(ctx) = RequestCtx::attach(r, app, exchange.clone()) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let stream = streaming.then(|| BodyStream::new(exchange.clone(), lcf.buffer_size()));
    let request = Request {
        app,
        parts,
        body,
        stream: stream.clone(),
        exchange,
        inline,
        spill: lcf.spill.clone(),
    };
    if inline {
        hold(r, w);
        rt.run_inline(request);
        // Everything is queued and the job has finished: this sends what
        // the socket takes and releases the request (or the write handler
        // does, once the client has read the rest).
        output::pump(r);
        return NGX_DONE as ngx_int_t;
    }
    if rt.submit(request).is_err() {
        ctx.detach();
        // A streamed body has begun, and the container would need all of
        // it: no fallback then.
        if upstream::has_upstream(lcf) && !streaming {
            ctx.stats.outcome = Some(Outcome::Fallback);
            upstream::fallback_after_body(
                r,
                "all Python threads are busy and wsgi_queue is full",
                ctx.stats.clone(),
            );
            return NGX_DONE as ngx_int_t;
        }
        ctx.stats.outcome = Some(Outcome::Rejected);
        ngx::ngx_log_error!(
            NGX_LOG_ERR,
            (*(*r).connection).log,
            "wsgi: all Python threads are busy and the queue of app \"{}\" is full (wsgi_queue)",
            rt.app_name(app)
        );
        w.count(&ctx.stats, 503);
        return output::send_plain(
            r,
            503,
            "503 Service Unavailable: the application is overloaded\n",
        );
    }

    hold(r, w);
    super::timeout::start(ctx, lcf);
    if let Some(stream) = stream {
        super::body::start(r, ctx, stream);
    }
    NGX_DONE as ngx_int_t
}

/// An ASGI request becomes a task on the worker's asyncio loop at once:
/// there is no queue (the loop takes every request), and its response
/// comes back through the exchange as a WSGI one does.
unsafe fn dispatch_asgi(
    r: *mut ngx_http_request_t,
    lcf: &LocConf,
    w: &mut worker::Worker,
    rt: &Runtime,
    app: usize,
    parts: RequestParts,
    body: Body,
) -> ngx_int_t {
    let exchange = Exchange::new(r as usize, lcf.buffer_size(), w.waker.clone());
    let Some(ctx) = RequestCtx::attach(r, app, exchange.clone()) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    hold(r, w);
    let websocket = super::websocket::handshake(r).ok().map(|handshake| {
        let inbound = Inbound::new(exchange.clone(), lcf.buffer_size());
        ctx.ws_inbound = Some(inbound.clone());
        ctx.ws_max_message = lcf.websocket_max_message();
        ctx.ws_timeout = lcf.websocket_timeout();
        (handshake, inbound)
    });
    // A WebSocket lives as long as its client and app want: no timeout.
    if websocket.is_none() {
        super::timeout::start(ctx, lcf);
    }
    rt.asgi_call(AsgiCall {
        app,
        parts,
        body,
        exchange,
        websocket,
    });
    NGX_DONE as ngx_int_t
}

/// The request now belongs to the app until `unhold`: nginx must not free
/// it (or its body buffers) before the app is done with it, even if the
/// client goes.
unsafe fn hold(r: *mut ngx_http_request_t, w: &mut worker::Worker) {
    let main = (*r).main;
    (*main).set_blocked((*main).blocked() + 1);
    w.request_started();
    (*r).read_event_handler = Some(ngx_http_test_reading);
    (*r).write_event_handler = Some(output::writer);
}

/// The app is done with the request (or never started on it).
/// `abandoned`: the worker had stopped waiting for it already.
pub unsafe fn unhold(r: *mut ngx_http_request_t, abandoned: bool) {
    let main = (*r).main;
    (*main).set_blocked((*main).blocked() - 1);
    if let Some(w) = worker::get() {
        w.request_done(r, abandoned);
    }
}
