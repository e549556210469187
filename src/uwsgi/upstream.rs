//! `uwsgi_upstream`: the request as a uwsgi packet to an external container
//! (uWSGI), through nginx's upstream machinery, like the stock `uwsgi_pass`
//! but with the variables `wsgi_app` puts in its environ (`visit_cgi_vars`).
//!
//! The packet is built once the body is read, so that a request whose
//! variables do not fit the protocol's 64 KiB gets a 502 and a clear log
//! line instead of a truncated packet. nginx does the rest: connecting,
//! retries (`uwsgi_upstream_next_upstream`), sending the body from its
//! buffers or temp file, buffering the response.

use super::packet;
use crate::conf::LocConf;
use crate::http::variables::RequestStats;
use crate::http::{guard, request};
use crate::module::Module;
use crate::wsgi::cgi::visit_cgi_vars;
use ngx::ffi::*;
use ngx::http::{HttpModule, HttpModuleLocationConf, HttpModuleMainConf};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Per-request state, in the module's context slot. `#[repr(C)]` with the
/// stats first: see `http::variables::RequestStats` (they are empty, but
/// for a request that `wsgi_app` handed over).
#[repr(C)]
struct UpstreamCtx {
    stats: RequestStats,
    status: ngx_http_status_t,
    /// Header and variables; the body follows from nginx's own buffers.
    packet: Vec<u8>,
}

/// Requests that `wsgi_app` handed to the upstream, per worker.
static FALLBACKS: AtomicU64 = AtomicU64::new(0);

/// The content handler of a location with `uwsgi_upstream` alone.
pub unsafe extern "C" fn uwsgi_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    handle(r, RequestStats::default())
}

unsafe fn handle(r: *mut ngx_http_request_t, stats: RequestStats) -> ngx_int_t {
    guard(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t, || {
        if !setup(r, stats) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        }
        let rc = ngx_http_read_client_request_body(r, Some(body_read));
        if rc >= NGX_HTTP_SPECIAL_RESPONSE as ngx_int_t {
            return rc;
        }
        NGX_DONE as ngx_int_t
    })
}

/// `wsgi_app` cannot take the request: pass it to this location's upstream.
/// Before the body was read: returns the content handler's result.
/// `stats` says what `wsgi_app` did with it, for the `$wsgi_*` variables.
pub unsafe fn fallback_from_handler(
    r: *mut ngx_http_request_t,
    reason: &str,
    stats: RequestStats,
) -> ngx_int_t {
    log_fallback(r, reason);
    handle(r, stats)
}

/// The same, once the body is in: the upstream takes over the request.
pub unsafe fn fallback_after_body(r: *mut ngx_http_request_t, reason: &str, stats: RequestStats) {
    log_fallback(r, reason);
    if !setup(r, stats) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t);
        return;
    }
    body_read(r);
}

unsafe fn log_fallback(r: *mut ngx_http_request_t, reason: &str) {
    let n = FALLBACKS.fetch_add(1, Ordering::Relaxed) + 1;
    ngx::ngx_log_error!(
        NGX_LOG_INFO,
        (*(*r).connection).log,
        "wsgi: request passed to uwsgi_upstream ({reason}); fallbacks in this worker: {n}"
    );
}

pub fn has_upstream(lcf: &LocConf) -> bool {
    !lcf.uwsgi.srv.is_null()
}

