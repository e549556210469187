//! The `wsgi_*` directives: parsing, validation at `nginx -t`, and merging.
//!
//! Configuration is parsed in the master; nothing here touches Python. The
//! workers read the result in `init_process`.

use crate::module::Module;
use crate::python::app::AppSpec;
use crate::python::runtime::RuntimeConfig;
use core::ffi::{c_char, c_void};
use ngx::ffi::*;
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf};
use ngx::ngx_conf_log_error;
use std::path::PathBuf;

pub const DEFAULT_THREADS: usize = 8;
pub const DEFAULT_QUEUE: usize = 64;
const MAX_THREADS: usize = 1024;
const MAX_QUEUE: usize = 65536;

/// http-level settings, and every `wsgi_app` of the configuration.
#[derive(Default)]
pub struct MainConf {
    pub home: Option<PathBuf>,
    pub threads: Option<usize>,
    pub queue: Option<usize>,
    /// One entry per `wsgi_app`, with the `sys.path` its location asks for.
    pub apps: Vec<(AppSpec, Vec<String>)>,
    /// Some `wsgi_app` location runs on the thread pool (not `wsgi_inline`):
    /// without one, the workers start no Python threads.
    pub pooled: bool,
    pub vars: Option<crate::http::request::VarIndexes>,
}

impl MainConf {
    pub fn runtime_config(&self, multiprocess: bool) -> RuntimeConfig {
        RuntimeConfig {
            home: self.home.clone(),
            apps: self.apps.clone(),
            threads: if self.pooled {
                self.threads.unwrap_or(DEFAULT_THREADS)
            } else {
                0
            },
            queue: self.queue.unwrap_or(DEFAULT_QUEUE),
            multiprocess,
        }
    }
}

/// A `wsgi_param`: an environ key whose value may hold nginx variables.
#[derive(Clone)]
pub struct Param {
    pub name: Vec<u8>,
    pub value: *mut ngx_http_complex_value_t,
    pub if_not_empty: bool,
}

/// `uwsgi_upstream*` settings, and nginx's upstream configuration built
/// from them at merge time.
pub struct UwsgiConf {
    /// The `uwsgi_upstream` target (an implicit or named upstream block).
    pub srv: *mut ngx_http_upstream_srv_conf_t,
    pub connect_timeout: Option<ngx_msec_t>,
    pub send_timeout: Option<ngx_msec_t>,
    pub read_timeout: Option<ngx_msec_t>,
    pub modifier1: Option<u8>,
    pub modifier2: Option<u8>,
    pub buffering: Option<bool>,
    pub next_upstream: Option<ngx_uint_t>,
    pub next_upstream_tries: Option<ngx_uint_t>,
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

#[derive(Default)]
pub struct LocConf {
    /// Index into `MainConf::apps` when this location has `wsgi_app`.
    pub app: Option<usize>,
    /// The location prefix, SCRIPT_NAME ("" for regex, exact and named locations).
    pub script_name: Vec<u8>,
    /// `wsgi_python_path` given at this level.
    pub python_path: Vec<String>,
    /// This level's entries first, then the enclosing levels'.
    pub merged_python_path: Vec<String>,
    /// Like `uwsgi_param`: a level without any inherits its parent's.
    pub params: Option<Vec<Param>>,
    /// `wsgi_inline`: call the app on the event loop (unset: inherit, off).
    pub inline: Option<bool>,
    pub uwsgi: UwsgiConf,
}

impl LocConf {
    pub fn inline(&self) -> bool {
        self.inline.unwrap_or(false)
    }
}

unsafe fn args<'a>(cf: *mut ngx_conf_t) -> &'a mut [ngx_str_t] {
    (*(*cf).args).as_slice_mut()
}

fn text(s: &ngx_str_t) -> String {
    String::from_utf8_lossy(s.as_bytes()).into_owned()
}

macro_rules! conf_error {
    ($cf:expr, $($arg:tt)+) => {{
        ngx_conf_log_error!(NGX_LOG_EMERG, $cf, $($arg)+);
        return ngx::core::NGX_CONF_ERROR;
    }};
}

unsafe fn main_conf<'a>(cf: *mut ngx_conf_t) -> &'a mut MainConf {
    Module::main_conf_mut(&*cf).expect("wsgi main conf")
}

/// `wsgi_app MODULE[:CALLABLE];`
pub extern "C" fn set_app(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let lcf = &mut *(conf as *mut LocConf);
        if lcf.app.is_some() {
            return c"is duplicate".as_ptr().cast_mut();
        }
        let arg = text(&args(cf)[1]);
        let spec = match AppSpec::parse(&arg) {
            Ok(s) => s,
            Err(e) => conf_error!(cf, "invalid application \"{arg}\" in \"wsgi_app\": {e}"),
        };
        let main = main_conf(cf);
        lcf.app = Some(main.apps.len());
        main.apps.push((spec, Vec::new()));

        (*core_loc_conf(cf)).handler = Some(crate::http::handler::wsgi_handler);
        lcf.script_name = location_prefix(cf);
    }
    ngx::core::NGX_CONF_OK
}

