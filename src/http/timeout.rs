//! A request's one timer, from dispatch to release: how long it may wait
//! for a thread (`wsgi_queue_timeout`), how long it may stay in the app
//! (`wsgi_request_timeout`, parked time excluded), and how long a thread
//! that timed out gets to come back (the grace) before the worker is
//! recycled.
//!
//! The event loop does not hear when a thread takes a request (that would
//! cost a wake-up per request), so the timer fires at the earliest moment a
//! deadline could pass, asks the exchange where the request is, and acts
//! or sets itself again. A parked response needs no timer (nginx's
//! `send_timeout` covers its client); `pump` sets it again when it resumes
//! one.

use super::output::{self, RequestCtx};
use super::{handler, worker};
use crate::conf::LocConf;
use crate::exchange::{CancelReason, Phase};
use crate::metrics::{Outcome, RecycleReason};
use crate::module::Module;
use crate::uwsgi::upstream;
use ngx::ffi::*;
use ngx::http::HttpModuleLocationConf;
use std::time::Duration;

fn ms(d: Duration) -> ngx_msec_t {
    d.as_millis().min(ngx_msec_t::MAX as u128) as ngx_msec_t
}

/// At dispatch: the first deadline that could pass.
pub unsafe fn start(ctx: &mut RequestCtx, lcf: &LocConf) {
    ctx.dispatched = ngx_current_msec;
    let first = match (queue_timeout(lcf), lcf.request_timeout) {
        (Some(q), Some(t)) => q.min(t.limit),
        (Some(q), None) => q,
        (None, Some(t)) => t.limit,
        (None, None) => return,
    };
    ctx.arm_timer(fired, first);
}

/// How long a request may wait to be started. An ASGI request waits for no
/// thread: the loop starts it as soon as it runs, and a loop that does not
/// run (an app blocked it) is what `wsgi_request_timeout` is for.
fn queue_timeout(lcf: &LocConf) -> Option<ngx_msec_t> {
    (!lcf.asgi()).then(|| lcf.queue_timeout())
}

/// `pump` resumed a parked response: the rest of its time in the app.
pub unsafe fn resumed(r: *mut ngx_http_request_t, ctx: &mut RequestCtx) {
    let lcf: &LocConf = Module::location_conf(&*r).expect("wsgi loc conf");
    if let (Some(t), Phase::Idle { used, .. }) = (lcf.request_timeout, ctx.exchange.phase()) {
        ctx.arm_timer(fired, t.limit.saturating_sub(ms(used)).max(1));
    }
}

unsafe extern "C" fn fired(ev: *mut ngx_event_t) {
    let r = (*ev).data as *mut ngx_http_request_t;
    let c = (*r).connection;
    super::guard((), || {
        let Some(ctx) = RequestCtx::get(r) else {
            return;
        };
        let lcf: &LocConf = Module::location_conf(&*r).expect("wsgi loc conf");
        if ctx.timed_out {
            return grace_over(r, ctx, lcf);
        }
        match ctx.exchange.phase() {
            Phase::Queued if lcf.asgi() => {
                // Not started yet: the loop is blocked, and the wait counts
                // as time in the app.
                let waited = ngx_current_msec.wrapping_sub(ctx.dispatched);
                if let Some(t) = lcf.request_timeout {
                    if waited >= t.limit {
                        time_out(r, ctx, lcf);
                    } else {
                        ctx.arm_timer(fired, t.limit - waited);
                    }
                }
            }
            Phase::Queued => {
                let waited = ngx_current_msec.wrapping_sub(ctx.dispatched);
                if waited >= lcf.queue_timeout() && give_up_queued(r, ctx, lcf) {
                    return;
                }
                // Not yet, or a thread took it a moment ago.
                let next = lcf.queue_timeout().saturating_sub(waited).max(1);
                let next = lcf.request_timeout.map_or(next, |t| next.min(t.limit));
                ctx.arm_timer(fired, next);
            }
            Phase::Running { used }
            | Phase::Idle {
                used,
                parked: false,
            } => {
                if let Some(t) = lcf.request_timeout {
                    if ms(used) >= t.limit {
                        time_out(r, ctx, lcf);
                    } else {
                        ctx.arm_timer(fired, t.limit - ms(used));
                    }
                }
            }
            Phase::Idle { parked: true, .. } | Phase::Finished => {}
        }
    });
    ngx_http_run_posted_requests(c);
}

