//! Module registration: the module context, directives, and the worker's
//! start and exit hooks.

use crate::http::worker;
use ngx::ffi::*;
use ngx::http::HttpModule;

pub struct Module;

impl HttpModule for Module {
    fn module() -> &'static ngx_module_t {
        unsafe { &*::core::ptr::addr_of!(ngx_http_wsgi_module) }
    }
}

static NGX_HTTP_WSGI_MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(crate::http::variables::add),
    postconfiguration: None,
    create_main_conf: Some(Module::create_main_conf),
    init_main_conf: Some(crate::conf::init_main_conf),
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(Module::create_loc_conf),
    merge_loc_conf: Some(crate::conf::merge_loc_conf),
};

#[cfg(feature = "export-modules")]
ngx::ngx_modules!(ngx_http_wsgi_module);

#[used]
#[allow(non_upper_case_globals)]
#[cfg_attr(not(feature = "export-modules"), unsafe(no_mangle))]
pub static mut ngx_http_wsgi_module: ngx_module_t = ngx_module_t {
    ctx: &raw const NGX_HTTP_WSGI_MODULE_CTX as _,
    commands: unsafe { &raw mut crate::conf::COMMANDS[0] },
    type_: NGX_HTTP_MODULE as _,
    init_process: Some(worker::init_process),
    exit_process: Some(worker::exit_process),
    ..ngx_module_t::default()
};