unsafe fn setup(r: *mut ngx_http_request_t, stats: RequestStats) -> bool {
    let lcf: &mut LocConf = Module::location_conf_mut(&*r).expect("wsgi loc conf");
    if ngx_http_upstream_create(r) != NGX_OK as ngx_int_t {
        return false;
    }
    let pool = ngx::core::Pool::from_ngx_pool((*r).pool);
    let ctx = pool.allocate(UpstreamCtx {
        stats,
        status: std::mem::zeroed(),
        packet: Vec::new(),
    });
    if ctx.is_null() {
        return false;
    }
    *(*r).ctx.add(Module::module().ctx_index) = ctx.cast();

    let u = (*r).upstream;
    let schema = "uwsgi://";
    (*u).schema = ngx_str_t {
        len: schema.len(),
        data: schema.as_ptr().cast_mut(),
    };
    (*u).output.tag = (&raw const crate::module::ngx_http_wsgi_module) as ngx_buf_tag_t;
    (*u).conf = &mut *lcf.uwsgi.conf;
    (*u).create_request = Some(create_request);
    (*u).reinit_request = Some(reinit_request);
    (*u).process_header = Some(process_status_line);
    (*u).abort_request = Some(abort_request);
    (*u).finalize_request = Some(finalize_request);
    (*r).state = 0;
    (*u).set_buffering((*lcf.uwsgi.conf).buffering as _);

    (*u).pipe = ngx_pcalloc((*r).pool, size_of::<ngx_event_pipe_t>()) as *mut ngx_event_pipe_t;
    if (*u).pipe.is_null() {
        return false;
    }
    (*(*u).pipe).input_filter = Some(ngx_event_pipe_copy_input_filter);
    (*(*u).pipe).input_ctx = r.cast();
    (*u).input_filter_init = Some(input_filter_init);
    (*u).input_filter = Some(ngx_http_upstream_non_buffered_filter);
    (*u).input_filter_ctx = r.cast();
    true
}

unsafe fn ctx(r: *mut ngx_http_request_t) -> Option<&'static mut UpstreamCtx> {
    (*(*r).ctx.add(Module::module().ctx_index) as *mut UpstreamCtx).as_mut()
}

/// The body is read: build the packet, then let nginx's upstream run.
unsafe extern "C" fn body_read(r: *mut ngx_http_request_t) {
    guard((), || {
        let lcf: &LocConf = Module::location_conf(&*r).expect("wsgi loc conf");
        let mcf: &crate::conf::MainConf = Module::main_conf(&*r).expect("wsgi main conf");
        let Some(ctx) = ctx(r) else {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t);
            return;
        };
        let body = request::body(r);
        let parts = request::parts(
            r,
            lcf,
            mcf.vars.as_ref().expect("variables indexed"),
            request::has_body(r).then_some(body.len()),
        );
        match packet::encode_visited(
            &|f| visit_cgi_vars(&parts, |k, v| f(k.name(), v)),
            lcf.uwsgi.modifier1.unwrap_or(0) as u8,
            lcf.uwsgi.modifier2.unwrap_or(0) as u8,
        ) {
            Ok(p) => ctx.packet = p,
            Err(e) => {
                ngx::ngx_log_error!(
                    NGX_LOG_ERR,
                    (*(*r).connection).log,
                    "uwsgi_upstream: cannot encode the request: {e}"
                );
                ngx_http_finalize_request(r, NGX_HTTP_BAD_GATEWAY as ngx_int_t);
                return;
            }
        }
        ngx_http_upstream_init(r);
    })
}

unsafe extern "C" fn create_request(r: *mut ngx_http_request_t) -> ngx_int_t {
    guard(NGX_ERROR as ngx_int_t, || {
        let Some(ctx) = ctx(r) else {
            return NGX_ERROR as ngx_int_t;
        };
        let pool = (*r).pool;
        let b = ngx_pcalloc(pool, size_of::<ngx_buf_t>()) as *mut ngx_buf_t;
        let head = ngx_alloc_chain_link(pool);
        if b.is_null() || head.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        (*b).start = ctx.packet.as_mut_ptr();
        (*b).pos = (*b).start;
        (*b).last = (*b).start.add(ctx.packet.len());
        (*b).end = (*b).last;
        (*b).set_memory(1);
        (*head).buf = b;
        (*head).next = ptr::null_mut();

        // The body follows as copies of nginx's own body buffers, so that a
        // retry on the next upstream can rewind them.
        let mut tail = head;
        let rb = (*r).request_body;
        let mut body = if rb.is_null() {
            ptr::null_mut()
        } else {
            (*rb).bufs
        };
        while !body.is_null() {
            let nb = ngx_pcalloc(pool, size_of::<ngx_buf_t>()) as *mut ngx_buf_t;
            let cl = ngx_alloc_chain_link(pool);
            if nb.is_null() || cl.is_null() {
                return NGX_ERROR as ngx_int_t;
            }
            ptr::copy_nonoverlapping((*body).buf, nb, 1);
            (*cl).buf = nb;
            (*cl).next = ptr::null_mut();
            (*tail).next = cl;
            tail = cl;
            body = (*body).next;
        }
        (*(*r).upstream).request_bufs = head;
        NGX_OK as ngx_int_t
    })
}

