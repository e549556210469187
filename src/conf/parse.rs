//! Reading directive arguments, and the typed slot setters that most
//! directives use: like nginx's `ngx_conf_set_*_slot`, they write the field
//! at the command's `offset` into the module's configuration, so the
//! directive table says which field each directive sets. Fields are
//! `Option`s: `None` is nginx's "unset", for merging.

use core::ffi::{c_char, c_void};
use ngx::ffi::*;
use ngx::ngx_conf_log_error;

pub unsafe fn args<'a>(cf: *mut ngx_conf_t) -> &'a mut [ngx_str_t] {
    (*(*cf).args).as_slice_mut()
}

pub fn text(s: &ngx_str_t) -> String {
    String::from_utf8_lossy(s.as_bytes()).into_owned()
}

/// Log an `emerg` for `nginx -t` and fail the directive.
macro_rules! conf_error {
    ($cf:expr, $($arg:tt)+) => {{
        ngx::ngx_conf_log_error!(NGX_LOG_EMERG, $cf, $($arg)+);
        return ngx::core::NGX_CONF_ERROR;
    }};
}
pub(crate) use conf_error;

pub const DUPLICATE: *mut c_char = c"is duplicate".as_ptr().cast_mut();

/// The field a slot setter writes: `T` at the command's offset.
unsafe fn slot<'a, T>(cmd: *mut ngx_command_t, conf: *mut c_void) -> &'a mut Option<T> {
    &mut *((conf as *mut u8).add((*cmd).offset) as *mut Option<T>)
}

/// Store `value` unless the directive was given before at this level.
unsafe fn store<T>(cmd: *mut ngx_command_t, conf: *mut c_void, value: T) -> *mut c_char {
    match slot::<T>(cmd, conf).replace(value) {
        Some(_) => DUPLICATE,
        None => ngx::core::NGX_CONF_OK,
    }
}

/// The range a number may take; the command's `post` points to one.
pub struct Bounds {
    pub min: usize,
    pub max: usize,
}

/// `NAME N;` into an `Option<usize>`, within the `Bounds` at `post`.
pub extern "C" fn set_number_slot(
    cf: *mut ngx_conf_t,
    cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let b = &*((*cmd).post as *const Bounds);
        match number(cf, &text(&(*cmd).name), b.min, b.max, 1) {
            Ok(n) => store(cmd, conf, n),
            Err(()) => ngx::core::NGX_CONF_ERROR,
        }
    }
}

/// Argument `index` as a number from `min` to `max`.
pub unsafe fn number(
    cf: *mut ngx_conf_t,
    directive: &str,
    min: usize,
    max: usize,
    index: usize,
) -> Result<usize, ()> {
    let arg = text(&args(cf)[index]);
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

/// `NAME on | off;` into an `Option<bool>`.
pub extern "C" fn set_flag_slot(
    cf: *mut ngx_conf_t,
    cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let value = match args(cf)[1].as_bytes() {
            b"on" => true,
            b"off" => false,
            other => conf_error!(
                cf,
                "\"{}\" takes \"on\" or \"off\", not \"{}\"",
                text(&(*cmd).name),
                String::from_utf8_lossy(other)
            ),
        };
        store(cmd, conf, value)
    }
}

/// A directive's keyword values (as nginx's `ngx_conf_enum_t`).
pub trait Keywords: Sized + Copy + 'static {
    const KEYWORDS: &'static [(&'static str, Self)];
}

/// `NAME KEYWORD;` into an `Option<T>`.
pub extern "C" fn set_enum_slot<T: Keywords>(
    cf: *mut ngx_conf_t,
    cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let arg = args(cf)[1].as_bytes();
        let Some(&(_, value)) = T::KEYWORDS.iter().find(|(k, _)| k.as_bytes() == arg) else {
            let names: Vec<String> = T::KEYWORDS
                .iter()
                .map(|(k, _)| format!("\"{k}\""))
                .collect();
            conf_error!(
                cf,
                "\"{}\" takes {}, not \"{}\"",
                text(&(*cmd).name),
                names.join(", "),
                String::from_utf8_lossy(arg)
            );
        };
        store(cmd, conf, value)
    }
}

/// A time argument (`30s`, `500ms`, `1m`) in milliseconds.
pub unsafe fn msec(cf: *mut ngx_conf_t, cmd: *mut ngx_command_t, arg: usize) -> Option<ngx_msec_t> {
    let a = &mut args(cf)[arg];
    let t = ngx_parse_time(a, 0);
    if t == NGX_ERROR as ngx_int_t {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "\"{}\" takes a time such as 30s or 500ms, not \"{}\"",
            text(&(*cmd).name),
            text(a)
        );
        return None;
    }
    Some(t as ngx_msec_t)
}

/// `NAME TIME;` into an `Option<ngx_msec_t>`.
pub extern "C" fn set_msec_slot(
    cf: *mut ngx_conf_t,
    cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        match msec(cf, cmd, 1) {
            Some(t) => store(cmd, conf, t),
            None => ngx::core::NGX_CONF_ERROR,
        }
    }
}

/// A size argument (`512`, `64k`, `1m`, `2g`) in bytes.
pub unsafe fn size(cf: *mut ngx_conf_t, cmd: *mut ngx_command_t, arg: usize) -> Option<u64> {
    let a = &mut args(cf)[arg];
    let n = ngx_parse_offset(a);
    if n < 0 {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "\"{}\" takes a size such as 512, 64k or 1m, not \"{}\"",
            text(&(*cmd).name),
            text(a)
        );
        return None;
    }
    Some(n as u64)
}

/// `NAME SIZE;` into an `Option<u64>`.
pub extern "C" fn set_size_slot(
    cf: *mut ngx_conf_t,
    cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        match size(cf, cmd, 1) {
            Some(n) => store(cmd, conf, n),
            None => ngx::core::NGX_CONF_ERROR,
        }
    }
}

pub unsafe fn core_loc_conf(cf: *mut ngx_conf_t) -> *mut ngx_http_core_loc_conf_t {
    let ctx = (*cf).ctx as *mut ngx_http_conf_ctx_t;
    *(*ctx).loc_conf.add(ngx_http_core_module.ctx_index) as *mut ngx_http_core_loc_conf_t
}

/// The location's prefix, for SCRIPT_NAME ("" for regex, exact and named locations).
pub unsafe fn location_prefix(cf: *mut ngx_conf_t) -> Vec<u8> {
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