/// `wsgi_python_path DIR;`
pub extern "C" fn set_python_path(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let lcf = &mut *(conf as *mut LocConf);
        let dir = text(&args(cf)[1]);
        if dir.is_empty() {
            conf_error!(cf, "\"wsgi_python_path\" needs a directory");
        }
        if !std::path::Path::new(&dir).is_dir() {
            // Not fatal: the directory may be created before the workers start.
            ngx_conf_log_error!(
                NGX_LOG_WARN,
                cf,
                "\"wsgi_python_path\" directory \"{dir}\" does not exist"
            );
        }
        lcf.python_path.push(dir);
    }
    ngx::core::NGX_CONF_OK
}

/// `wsgi_python_home DIR;`
pub extern "C" fn set_python_home(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let mcf = &mut *(conf as *mut MainConf);
        if mcf.home.is_some() {
            return c"is duplicate".as_ptr().cast_mut();
        }
        let dir = PathBuf::from(text(&args(cf)[1]));
        if !dir.is_dir() {
            conf_error!(
                cf,
                "\"wsgi_python_home\" directory \"{}\" does not exist",
                dir.display()
            );
        }
        // An environment of another Python fails here rather than in every
        // worker ("No module named 'encodings'").
        if let Some(why) = crate::python::interpreter::Home::of(Some(&dir)).mismatch() {
            conf_error!(cf, "\"wsgi_python_home\" {why}");
        }
        mcf.home = Some(dir);
    }
    ngx::core::NGX_CONF_OK
}

unsafe fn number(
    cf: *mut ngx_conf_t,
    directive: &str,
    min: usize,
    max: usize,
) -> Result<usize, ()> {
    let arg = text(&args(cf)[1]);
    match arg.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => {
            ngx_conf_log_error!(
                NGX_LOG_EMERG,
                cf,
                "\"{directive}\" must be a number from {min} to {max}, not \"{arg}\""
            );
            Err(())
        }
    }
}

/// `wsgi_threads N;` and `wsgi_queue N;`
pub extern "C" fn set_pool_size(
    cf: *mut ngx_conf_t,
    cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let mcf = &mut *(conf as *mut MainConf);
        let name = text(&(*cmd).name);
        let (slot, min, max) = if name == "wsgi_threads" {
            (&mut mcf.threads, 1, MAX_THREADS)
        } else {
            (&mut mcf.queue, 0, MAX_QUEUE)
        };
        if slot.is_some() {
            return c"is duplicate".as_ptr().cast_mut();
        }
        match number(cf, &name, min, max) {
            Ok(n) => *slot = Some(n),
            Err(()) => return ngx::core::NGX_CONF_ERROR,
        }
    }
    ngx::core::NGX_CONF_OK
}