unsafe extern "C" fn reinit_request(r: *mut ngx_http_request_t) -> ngx_int_t {
    if let Some(ctx) = ctx(r) {
        ctx.status = std::mem::zeroed();
    }
    (*(*r).upstream).process_header = Some(process_status_line);
    (*r).state = 0;
    NGX_OK as ngx_int_t
}

/// uWSGI answers with an HTTP status line; a CGI-style response (headers
/// with `Status:`) is accepted too.
unsafe extern "C" fn process_status_line(r: *mut ngx_http_request_t) -> ngx_int_t {
    guard(NGX_ERROR as ngx_int_t, || {
        let Some(ctx) = ctx(r) else {
            return NGX_ERROR as ngx_int_t;
        };
        let u = (*r).upstream;
        let rc = ngx_http_parse_status_line(r, &mut (*u).buffer, &mut ctx.status);
        if rc == NGX_AGAIN as ngx_int_t {
            return rc;
        }
        if rc == NGX_ERROR as ngx_int_t {
            (*u).process_header = Some(process_header);
            return process_header(r);
        }
        if !(*u).state.is_null() && (*(*u).state).status == 0 {
            (*(*u).state).status = ctx.status.code;
        }
        (*u).headers_in.status_n = ctx.status.code;
        let len = ctx.status.end.offset_from(ctx.status.start) as usize;
        let data = ngx_pnalloc((*r).pool, len) as *mut u8;
        if data.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        ptr::copy_nonoverlapping(ctx.status.start, data, len);
        (*u).headers_in.status_line = ngx_str_t { len, data };
        (*u).process_header = Some(process_header);
        process_header(r)
    })
}

