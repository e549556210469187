//! The `uwsgi_upstream*` directives, and nginx's upstream configuration
//! built from them at merge time.

use super::parse::{args, conf_error, core_loc_conf, location_prefix, DUPLICATE};
use super::LocConf;
use core::ffi::{c_char, c_void};
use ngx::ffi::*;

/// `uwsgi_upstream*` settings, and nginx's upstream configuration built
/// from them at merge time.
pub struct UwsgiConf {
    /// The `uwsgi_upstream` target (an implicit or named upstream block).
    pub srv: *mut ngx_http_upstream_srv_conf_t,
    pub connect_timeout: Option<ngx_msec_t>,
    pub send_timeout: Option<ngx_msec_t>,
    pub read_timeout: Option<ngx_msec_t>,
    pub modifier1: Option<usize>,
    pub modifier2: Option<usize>,
    pub buffering: Option<bool>,
    pub next_upstream: Option<ngx_uint_t>,
    pub next_upstream_tries: Option<usize>,
    /// What `r->upstream->conf` points to; it lives as long as the cycle.
    pub conf: Box<ngx_http_upstream_conf_t>,
}

/// nginx's marker for "not set" pointers, which its merge helpers expect.
const NGX_CONF_UNSET_PTR: *mut ngx_array_t = usize::MAX as *mut ngx_array_t;

impl Default for UwsgiConf {
    fn default() -> UwsgiConf {
        // SAFETY: a C struct for which all-zeroes is nginx's own calloc state.
        let mut conf: Box<ngx_http_upstream_conf_t> = Box::new(unsafe { std::mem::zeroed() });
        conf.hide_headers = NGX_CONF_UNSET_PTR;
        conf.pass_headers = NGX_CONF_UNSET_PTR;
        UwsgiConf {
            srv: std::ptr::null_mut(),
            connect_timeout: None,
            send_timeout: None,
            read_timeout: None,
            modifier1: None,
            modifier2: None,
            buffering: None,
            next_upstream: None,
            next_upstream_tries: None,
            conf,
        }
    }
}

/// `uwsgi_upstream ADDRESS | UPSTREAM_NAME;`
pub extern "C" fn set_uwsgi_upstream(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let lcf = &mut *(conf as *mut LocConf);
        if !lcf.uwsgi.srv.is_null() {
            return DUPLICATE;
        }
        let mut url: ngx_url_t = std::mem::zeroed();
        url.url = args(cf)[1];
        url.set_no_resolve(1);
        lcf.uwsgi.srv = ngx_http_upstream_add(cf, &mut url, 0);
        if lcf.uwsgi.srv.is_null() {
            return ngx::core::NGX_CONF_ERROR;
        }
        // With wsgi_app in the same location, the app serves and the
        // upstream is its fallback; wsgi_app's handler decides.
        if lcf.app.is_none() {
            (*core_loc_conf(cf)).handler = Some(crate::uwsgi::upstream::uwsgi_handler);
        }
        if lcf.script_name.is_empty() {
            lcf.script_name = location_prefix(cf);
        }
    }
    ngx::core::NGX_CONF_OK
}

/// `uwsgi_upstream_next_upstream error | timeout | invalid_header | http_500 | ... | off ...;`
pub extern "C" fn set_uwsgi_next_upstream(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let lcf = &mut *(conf as *mut LocConf);
        if lcf.uwsgi.next_upstream.is_some() {
            return DUPLICATE;
        }
        let mut mask: ngx_uint_t = 0;
        for a in &args(cf)[1..] {
            mask |= match a.as_bytes() {
                b"error" => NGX_HTTP_UPSTREAM_FT_ERROR,
                b"timeout" => NGX_HTTP_UPSTREAM_FT_TIMEOUT,
                b"invalid_header" => NGX_HTTP_UPSTREAM_FT_INVALID_HEADER,
                b"http_500" => NGX_HTTP_UPSTREAM_FT_HTTP_500,
                b"http_502" => NGX_HTTP_UPSTREAM_FT_HTTP_502,
                b"http_503" => NGX_HTTP_UPSTREAM_FT_HTTP_503,
                b"http_504" => NGX_HTTP_UPSTREAM_FT_HTTP_504,
                b"http_403" => NGX_HTTP_UPSTREAM_FT_HTTP_403,
                b"http_404" => NGX_HTTP_UPSTREAM_FT_HTTP_404,
                b"http_429" => NGX_HTTP_UPSTREAM_FT_HTTP_429,
                b"non_idempotent" => NGX_HTTP_UPSTREAM_FT_NON_IDEMPOTENT,
                b"off" => NGX_HTTP_UPSTREAM_FT_OFF,
                other => conf_error!(
                    cf,
                    "invalid value \"{}\" in \"uwsgi_upstream_next_upstream\"",
                    String::from_utf8_lossy(other)
                ),
            } as ngx_uint_t;
        }
        if mask & NGX_HTTP_UPSTREAM_FT_OFF as ngx_uint_t != 0
            && mask != NGX_HTTP_UPSTREAM_FT_OFF as ngx_uint_t
        {
            conf_error!(
                cf,
                "\"off\" cannot be combined with other values in \"uwsgi_upstream_next_upstream\""
            );
        }
        lcf.uwsgi.next_upstream = Some(mask);
    }
    ngx::core::NGX_CONF_OK
}

