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
    pub vars: Option<crate::http::request::VarIndexes>,
}

impl MainConf {
    pub fn runtime_config(&self, multiprocess: bool) -> RuntimeConfig {
        RuntimeConfig {
            home: self.home.clone(),
            apps: self.apps.clone(),
            threads: self.threads.unwrap_or(DEFAULT_THREADS),
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

        let ctx = (*cf).ctx as *mut ngx_http_conf_ctx_t;
        let clcf =
            *(*ctx).loc_conf.add(ngx_http_core_module.ctx_index) as *mut ngx_http_core_loc_conf_t;
        (*clcf).handler = Some(crate::http::handler::wsgi_handler);
        let prefix_location = (*clcf).regex.is_null()
            && (*clcf).exact_match() == 0
            && (*clcf).named() == 0
            && (*clcf).noname() == 0;
        if prefix_location {
            lcf.script_name = (*clcf).name.as_bytes().to_vec();
        }
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

/// `wsgi_threads N;`
pub extern "C" fn set_threads(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let mcf = &mut *(conf as *mut MainConf);
        if mcf.threads.is_some() {
            return c"is duplicate".as_ptr().cast_mut();
        }
        match number(cf, "wsgi_threads", 1, MAX_THREADS) {
            Ok(n) => mcf.threads = Some(n),
            Err(()) => return ngx::core::NGX_CONF_ERROR,
        }
    }
    ngx::core::NGX_CONF_OK
}

/// `wsgi_queue N;`
pub extern "C" fn set_queue(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let mcf = &mut *(conf as *mut MainConf);
        if mcf.queue.is_some() {
            return c"is duplicate".as_ptr().cast_mut();
        }
        match number(cf, "wsgi_queue", 0, MAX_QUEUE) {
            Ok(n) => mcf.queue = Some(n),
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
    let prev = &*(prev as *const LocConf);
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
    if let Some(i) = conf.app {
        main_conf(cf).apps[i].1 = conf.merged_python_path.clone();
    }
    ngx::core::NGX_CONF_OK
}

/// The directive table.
pub static mut COMMANDS: [ngx_command_t; 7] = [
    ngx_command_t {
        name: ngx::ngx_string!("wsgi_app"),
        type_: (NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(set_app),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: std::ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx::ngx_string!("wsgi_python_path"),
        type_: (NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1)
            as ngx_uint_t,
        set: Some(set_python_path),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: std::ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx::ngx_string!("wsgi_python_home"),
        type_: (NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(set_python_home),
        conf: NGX_HTTP_MAIN_CONF_OFFSET,
        offset: 0,
        post: std::ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx::ngx_string!("wsgi_threads"),
        type_: (NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(set_threads),
        conf: NGX_HTTP_MAIN_CONF_OFFSET,
        offset: 0,
        post: std::ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx::ngx_string!("wsgi_queue"),
        type_: (NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(set_queue),
        conf: NGX_HTTP_MAIN_CONF_OFFSET,
        offset: 0,
        post: std::ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx::ngx_string!("wsgi_param"),
        type_: (NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE23)
            as ngx_uint_t,
        set: Some(set_param),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: std::ptr::null_mut(),
    },
    ngx_command_t::empty(),
];

unsafe impl HttpModuleMainConf for Module {
    type MainConf = MainConf;
}

unsafe impl HttpModuleLocationConf for Module {
    type LocationConf = LocConf;
}
