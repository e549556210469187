//! The module's directives: parsing, validation at `nginx -t`, and merging.
//!
//! Configuration is parsed in the master; nothing here touches Python. The
//! workers read the result in `init_process`. The directive table at the
//! end is the table of contents: each entry names the handler and, for the
//! slot setters of `parse`, the field it writes.

mod parse;
mod status;
pub mod uwsgi;
mod wsgi;

use crate::asgi::lifespan::Mode as LifespanMode;
use crate::module::Module;
use crate::python::app::{AppConfig, Interface};
use crate::python::event_loop::LoopChoice;
use crate::python::runtime::RuntimeConfig;
use crate::wsgi::spill::SpillPolicy;
use core::ffi::{c_char, c_void};
use ngx::ffi::*;
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf};
use parse::{
    set_enum_slot, set_flag_slot, set_msec_slot, set_number_slot, set_size_slot, Bounds, Keywords,
};
use status::set_status;
use std::mem::offset_of;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::Arc;
use uwsgi::{set_uwsgi_next_upstream, set_uwsgi_upstream, UwsgiConf};
use wsgi::{
    set_app, set_asgi_app, set_max_requests, set_param, set_python_home, set_python_path,
    set_request_timeout,
};

pub const DEFAULT_THREADS: usize = 8;
/// Room for a burst of several thousand requests per worker: a request
/// waiting for a thread costs only its nginx request; `wsgi_queue_timeout`
/// bounds how long it waits.
pub const DEFAULT_QUEUE: usize = 4096;
const DEFAULT_QUEUE_TIMEOUT: ngx_msec_t = 60_000;
/// What a response may queue ahead of its client before it parks (or its
/// `write()` spills).
const DEFAULT_BUFFER_SIZE: u64 = 256 * 1024;
const DEFAULT_MAX_TEMP_FILE_SIZE: u64 = 1024 * 1024 * 1024;
/// As `client_max_body_size`'s default.
const DEFAULT_WEBSOCKET_MAX_MESSAGE: u64 = 1024 * 1024;
/// As `proxy_read_timeout`'s default.
const DEFAULT_WEBSOCKET_TIMEOUT: ngx_msec_t = 60_000;

/// http-level settings, and every `wsgi_app` and `asgi_app` of the
/// configuration.
pub struct MainConf {
    pub home: Option<PathBuf>,
    pub threads: Option<usize>,
    pub queue: Option<usize>,
    /// One entry per `wsgi_app` and `asgi_app`.
    pub apps: Vec<AppConfig>,
    /// `asgi_loop`.
    pub asgi_loop: Option<LoopChoice>,
    /// Some `wsgi_app` location runs on the thread pool (not `wsgi_inline`):
    /// without one, the workers start no Python threads.
    pub pooled: bool,
    pub vars: Option<crate::http::request::VarIndexes>,
    /// `wsgi_max_requests N [JITTER]`.
    pub max_requests: Option<(u64, u64)>,
    pub max_rss: Option<u64>,
    /// Some `wsgi_app` location has `wsgi_request_timeout`: the workers
    /// start the thread that interrupts requests.
    pub timeouts: bool,
    /// Some location has `wsgi_status`.
    pub status_used: bool,
    pub status_zone_size: Option<u64>,
    /// The metrics zone (null without `wsgi_status`), and the length of the
    /// layout in it.
    pub status_zone: *mut ngx_shm_zone_t,
    pub status_zone_len: usize,
}

impl Default for MainConf {
    fn default() -> MainConf {
        MainConf {
            home: None,
            threads: None,
            queue: None,
            apps: Vec::new(),
            asgi_loop: None,
            pooled: false,
            vars: None,
            max_requests: None,
            max_rss: None,
            timeouts: false,
            status_used: false,
            status_zone_size: None,
            status_zone: std::ptr::null_mut(),
            status_zone_len: 0,
        }
    }
}

