//! `Log` on nginx's error log. Callable from the Python threads: it writes
//! through the cycle's log (no request state), as nginx's own thread pools do.

use crate::log::{Level, Log};
use ngx::ffi::*;

pub struct NginxLog;

impl Log for NginxLog {
    fn log(&self, level: Level, msg: &str) {
        let level = match level {
            Level::Error => NGX_LOG_ERR,
            Level::Warn => NGX_LOG_WARN,
            Level::Info => NGX_LOG_INFO,
        } as ngx_uint_t;
        unsafe {
            let log = (*ngx_cycle).log;
            if !log.is_null() && level <= (*log).log_level {
                ngx::log::log_error(level, log, 0, msg.as_bytes());
            }
        }
    }
}