/// `wsgi_queue_timeout` passed and no thread has started the request:
/// take it back, and answer 503 or hand it to the `uwsgi_upstream`
/// fallback. False if a thread took it after all.
unsafe fn give_up_queued(r: *mut ngx_http_request_t, ctx: &mut RequestCtx, lcf: &LocConf) -> bool {
    let Some(rt) = worker::get().and_then(|w| w.runtime.clone()) else {
        return false;
    };
    if !rt.cancel_queued(&ctx.exchange) {
        return false;
    }
    ctx.detach();
    super::body::stop(ctx);
    handler::unhold(r, false);
    let reason = format!(
        "it waited longer than wsgi_queue_timeout ({} ms) for a Python thread",
        lcf.queue_timeout()
    );
    ctx.stats.queue_timed_out = true;
    // A streamed body has begun, and the container would need all of it.
    if upstream::has_upstream(lcf) && ctx.body.is_none() {
        ctx.stats.outcome = Some(Outcome::Fallback);
        upstream::fallback_after_body(r, &reason, ctx.stats.clone());
        return true;
    }
    ctx.stats.outcome = Some(Outcome::QueueTimeout);
    if let Some(w) = worker::get() {
        w.count(&ctx.stats, 503);
    }
    let app = lcf.app.map_or("?", |a| rt.app_name(a));
    ngx::ngx_log_error!(
        NGX_LOG_ERR,
        (*(*r).connection).log,
        "wsgi: app \"{app}\": request refused: {reason}"
    );
    let rc = output::send_plain(
        r,
        503,
        "503 Service Unavailable: the application is overloaded\n",
    );
    ngx_http_finalize_request(r, rc);
    true
}

/// The request has spent `wsgi_request_timeout` in the app: the client
/// hears now (504, or a cut if its response had begun), the thread gets
/// `RequestTimeout`, and the grace period starts.
unsafe fn time_out(r: *mut ngx_http_request_t, ctx: &mut RequestCtx, lcf: &LocConf) {
    let Some(t) = lcf.request_timeout else { return };
    let Some(rt) = worker::get().and_then(|w| w.runtime.clone()) else {
        return;
    };
    ctx.timed_out = true;
    ctx.stats.outcome = Some(Outcome::Timeout);
    if let Some(resume) = ctx.exchange.cancel_for(CancelReason::TimedOut) {
        resume();
    }
    super::body::stop(ctx);
    rt.interrupt(&ctx.exchange);
    let app = lcf.app.map_or("?", |a| rt.app_name(a));
    let interrupted = if lcf.asgi() {
        "its task is cancelled, and has"
    } else {
        "RequestTimeout is raised into its thread, which has"
    };
    let answer = if output::answer_early(
        r,
        ctx,
        504,
        "504 Gateway Timeout: the application took too long\n",
    ) {
        "the client got 504"
    } else {
        "its response was cut"
    };
    ngx::ngx_log_error!(
        NGX_LOG_ERR,
        (*(*r).connection).log,
        "wsgi: app \"{app}\": the request spent longer than wsgi_request_timeout ({} ms) in the app: {answer}; {interrupted} {} ms to let go",
        t.limit,
        t.grace
    );
    ctx.arm_timer(fired, t.grace);
}

/// The grace is over: if the thread has not let go of the request, the
/// worker stops waiting for it and is recycled, so that capacity returns.
unsafe fn grace_over(r: *mut ngx_http_request_t, ctx: &mut RequestCtx, lcf: &LocConf) {
    if ctx.exchange.phase() == Phase::Finished {
        return;
    }
    let Some(w) = worker::get() else { return };
    w.abandon(r, ctx);
    let grace = lcf.request_timeout.map_or(0, |t| t.grace);
    let who = if lcf.asgi() {
        "an ASGI task did not end"
    } else {
        "a thread did not come back"
    };
    w.recycle(
        RecycleReason::RequestTimeout,
        &format!(
            "{who} within {grace} ms of wsgi_request_timeout (request \"{}\")",
            String::from_utf8_lossy(super::request::bytes(&(*r).request_line))
        ),
    );
}