impl MainConf {
    pub fn runtime_config(&self, multiprocess: bool) -> RuntimeConfig {
        RuntimeConfig {
            home: self.home.clone(),
            apps: self.apps.clone(),
            asgi_loop: self.asgi_loop.unwrap_or_default(),
            threads: if self.pooled {
                self.threads.unwrap_or(DEFAULT_THREADS)
            } else {
                0
            },
            queue: self.queue.unwrap_or(DEFAULT_QUEUE),
            watchdog: self.timeouts,
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

/// How long a request may stay in the app, and how long its thread then
/// has to come back before the worker is recycled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeout {
    pub limit: ngx_msec_t,
    pub grace: ngx_msec_t,
}

impl Keywords for LifespanMode {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("auto", LifespanMode::Auto),
        ("on", LifespanMode::On),
        ("off", LifespanMode::Off),
    ];
}

impl Keywords for LoopChoice {
    const KEYWORDS: &'static [(&'static str, Self)] = &[
        ("auto", LoopChoice::Auto),
        ("asyncio", LoopChoice::Asyncio),
        ("uvloop", LoopChoice::Uvloop),
    ];
}

#[derive(Default)]
pub struct LocConf {
    /// Index into `MainConf::apps` when this location has `wsgi_app` or
    /// `asgi_app`.
    pub app: Option<usize>,
    /// Which of the two.
    pub interface: Option<Interface>,
    /// `asgi_lifespan` (unset: inherit, auto).
    pub lifespan: Option<LifespanMode>,
    /// `asgi_websocket_max_message_size`.
    pub websocket_max_message: Option<u64>,
    /// `asgi_websocket_timeout`.
    pub websocket_timeout: Option<ngx_msec_t>,
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
    /// `wsgi_request_buffering`: read the whole body before calling the
    /// app (unset: inherit, on).
    pub request_buffering: Option<bool>,
    pub queue_timeout: Option<ngx_msec_t>,
    /// `wsgi_request_timeout TIME [GRACE]`.
    pub request_timeout: Option<RequestTimeout>,
    pub buffer_size: Option<u64>,
    pub max_temp_file_size: Option<u64>,
    /// `wsgi_temp_path`, set by nginx's own path slot (a null pointer is
    /// `None`); unset everywhere, the location's `client_body_temp_path`.
    pub temp_path: Option<NonNull<ngx_path_t>>,
    /// Where `write()` spills, from the three above (merged).
    pub spill: Option<Arc<SpillPolicy>>,
    pub uwsgi: UwsgiConf,
}

impl LocConf {
    /// `wsgi_inline`; an ASGI app always runs on its loop.
    pub fn inline(&self) -> bool {
        self.inline.unwrap_or(false) && !self.asgi()
    }

    pub fn asgi(&self) -> bool {
        self.interface == Some(Interface::Asgi)
    }

    /// The largest WebSocket message a client may send (a larger one
    /// closes the connection with 1009).
    pub fn websocket_max_message(&self) -> usize {
        self.websocket_max_message
            .unwrap_or(DEFAULT_WEBSOCKET_MAX_MESSAGE) as usize
    }

    /// How long a WebSocket client may stay silent (0: forever).
    pub fn websocket_timeout(&self) -> ngx_msec_t {
        self.websocket_timeout.unwrap_or(DEFAULT_WEBSOCKET_TIMEOUT)
    }

    /// The body is read whole first, as always under `wsgi_inline` (a
    /// read there would block the event loop) and for ASGI apps.
    pub fn request_buffering(&self) -> bool {
        self.request_buffering.unwrap_or(true) || self.inline() || self.asgi()
    }

    pub fn queue_timeout(&self) -> ngx_msec_t {
        self.queue_timeout.unwrap_or(DEFAULT_QUEUE_TIMEOUT)
    }

    /// The high-water mark of a response's exchange.
    pub fn buffer_size(&self) -> usize {
        self.buffer_size.unwrap_or(DEFAULT_BUFFER_SIZE) as usize
    }
}