unsafe extern "C" fn process_header(r: *mut ngx_http_request_t) -> ngx_int_t {
    let u = (*r).upstream;
    let umcf = *(*r).main_conf.add(ngx_http_upstream_module.ctx_index)
        as *mut ngx_http_upstream_main_conf_t;
    loop {
        let rc = ngx_http_parse_header_line(r, &mut (*u).buffer, 1);
        if rc == NGX_OK as ngx_int_t {
            let h = ngx_list_push(&mut (*u).headers_in.headers) as *mut ngx_table_elt_t;
            if h.is_null() {
                return NGX_ERROR as ngx_int_t;
            }
            ptr::write_bytes(h, 0, 1);
            let klen = (*r).header_name_end.offset_from((*r).header_name_start) as usize;
            let vlen = (*r).header_end.offset_from((*r).header_start) as usize;
            // key \0 value \0 lowcase-key, in one allocation
            let mem = ngx_pnalloc((*r).pool, klen + 1 + vlen + 1 + klen) as *mut u8;
            if mem.is_null() {
                return NGX_ERROR as ngx_int_t;
            }
            let (key, value, low) = (mem, mem.add(klen + 1), mem.add(klen + 1 + vlen + 1));
            ptr::copy_nonoverlapping((*r).header_name_start, key, klen);
            *key.add(klen) = 0;
            ptr::copy_nonoverlapping((*r).header_start, value, vlen);
            *value.add(vlen) = 0;
            if klen == (*r).lowcase_index {
                ptr::copy_nonoverlapping((*r).lowcase_header.as_ptr(), low, klen);
            } else {
                ngx_strlow(low, key, klen);
            }
            (*h).hash = (*r).header_hash;
            (*h).key = ngx_str_t {
                len: klen,
                data: key,
            };
            (*h).value = ngx_str_t {
                len: vlen,
                data: value,
            };
            (*h).lowcase_key = low;

            let hh = ngx_hash_find(&mut (*umcf).headers_in_hash, (*h).hash, low, klen)
                as *mut ngx_http_upstream_header_t;
            if !hh.is_null() {
                if let Some(handler) = (*hh).handler {
                    let rc = handler(r, h, (*hh).offset);
                    if rc != NGX_OK as ngx_int_t {
                        return rc;
                    }
                }
            }
            continue;
        }
        if rc == NGX_HTTP_PARSE_HEADER_DONE as ngx_int_t {
            if (*u).headers_in.status_n == 0 {
                let status = (*u).headers_in.status;
                if !status.is_null() {
                    let line = (*status).value;
                    let code = ngx_atoi(line.data, 3.min(line.len));
                    if code == NGX_ERROR as ngx_int_t || line.len < 3 {
                        ngx::ngx_log_error!(
                            NGX_LOG_ERR,
                            (*(*r).connection).log,
                            "uwsgi_upstream: upstream sent an invalid status \"{}\"",
                            String::from_utf8_lossy(request::bytes(&line))
                        );
                        return NGX_HTTP_UPSTREAM_INVALID_HEADER as ngx_int_t;
                    }
                    (*u).headers_in.status_n = code as ngx_uint_t;
                    if line.len > 3 {
                        (*u).headers_in.status_line = line;
                    }
                } else if !(*u).headers_in.location.is_null() {
                    (*u).headers_in.status_n = 302;
                    let s = "302 Moved Temporarily";
                    (*u).headers_in.status_line = ngx_str_t {
                        len: s.len(),
                        data: s.as_ptr().cast_mut(),
                    };
                } else {
                    (*u).headers_in.status_n = 200;
                    let s = "200 OK";
                    (*u).headers_in.status_line = ngx_str_t {
                        len: s.len(),
                        data: s.as_ptr().cast_mut(),
                    };
                }
                if !(*u).state.is_null() && (*(*u).state).status == 0 {
                    (*(*u).state).status = (*u).headers_in.status_n;
                }
            }
            return NGX_OK as ngx_int_t;
        }
        if rc == NGX_AGAIN as ngx_int_t {
            return rc;
        }
        ngx::ngx_log_error!(
            NGX_LOG_ERR,
            (*(*r).connection).log,
            "uwsgi_upstream: upstream sent an invalid header"
        );
        return NGX_HTTP_UPSTREAM_INVALID_HEADER as ngx_int_t;
    }
}

unsafe extern "C" fn input_filter_init(data: *mut core::ffi::c_void) -> ngx_int_t {
    let r = data as *mut ngx_http_request_t;
    let u = (*r).upstream;
    let status = (*u).headers_in.status_n;
    let length = if status == NGX_HTTP_NO_CONTENT as ngx_uint_t
        || status == NGX_HTTP_NOT_MODIFIED as ngx_uint_t
    {
        0
    } else if (*r).method == NGX_HTTP_HEAD as ngx_uint_t {
        -1
    } else {
        (*u).headers_in.content_length_n
    };
    (*(*u).pipe).length = length;
    (*u).length = length;
    NGX_OK as ngx_int_t
}

unsafe extern "C" fn abort_request(_r: *mut ngx_http_request_t) {}

/// A request that `wsgi_app` handed over is counted here, with the status
/// the container gave it.
unsafe extern "C" fn finalize_request(r: *mut ngx_http_request_t, rc: ngx_int_t) {
    guard((), || {
        let Some(ctx) = ctx(r) else { return };
        if ctx.stats.app.is_none() {
            return;
        }
        let u = (*r).upstream;
        let status = if rc >= NGX_HTTP_SPECIAL_RESPONSE as ngx_int_t {
            rc as u16
        } else if (*u).headers_in.status_n != 0 {
            (*u).headers_in.status_n as u16
        } else {
            (*r).headers_out.status as u16
        };
        if let Some(w) = crate::http::worker::get() {
            w.count(&ctx.stats, status);
        }
    })
}
