//! The `$wsgi_*` variables for `log_format`, as `$upstream_response_time`
//! is for the upstream modules: what happened to a request on the Python
//! side.
//!
//!   $wsgi_app         the app's name (`module:callable`)
//!   $wsgi_queue_time  seconds the request waited for a thread (ms resolution)
//!   $wsgi_app_time    seconds it spent in the app, parked time excluded
//!   $wsgi_outcome     ok, exception, aborted, timeout, queue_timeout,
//!                     rejected, fallback, client_closed
//!
//! A request that no `wsgi_app` handled has them all as `-`. They are read
//! from the `RequestStats` at the start of the module's request context,
//! whichever of `wsgi_app` or its `uwsgi_upstream` fallback holds it.

use crate::conf::MainConf;
use crate::metrics::Outcome;
use crate::module::Module;
use ngx::ffi::*;
use ngx::http::{HttpModule, HttpModuleMainConf};
use std::time::Duration;

/// What the Python side did with a request. The first field of every
/// request context of this module (`#[repr(C)]` there), so that one
/// pointer reads it whatever the context is.
#[repr(C)]
#[derive(Debug, Default, Clone)]
pub struct RequestStats {
    /// Index of the `wsgi_app` (into `MainConf::apps`).
    pub app: Option<usize>,
    pub outcome: Option<Outcome>,
    /// It waited longer than `wsgi_queue_timeout` (and then went to the
    /// fallback, if its outcome is `Fallback`).
    pub queue_timed_out: bool,
    pub queue_wait: Option<Duration>,
    pub app_time: Option<Duration>,
}

pub unsafe fn stats<'a>(r: *mut ngx_http_request_t) -> Option<&'a RequestStats> {
    (*(*r).ctx.add(Module::module().ctx_index) as *const RequestStats).as_ref()
}

#[derive(Clone, Copy)]
enum Var {
    App,
    QueueTime,
    AppTime,
    Outcome,
}

const VARS: [(&str, Var); 4] = [
    ("wsgi_app", Var::App),
    ("wsgi_queue_time", Var::QueueTime),
    ("wsgi_app_time", Var::AppTime),
    ("wsgi_outcome", Var::Outcome),
];

/// Register the variables (the module's preconfiguration).
pub unsafe extern "C" fn add(cf: *mut ngx_conf_t) -> ngx_int_t {
    for (i, (name, _)) in VARS.iter().enumerate() {
        let mut n = ngx_str_t {
            len: name.len(),
            data: name.as_ptr().cast_mut(),
        };
        let v = ngx_http_add_variable(cf, &mut n, NGX_HTTP_VAR_NOCACHEABLE as ngx_uint_t);
        if v.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        (*v).get_handler = Some(get);
        (*v).data = i;
    }
    NGX_OK as ngx_int_t
}

fn seconds(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.3}", d.as_secs_f64()))
}

unsafe extern "C" fn get(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    data: usize,
) -> ngx_int_t {
    super::guard(NGX_ERROR as ngx_int_t, || {
        let s = stats(r).filter(|s| s.app.is_some());
        let text = match (VARS[data].1, s) {
            (_, None) => "-".to_string(),
            (Var::App, Some(s)) => {
                let mcf: &MainConf = Module::main_conf(&*r).expect("wsgi main conf");
                s.app
                    .and_then(|a| mcf.apps.get(a))
                    .map_or_else(|| "-".into(), |a| a.spec.to_string())
            }
            (Var::QueueTime, Some(s)) => seconds(s.queue_wait),
            (Var::AppTime, Some(s)) => seconds(s.app_time),
            (Var::Outcome, Some(s)) => s.outcome.map_or("-", Outcome::as_str).to_string(),
        };
        let p = ngx_pnalloc((*r).pool, text.len()) as *mut u8;
        if p.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        std::ptr::copy_nonoverlapping(text.as_ptr(), p, text.len());
        (*v).set_len(text.len() as u32);
        (*v).set_valid(1);
        (*v).set_no_cacheable(1);
        (*v).set_not_found(0);
        (*v).data = p;
        NGX_OK as ngx_int_t
    })
}