pub unsafe extern "C" fn init_main_conf(cf: *mut ngx_conf_t, conf: *mut c_void) -> *mut c_char {
    let mcf = &mut *(conf as *mut MainConf);
    match crate::http::request::VarIndexes::new(cf) {
        Some(v) => mcf.vars = Some(v),
        None => return ngx::core::NGX_CONF_ERROR,
    }
    if status::add_zone(cf, mcf).is_err() {
        return ngx::core::NGX_CONF_ERROR;
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
    conf.inline = conf.inline.or(prev.inline);
    conf.lifespan = conf.lifespan.or(prev.lifespan);
    conf.websocket_max_message = conf.websocket_max_message.or(prev.websocket_max_message);
    conf.websocket_timeout = conf.websocket_timeout.or(prev.websocket_timeout);
    conf.request_buffering = conf.request_buffering.or(prev.request_buffering);
    conf.queue_timeout = conf.queue_timeout.or(prev.queue_timeout);
    conf.request_timeout = conf.request_timeout.or(prev.request_timeout);
    conf.buffer_size = conf.buffer_size.or(prev.buffer_size);
    conf.max_temp_file_size = conf.max_temp_file_size.or(prev.max_temp_file_size);
    conf.temp_path = conf.temp_path.or(prev.temp_path);
    conf.spill = Some(Arc::new(spill_policy(cf, conf)));
    if uwsgi::merge_uwsgi(cf, &mut prev.uwsgi, &mut conf.uwsgi).is_err() {
        return ngx::core::NGX_CONF_ERROR;
    }
    if let Some(i) = conf.app {
        let main = wsgi::main_conf(cf);
        main.apps[i].sys_path = conf.merged_python_path.clone();
        main.apps[i].lifespan = conf.lifespan.unwrap_or_default();
        let pooled = !conf.inline() && !conf.asgi();
        main.pooled |= pooled;
        main.timeouts |= pooled && conf.request_timeout.is_some();
    }
    ngx::core::NGX_CONF_OK
}

/// Spill files go to `wsgi_temp_path`, or else beside the request bodies
/// nginx buffers (`client_body_temp_path`, which nginx creates for the
/// workers' user): they are unlinked as soon as they are created, so they
/// never meet nginx's own files.
unsafe fn spill_policy(cf: *mut ngx_conf_t, conf: &LocConf) -> SpillPolicy {
    let path = match conf.temp_path {
        Some(p) => p.as_ptr(),
        None => (*parse::core_loc_conf(cf)).client_body_temp_path,
    };
    let dir = if path.is_null() {
        PathBuf::new()
    } else {
        PathBuf::from(std::ffi::OsStr::from_encoded_bytes_unchecked(
            (*path).name.as_bytes(),
        ))
    };
    SpillPolicy {
        dir,
        max_size: conf
            .max_temp_file_size
            .unwrap_or(DEFAULT_MAX_TEMP_FILE_SIZE),
    }
}

/// One directive: its name, where it may appear and its arguments, its
/// handler, the configuration it writes to, and for slot setters the field
/// (and, for numbers, their bounds).
macro_rules! command {
    ($name:literal, $type:expr, $set:expr, $conf:ident) => {
        command!($name, $type, $set, $conf, 0)
    };
    ($name:literal, $type:expr, $set:expr, $conf:ident, $offset:expr) => {
        command!($name, $type, $set, $conf, $offset, std::ptr::null_mut())
    };
    ($name:literal, $type:expr, $set:expr, $conf:ident, $offset:expr, $post:expr) => {
        ngx_command_t {
            name: ngx::ngx_string!($name),
            type_: ($type) as ngx_uint_t,
            set: Some($set),
            conf: $conf,
            offset: $offset,
            post: $post,
        }
    };
}

const LOC: u32 = NGX_HTTP_LOC_CONF;
const MAIN: u32 = NGX_HTTP_MAIN_CONF;
const ANY: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;
const MAIN_CONF: ngx_uint_t = NGX_HTTP_MAIN_CONF_OFFSET;
const LOC_CONF: ngx_uint_t = NGX_HTTP_LOC_CONF_OFFSET;

static THREADS: Bounds = Bounds { min: 1, max: 1024 };
static QUEUE: Bounds = Bounds { min: 0, max: 65536 };
static MODIFIER: Bounds = Bounds { min: 0, max: 255 };
static TRIES: Bounds = Bounds { min: 0, max: 1000 };

/// `post` for a number slot.
const fn bounds(b: &'static Bounds) -> *mut c_void {
    b as *const Bounds as *mut c_void
}

/// The directive table.
pub static mut COMMANDS: [ngx_command_t; 34] = [
    // The application.
    command!("wsgi_app", LOC | NGX_CONF_TAKE1, set_app, LOC_CONF),
    command!(
        "wsgi_python_path",
        ANY | NGX_CONF_TAKE1,
        set_python_path,
        LOC_CONF
    ),
    command!(
        "wsgi_python_home",
        MAIN | NGX_CONF_TAKE1,
        set_python_home,
        MAIN_CONF
    ),
    // The same two, by names that fit WSGI and ASGI apps alike.
    command!(
        "python_path",
        ANY | NGX_CONF_TAKE1,
        set_python_path,
        LOC_CONF
    ),
    command!(
        "python_home",
        MAIN | NGX_CONF_TAKE1,
        set_python_home,
        MAIN_CONF
    ),
    command!("wsgi_param", ANY | NGX_CONF_TAKE23, set_param, LOC_CONF),
    // ASGI apps, on the worker's asyncio loop.
    command!("asgi_app", LOC | NGX_CONF_TAKE1, set_asgi_app, LOC_CONF),
    command!(
        "asgi_lifespan",
        ANY | NGX_CONF_TAKE1,
        set_enum_slot::<LifespanMode>,
        LOC_CONF,
        offset_of!(LocConf, lifespan)
    ),
    command!(
        "asgi_loop",
        MAIN | NGX_CONF_TAKE1,
        set_enum_slot::<LoopChoice>,
        MAIN_CONF,
        offset_of!(MainConf, asgi_loop)
    ),
    command!(
        "asgi_websocket_max_message_size",
        ANY | NGX_CONF_TAKE1,
        set_size_slot,
        LOC_CONF,
        offset_of!(LocConf, websocket_max_message)
    ),
    command!(
        "asgi_websocket_timeout",
        ANY | NGX_CONF_TAKE1,
        set_msec_slot,
        LOC_CONF,
        offset_of!(LocConf, websocket_timeout)
    ),
    // The Python threads, and waiting for one.
    command!(
        "wsgi_threads",
        MAIN | NGX_CONF_TAKE1,
        set_number_slot,
        MAIN_CONF,
        offset_of!(MainConf, threads),
        bounds(&THREADS)
    ),
    command!(
        "wsgi_queue",
        MAIN | NGX_CONF_TAKE1,
        set_number_slot,
        MAIN_CONF,
        offset_of!(MainConf, queue),
        bounds(&QUEUE)
    ),
    command!(
        "wsgi_queue_timeout",
        ANY | NGX_CONF_TAKE1,
        set_msec_slot,
        LOC_CONF,
        offset_of!(LocConf, queue_timeout)
    ),
    command!(
        "wsgi_inline",
        ANY | NGX_CONF_TAKE1,
        set_flag_slot,
        LOC_CONF,
        offset_of!(LocConf, inline)
    ),
    // Requests that take too long, and workers that have done enough.
    command!(
        "wsgi_request_timeout",
        ANY | NGX_CONF_TAKE12,
        set_request_timeout,
        LOC_CONF
    ),
    command!(
        "wsgi_max_requests",
        MAIN | NGX_CONF_TAKE12,
        set_max_requests,
        MAIN_CONF
    ),
    command!(
        "wsgi_max_rss",
        MAIN | NGX_CONF_TAKE1,
        set_size_slot,
        MAIN_CONF,
        offset_of!(MainConf, max_rss)
    ),
    // Metrics.
    command!("wsgi_status", LOC | NGX_CONF_NOARGS, set_status, LOC_CONF),
    command!(
        "wsgi_status_zone",
        MAIN | NGX_CONF_TAKE1,
        set_size_slot,
        MAIN_CONF,
        offset_of!(MainConf, status_zone_size)
    ),
    command!(
        "wsgi_request_buffering",
        ANY | NGX_CONF_TAKE1,
        set_flag_slot,
        LOC_CONF,
        offset_of!(LocConf, request_buffering)
    ),
    // The response on its way to the client.
    command!(
        "wsgi_buffer_size",
        ANY | NGX_CONF_TAKE1,
        set_size_slot,
        LOC_CONF,
        offset_of!(LocConf, buffer_size)
    ),
    command!(
        "wsgi_max_temp_file_size",
        ANY | NGX_CONF_TAKE1,
        set_size_slot,
        LOC_CONF,
        offset_of!(LocConf, max_temp_file_size)
    ),
    command!(
        "wsgi_temp_path",
        ANY | NGX_CONF_TAKE1234,
        ngx_conf_set_path_slot,
        LOC_CONF,
        offset_of!(LocConf, temp_path)
    ),
    // uwsgi_upstream, and the fallback of wsgi_app.
    command!(
        "uwsgi_upstream",
        LOC | NGX_CONF_TAKE1,
        set_uwsgi_upstream,
        LOC_CONF
    ),
    command!(
        "uwsgi_upstream_connect_timeout",
        ANY | NGX_CONF_TAKE1,
        set_msec_slot,
        LOC_CONF,
        offset_of!(LocConf, uwsgi.connect_timeout)
    ),
    command!(
        "uwsgi_upstream_send_timeout",
        ANY | NGX_CONF_TAKE1,
        set_msec_slot,
        LOC_CONF,
        offset_of!(LocConf, uwsgi.send_timeout)
    ),
    command!(
        "uwsgi_upstream_read_timeout",
        ANY | NGX_CONF_TAKE1,
        set_msec_slot,
        LOC_CONF,
        offset_of!(LocConf, uwsgi.read_timeout)
    ),
    command!(
        "uwsgi_upstream_modifier1",
        ANY | NGX_CONF_TAKE1,
        set_number_slot,
        LOC_CONF,
        offset_of!(LocConf, uwsgi.modifier1),
        bounds(&MODIFIER)
    ),
    command!(
        "uwsgi_upstream_modifier2",
        ANY | NGX_CONF_TAKE1,
        set_number_slot,
        LOC_CONF,
        offset_of!(LocConf, uwsgi.modifier2),
        bounds(&MODIFIER)
    ),
    command!(
        "uwsgi_upstream_buffering",
        ANY | NGX_CONF_TAKE1,
        set_flag_slot,
        LOC_CONF,
        offset_of!(LocConf, uwsgi.buffering)
    ),
    command!(
        "uwsgi_upstream_next_upstream",
        ANY | NGX_CONF_1MORE,
        set_uwsgi_next_upstream,
        LOC_CONF
    ),
    command!(
        "uwsgi_upstream_next_upstream_tries",
        ANY | NGX_CONF_TAKE1,
        set_number_slot,
        LOC_CONF,
        offset_of!(LocConf, uwsgi.next_upstream_tries),
        bounds(&TRIES)
    ),
    ngx_command_t::empty(),
];

unsafe impl HttpModuleMainConf for Module {
    type MainConf = MainConf;
}

unsafe impl HttpModuleLocationConf for Module {
    type LocationConf = LocConf;
}