/// Headers of the upstream's response that do not reach the client, as
/// with `uwsgi_pass`.
static mut HIDE_HEADERS: [ngx_str_t; 7] = [
    ngx::ngx_string!("Status"),
    ngx::ngx_string!("X-Accel-Expires"),
    ngx::ngx_string!("X-Accel-Redirect"),
    ngx::ngx_string!("X-Accel-Limit-Rate"),
    ngx::ngx_string!("X-Accel-Buffering"),
    ngx::ngx_string!("X-Accel-Charset"),
    ngx_str_t {
        len: 0,
        data: std::ptr::null_mut(),
    },
];

/// Inherit the `uwsgi_upstream_*` settings and fill nginx's upstream conf.
pub unsafe fn merge_uwsgi(
    cf: *mut ngx_conf_t,
    prev: &mut UwsgiConf,
    conf: &mut UwsgiConf,
) -> Result<(), ()> {
    conf.connect_timeout = conf.connect_timeout.or(prev.connect_timeout);
    conf.send_timeout = conf.send_timeout.or(prev.send_timeout);
    conf.read_timeout = conf.read_timeout.or(prev.read_timeout);
    conf.modifier1 = conf.modifier1.or(prev.modifier1);
    conf.modifier2 = conf.modifier2.or(prev.modifier2);
    conf.buffering = conf.buffering.or(prev.buffering);
    conf.next_upstream = conf.next_upstream.or(prev.next_upstream);
    conf.next_upstream_tries = conf.next_upstream_tries.or(prev.next_upstream_tries);
    if conf.srv.is_null() {
        return Ok(());
    }
    let page = ngx_pagesize as usize;
    let u = &mut *conf.conf;
    u.upstream = conf.srv;
    u.connect_timeout = conf.connect_timeout.unwrap_or(60_000);
    u.send_timeout = conf.send_timeout.unwrap_or(60_000);
    u.read_timeout = conf.read_timeout.unwrap_or(60_000);
    u.buffering = conf.buffering.unwrap_or(true) as ngx_flag_t;
    // As the stock modules: an upstream's `X-Accel-Buffering: no|yes`
    // switches buffering for its response.
    u.set_change_buffering(1);
    u.request_buffering = 1;
    u.pass_request_headers = 1;
    u.pass_request_body = 1;
    u.buffer_size = page;
    u.bufs.num = 8;
    u.bufs.size = page;
    u.busy_buffers_size = 2 * page;
    u.temp_file_write_size = 2 * page;
    // Responses are never spooled to disk: when the client is slower than
    // the container, nginx stops reading from it (see the README).
    u.max_temp_file_size = 0;
    u.next_upstream = conf
        .next_upstream
        .unwrap_or((NGX_HTTP_UPSTREAM_FT_ERROR | NGX_HTTP_UPSTREAM_FT_TIMEOUT) as ngx_uint_t);
    u.next_upstream_tries = conf.next_upstream_tries.unwrap_or(0) as ngx_uint_t;
    u.store_access = 0o600;
    let module = "uwsgi";
    u.module = ngx_str_t {
        len: module.len(),
        data: module.as_ptr().cast_mut(),
    };

    let mut hash: ngx_hash_init_t = std::mem::zeroed();
    hash.max_size = 512;
    let line = ngx_cacheline_size as usize;
    hash.bucket_size = 64usize.div_ceil(line) * line;
    hash.name = c"uwsgi_upstream_hide_headers_hash".as_ptr().cast_mut();
    if ngx_http_upstream_hide_headers_hash(
        cf,
        u,
        &mut *prev.conf,
        (&raw mut HIDE_HEADERS).cast(),
        &mut hash,
    ) != NGX_OK as ngx_int_t
    {
        return Err(());
    }
    Ok(())
}
