//! `wsgi_status;`: every worker's figures, from the shared zone, as
//! Prometheus text (the default) or JSON (`?format=json`), as
//! `stub_status` is for nginx itself. The answering worker publishes its
//! own figures first; the others' are at most a second old.

use super::output;
use crate::conf::MainConf;
use crate::metrics::render;
use crate::module::Module;
use ngx::ffi::*;
use ngx::http::HttpModuleMainConf;

pub unsafe extern "C" fn status_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    super::guard(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t, || handle(r))
}

unsafe fn handle(r: *mut ngx_http_request_t) -> ngx_int_t {
    if (*r).method & (NGX_HTTP_GET | NGX_HTTP_HEAD) as ngx_uint_t == 0 {
        return NGX_HTTP_NOT_ALLOWED as ngx_int_t;
    }
    let mcf: &MainConf = Module::main_conf(&*r).expect("wsgi main conf");
    let snapshot = match super::worker::get() {
        Some(w) => w.metrics.snapshot(),
        // A worker with no wsgi_app of its own reads the zone all the same.
        None => super::metrics::zone(mcf).map(|z| z.snapshot(super::metrics::alive)),
    };
    let Some(snapshot) = snapshot else {
        ngx::ngx_log_error!(
            NGX_LOG_ERR,
            (*(*r).connection).log,
            "wsgi: wsgi_status: the metrics zone is not available in this worker"
        );
        return output::send_plain(r, 503, "503 Service Unavailable: no metrics\n");
    };
    let mut arg = ngx_str_t::default();
    let json = ngx_http_arg(r, c"format".as_ptr() as *mut u8, 6, &mut arg) == NGX_OK as ngx_int_t
        && super::request::bytes(&arg) == b"json";
    let (body, content_type) = if json {
        (render::json(&snapshot), "application/json")
    } else {
        (
            render::prometheus(&snapshot),
            "text/plain; version=0.0.4; charset=utf-8",
        )
    };
    output::send_owned(r, 200, content_type, body.into_bytes())
}