/// `wsgi_param NAME VALUE [if_not_empty];`
pub extern "C" fn set_param(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let lcf = &mut *(conf as *mut LocConf);
        let a = args(cf);
        let name = a[1].as_bytes().to_vec();
        if name.is_empty()
            || name
                .iter()
                .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
        {
            conf_error!(
                cf,
                "invalid parameter name \"{}\" in \"wsgi_param\"",
                text(&a[1])
            );
        }
        if name.starts_with(b"wsgi.") {
            conf_error!(
                cf,
                "\"wsgi_param\" cannot set the server's own key \"{}\"",
                text(&a[1])
            );
        }
        let if_not_empty = match a.get(3) {
            None => false,
            Some(s) if s.as_bytes() == b"if_not_empty" => true,
            Some(s) => conf_error!(cf, "invalid parameter \"{}\" in \"wsgi_param\"", text(s)),
        };
        let cv = ngx_pcalloc((*cf).pool, size_of::<ngx_http_complex_value_t>())
            as *mut ngx_http_complex_value_t;
        if cv.is_null() {
            return ngx::core::NGX_CONF_ERROR;
        }
        let mut ccv: ngx_http_compile_complex_value_t = std::mem::zeroed();
        ccv.cf = cf;
        ccv.value = &mut a[2];
        ccv.complex_value = cv;
        if ngx_http_compile_complex_value(&mut ccv) != NGX_OK as ngx_int_t {
            return ngx::core::NGX_CONF_ERROR;
        }
        lcf.params.get_or_insert_with(Vec::new).push(Param {
            name,
            value: cv,
            if_not_empty,
        });
    }
    ngx::core::NGX_CONF_OK
}

unsafe fn core_loc_conf(cf: *mut ngx_conf_t) -> *mut ngx_http_core_loc_conf_t {
    let ctx = (*cf).ctx as *mut ngx_http_conf_ctx_t;
    *(*ctx).loc_conf.add(ngx_http_core_module.ctx_index) as *mut ngx_http_core_loc_conf_t
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
            return c"is duplicate".as_ptr().cast_mut();
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

/// The location's prefix, for SCRIPT_NAME ("" for regex, exact and named locations).
unsafe fn location_prefix(cf: *mut ngx_conf_t) -> Vec<u8> {
    let clcf = core_loc_conf(cf);
    let prefix = (*clcf).regex.is_null()
        && (*clcf).exact_match() == 0
        && (*clcf).named() == 0
        && (*clcf).noname() == 0;
    if prefix {
        (*clcf).name.as_bytes().to_vec()
    } else {
        Vec::new()
    }
}

/// `uwsgi_upstream_{connect,send,read}_timeout TIME;`
pub extern "C" fn set_uwsgi_timeout(
    cf: *mut ngx_conf_t,
    cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let lcf = &mut *(conf as *mut LocConf);
        let name = text(&(*cmd).name);
        let slot = match name.as_str() {
            "uwsgi_upstream_connect_timeout" => &mut lcf.uwsgi.connect_timeout,
            "uwsgi_upstream_send_timeout" => &mut lcf.uwsgi.send_timeout,
            _ => &mut lcf.uwsgi.read_timeout,
        };
        if slot.is_some() {
            return c"is duplicate".as_ptr().cast_mut();
        }
        let t = ngx_parse_time(&mut args(cf)[1], 0);
        if t == NGX_ERROR as ngx_int_t {
            conf_error!(
                cf,
                "\"{name}\" takes a time such as 30s or 500ms, not \"{}\"",
                text(&args(cf)[1])
            );
        }
        *slot = Some(t as ngx_msec_t);
    }
    ngx::core::NGX_CONF_OK
}

/// `uwsgi_upstream_modifier1 N;` and `uwsgi_upstream_modifier2 N;`
pub extern "C" fn set_uwsgi_modifier(
    cf: *mut ngx_conf_t,
    cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let lcf = &mut *(conf as *mut LocConf);
        let name = text(&(*cmd).name);
        let n = match number(cf, &name, 0, 255) {
            Ok(n) => n as u8,
            Err(()) => return ngx::core::NGX_CONF_ERROR,
        };
        let slot = if name.ends_with('1') {
            &mut lcf.uwsgi.modifier1
        } else {
            &mut lcf.uwsgi.modifier2
        };
        if slot.replace(n).is_some() {
            return c"is duplicate".as_ptr().cast_mut();
        }
    }
    ngx::core::NGX_CONF_OK
}

