//! The handlers of the `wsgi_*` directives that take more than one value
//! (the others are slots: see `parse`).

use super::parse::{
    args, conf_error, core_loc_conf, location_prefix, msec, number, text, DUPLICATE,
};
use super::{LocConf, MainConf, Param, RequestTimeout};
use crate::module::Module;
use crate::python::app::{AppConfig, AppSpec, Interface};
use core::ffi::{c_char, c_void};
use ngx::ffi::*;
use ngx::http::HttpModuleMainConf;
use ngx::ngx_conf_log_error;
use std::path::PathBuf;

pub unsafe fn main_conf<'a>(cf: *mut ngx_conf_t) -> &'a mut MainConf {
    Module::main_conf_mut(&*cf).expect("wsgi main conf")
}

/// `wsgi_app MODULE[:CALLABLE];`
pub extern "C" fn set_app(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe { add_app(cf, conf, Interface::Wsgi) }
}

/// `asgi_app MODULE[:CALLABLE];`
pub extern "C" fn set_asgi_app(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe { add_app(cf, conf, Interface::Asgi) }
}

/// A location's app: one per location, whichever the interface.
unsafe fn add_app(cf: *mut ngx_conf_t, conf: *mut c_void, interface: Interface) -> *mut c_char {
    let lcf = &mut *(conf as *mut LocConf);
    let directive = match interface {
        Interface::Wsgi => "wsgi_app",
        Interface::Asgi => "asgi_app",
    };
    match lcf.interface {
        Some(i) if i == interface => return DUPLICATE,
        Some(_) => conf_error!(
            cf,
            "\"{directive}\": the location has an application already (\"wsgi_app\" and \"asgi_app\" exclude each other)"
        ),
        None => {}
    }
    let arg = text(&args(cf)[1]);
    let spec = match AppSpec::parse(&arg, interface) {
        Ok(s) => s,
        Err(e) => conf_error!(cf, "invalid application \"{arg}\" in \"{directive}\": {e}"),
    };
    let main = main_conf(cf);
    lcf.app = Some(main.apps.len());
    lcf.interface = Some(interface);
    main.apps.push(AppConfig {
        spec,
        sys_path: Vec::new(),
        lifespan: Default::default(),
    });
    (*core_loc_conf(cf)).handler = Some(crate::http::handler::wsgi_handler);
    lcf.script_name = location_prefix(cf);
    ngx::core::NGX_CONF_OK
}

/// `wsgi_python_path DIR;` (or `python_path`)
pub extern "C" fn set_python_path(
    cf: *mut ngx_conf_t,
    cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let lcf = &mut *(conf as *mut LocConf);
        let name = text(&(*cmd).name);
        let dir = text(&args(cf)[1]);
        if dir.is_empty() {
            conf_error!(cf, "\"{name}\" needs a directory");
        }
        if !std::path::Path::new(&dir).is_dir() {
            // Not fatal: the directory may be created before the workers start.
            ngx_conf_log_error!(
                NGX_LOG_WARN,
                cf,
                "\"{name}\" directory \"{dir}\" does not exist"
            );
        }
        lcf.python_path.push(dir);
    }
    ngx::core::NGX_CONF_OK
}

/// `wsgi_python_home DIR;` (or `python_home`)
pub extern "C" fn set_python_home(
    cf: *mut ngx_conf_t,
    cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let mcf = &mut *(conf as *mut MainConf);
        let name = text(&(*cmd).name);
        if mcf.home.is_some() {
            return DUPLICATE;
        }
        let dir = PathBuf::from(text(&args(cf)[1]));
        if !dir.is_dir() {
            conf_error!(
                cf,
                "\"{name}\" directory \"{}\" does not exist",
                dir.display()
            );
        }
        // An environment of another Python fails here rather than in every
        // worker ("No module named 'encodings'").
        if let Some(why) = crate::python::interpreter::Home::of(Some(&dir)).mismatch() {
            conf_error!(cf, "\"{name}\" {why}");
        }
        mcf.home = Some(dir);
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

/// The grace a timed-out request's thread gets by default.
const DEFAULT_GRACE: ngx_msec_t = 5_000;

/// `wsgi_request_timeout TIME [GRACE];`
pub extern "C" fn set_request_timeout(
    cf: *mut ngx_conf_t,
    cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let lcf = &mut *(conf as *mut LocConf);
        if lcf.request_timeout.is_some() {
            return DUPLICATE;
        }
        let Some(limit) = msec(cf, cmd, 1) else {
            return ngx::core::NGX_CONF_ERROR;
        };
        let grace = if args(cf).len() > 2 {
            match msec(cf, cmd, 2) {
                Some(g) => g,
                None => return ngx::core::NGX_CONF_ERROR,
            }
        } else {
            DEFAULT_GRACE
        };
        if limit == 0 {
            conf_error!(cf, "\"wsgi_request_timeout\" must be longer than 0");
        }
        lcf.request_timeout = Some(RequestTimeout { limit, grace });
    }
    ngx::core::NGX_CONF_OK
}

/// `wsgi_max_requests N [JITTER];`
pub extern "C" fn set_max_requests(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let mcf = &mut *(conf as *mut MainConf);
        if mcf.max_requests.is_some() {
            return DUPLICATE;
        }
        let Ok(n) = number(cf, "wsgi_max_requests", 1, usize::MAX, 1) else {
            return ngx::core::NGX_CONF_ERROR;
        };
        let jitter = if args(cf).len() > 2 {
            match number(cf, "wsgi_max_requests", 0, n - 1, 2) {
                Ok(j) => j,
                Err(()) => return ngx::core::NGX_CONF_ERROR,
            }
        } else {
            0
        };
        mcf.max_requests = Some((n as u64, jitter as u64));
    }
    ngx::core::NGX_CONF_OK
}
