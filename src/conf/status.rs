//! `wsgi_status;` and its shared memory zone, `wsgi_status_zone SIZE;`.
//!
//! nginx maps the zone in the master, before the workers fork, at the same
//! address for all of them; after a reload with the same size it hands the
//! same memory to the new cycle, so the figures survive reloads. The
//! zone's own layout (`metrics::zone`) lives in one slab allocation, found
//! again through the slab pool's `data`, as nginx's own zones do.

use super::parse::{core_loc_conf, DUPLICATE};
use super::MainConf;
use crate::metrics as zone;
use core::ffi::{c_char, c_void};
use ngx::ffi::*;
use ngx::ngx_conf_log_error;

/// What the slab pool itself takes of a zone: its header, a page
/// descriptor per page, and alignment.
fn slab_overhead(len: usize) -> usize {
    let page = unsafe { ngx_pagesize };
    8 * page + len / page * size_of::<ngx_slab_page_t>() * 2
}

/// The layout that a zone of `size` bytes holds: as many worker slots as
/// fit beside the slab pool's own needs.
fn layout_len(size: usize) -> usize {
    zone::size_for(zone::slots_in(size.saturating_sub(slab_overhead(size))))
}

/// When `wsgi_status_zone` is not given: room for about 75 workers, several
/// reloads' worth of old and new workers at once.
const DEFAULT_SIZE: usize = 1024 * 1024;

/// `wsgi_status;`
pub extern "C" fn set_status(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    unsafe {
        let clcf = core_loc_conf(cf);
        if (*clcf).handler.is_some() {
            return DUPLICATE;
        }
        (*clcf).handler = Some(crate::http::status::status_handler);
        super::wsgi::main_conf(cf).status_used = true;
    }
    ngx::core::NGX_CONF_OK
}

/// At the end of the http block: add the zone if anything uses it.
pub unsafe fn add_zone(cf: *mut ngx_conf_t, mcf: &mut MainConf) -> Result<(), ()> {
    if !mcf.status_used && mcf.status_zone_size.is_none() {
        return Ok(());
    }
    let size = mcf.status_zone_size.map_or(DEFAULT_SIZE, |s| s as usize);
    if zone::slots_in(size.saturating_sub(slab_overhead(size))) == 0 {
        let needed = zone::size_for(1);
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "\"wsgi_status_zone\" of {size} bytes is too small: it needs at least {} bytes (room for one worker)",
            needed + slab_overhead(2 * needed)
        );
        return Err(());
    }
    let mut name = ngx::ngx_string!("wsgi_status");
    let shm = ngx_shared_memory_add(
        cf,
        &mut name,
        size,
        (&raw const crate::module::ngx_http_wsgi_module) as *mut c_void,
    );
    if shm.is_null() {
        return Err(());
    }
    (*shm).init = Some(init_zone);
    mcf.status_zone = shm;
    mcf.status_zone_len = layout_len(size);
    Ok(())
}

/// nginx's zone init, in the master: reuse the zone of the previous cycle,
/// or lay out a fresh one.
unsafe extern "C" fn init_zone(shm_zone: *mut ngx_shm_zone_t, data: *mut c_void) -> ngx_int_t {
    let shpool = (*shm_zone).shm.addr as *mut ngx_slab_pool_t;
    let len = layout_len((*shm_zone).shm.size);
    if !data.is_null() {
        // A reload with the same size: the same memory and figures.
        if zone::attach(data as *mut u8, len).is_ok() {
            (*shm_zone).data = data;
            return NGX_OK as ngx_int_t;
        }
    }
    let mem = if !(*shpool).data.is_null() {
        (*shpool).data
    } else {
        ngx_slab_alloc(shpool, len)
    };
    if mem.is_null() {
        ngx::ngx_log_error!(
            NGX_LOG_EMERG,
            (*shm_zone).shm.log,
            "wsgi: cannot allocate {len} bytes in the wsgi_status zone"
        );
        return NGX_ERROR as ngx_int_t;
    }
    if let Err(e) = zone::init(mem as *mut u8, len) {
        ngx::ngx_log_error!(
            NGX_LOG_EMERG,
            (*shm_zone).shm.log,
            "wsgi: the wsgi_status zone: {e}"
        );
        return NGX_ERROR as ngx_int_t;
    }
    (*shpool).data = mem;
    (*shm_zone).data = mem;
    NGX_OK as ngx_int_t
}