/// The value of an `on | off` directive.
unsafe fn flag(cf: *mut ngx_conf_t) -> Option<bool> {
    match args(cf)[1].as_bytes() {
        b"on" => Some(true),
        b"off" => Some(false),
        other => {
            let name = text(&args(cf)[0]);
            ngx_conf_log_error!(
                NGX_LOG_EMERG,
                cf,
                "\"{name}\" takes \"on\" or \"off\", not \"{}\"",
                String::from_utf8_lossy(other)
            );
            None
        }
    }
}

/// `uwsgi_upstream_buffering on | off;` and `wsgi_inline on | off;`
pub extern "C" fn set_flag(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let lcf = &mut *(conf as *mut LocConf);
        let Some(v) = flag(cf) else {
            return ngx::core::NGX_CONF_ERROR;
        };
        let slot = match args(cf)[0].as_bytes() {
            b"wsgi_inline" => &mut lcf.inline,
            _ => &mut lcf.uwsgi.buffering,
        };
        if slot.replace(v).is_some() {
            return c"is duplicate".as_ptr().cast_mut();
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
            return c"is duplicate".as_ptr().cast_mut();
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

/// `uwsgi_upstream_next_upstream_tries N;`
pub extern "C" fn set_uwsgi_next_upstream_tries(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let lcf = &mut *(conf as *mut LocConf);
        match number(cf, "uwsgi_upstream_next_upstream_tries", 0, 1000) {
            Ok(n) if lcf.uwsgi.next_upstream_tries.is_none() => {
                lcf.uwsgi.next_upstream_tries = Some(n as ngx_uint_t)
            }
            Ok(_) => return c"is duplicate".as_ptr().cast_mut(),
            Err(()) => return ngx::core::NGX_CONF_ERROR,
        }
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
unsafe fn merge_uwsgi(
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
    u.next_upstream_tries = conf.next_upstream_tries.unwrap_or(0);
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

pub unsafe extern "C" fn init_main_conf(cf: *mut ngx_conf_t, conf: *mut c_void) -> *mut c_char {
    let mcf = &mut *(conf as *mut MainConf);
    match crate::http::request::VarIndexes::new(cf) {
        Some(v) => mcf.vars = Some(v),
        None => return ngx::core::NGX_CONF_ERROR,
    }
    ngx::core::NGX_CONF_OK
}

pub unsafe extern "C" fn merge_loc_conf(
    cf: *mut ngx_conf_t,
    prev: *mut c_void,
    conf: *mut c_void,
) -> *mut c_char {
    let prev = &mut *(prev as *mut LocConf);
    let conf = &mut *(conf as *mut LocConf);
    conf.merged_python_path = conf.python_path.clone();
    // The http level is never merged itself, so take its own entries too.
    for dir in prev.merged_python_path.iter().chain(&prev.python_path) {
        if !conf.merged_python_path.contains(dir) {
            conf.merged_python_path.push(dir.clone());
        }
    }
    if conf.params.is_none() {
        conf.params = prev.params.clone();
    }
    if conf.inline.is_none() {
        conf.inline = prev.inline;
    }
    if merge_uwsgi(cf, &mut prev.uwsgi, &mut conf.uwsgi).is_err() {
        return ngx::core::NGX_CONF_ERROR;
    }
    if let Some(i) = conf.app {
        let main = main_conf(cf);
        main.apps[i].1 = conf.merged_python_path.clone();
        main.pooled |= !conf.inline();
    }
    ngx::core::NGX_CONF_OK
}

/// One directive: its name, where it may appear and its arguments, its
/// handler, and the configuration it writes to.
macro_rules! command {
    ($name:literal, $type:expr, $set:ident, $conf:ident) => {
        ngx_command_t {
            name: ngx::ngx_string!($name),
            type_: ($type) as ngx_uint_t,
            set: Some($set),
            conf: $conf,
            offset: 0,
            post: std::ptr::null_mut(),
        }
    };
}

const LOC: u32 = NGX_HTTP_LOC_CONF;
const MAIN: u32 = NGX_HTTP_MAIN_CONF;
const ANY: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

/// The directive table.
pub static mut COMMANDS: [ngx_command_t; 17] = [
    command!(
        "wsgi_app",
        LOC | NGX_CONF_TAKE1,
        set_app,
        NGX_HTTP_LOC_CONF_OFFSET
    ),
    command!(
        "wsgi_python_path",
        ANY | NGX_CONF_TAKE1,
        set_python_path,
        NGX_HTTP_LOC_CONF_OFFSET
    ),
    command!(
        "wsgi_python_home",
        MAIN | NGX_CONF_TAKE1,
        set_python_home,
        NGX_HTTP_MAIN_CONF_OFFSET
    ),
    command!(
        "wsgi_threads",
        MAIN | NGX_CONF_TAKE1,
        set_pool_size,
        NGX_HTTP_MAIN_CONF_OFFSET
    ),
    command!(
        "wsgi_queue",
        MAIN | NGX_CONF_TAKE1,
        set_pool_size,
        NGX_HTTP_MAIN_CONF_OFFSET
    ),
    command!(
        "wsgi_inline",
        ANY | NGX_CONF_TAKE1,
        set_flag,
        NGX_HTTP_LOC_CONF_OFFSET
    ),
    command!(
        "wsgi_param",
        ANY | NGX_CONF_TAKE23,
        set_param,
        NGX_HTTP_LOC_CONF_OFFSET
    ),
    command!(
        "uwsgi_upstream",
        LOC | NGX_CONF_TAKE1,
        set_uwsgi_upstream,
        NGX_HTTP_LOC_CONF_OFFSET
    ),
    command!(
        "uwsgi_upstream_connect_timeout",
        ANY | NGX_CONF_TAKE1,
        set_uwsgi_timeout,
        NGX_HTTP_LOC_CONF_OFFSET
    ),
    command!(
        "uwsgi_upstream_send_timeout",
        ANY | NGX_CONF_TAKE1,
        set_uwsgi_timeout,
        NGX_HTTP_LOC_CONF_OFFSET
    ),
    command!(
        "uwsgi_upstream_read_timeout",
        ANY | NGX_CONF_TAKE1,
        set_uwsgi_timeout,
        NGX_HTTP_LOC_CONF_OFFSET
    ),
    command!(
        "uwsgi_upstream_modifier1",
        ANY | NGX_CONF_TAKE1,
        set_uwsgi_modifier,
        NGX_HTTP_LOC_CONF_OFFSET
    ),
    command!(
        "uwsgi_upstream_modifier2",
        ANY | NGX_CONF_TAKE1,
        set_uwsgi_modifier,
        NGX_HTTP_LOC_CONF_OFFSET
    ),
    command!(
        "uwsgi_upstream_buffering",
        ANY | NGX_CONF_TAKE1,
        set_flag,
        NGX_HTTP_LOC_CONF_OFFSET
    ),
    command!(
        "uwsgi_upstream_next_upstream",
        ANY | NGX_CONF_1MORE,
        set_uwsgi_next_upstream,
        NGX_HTTP_LOC_CONF_OFFSET
    ),
    command!(
        "uwsgi_upstream_next_upstream_tries",
        ANY | NGX_CONF_TAKE1,
        set_uwsgi_next_upstream_tries,
        NGX_HTTP_LOC_CONF_OFFSET
    ),
    ngx_command_t::empty(),
];

unsafe impl HttpModuleMainConf for Module {
    type MainConf = MainConf;
}

unsafe impl HttpModuleLocationConf for Module {
    type LocationConf = LocConf;
}
