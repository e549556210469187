//! The module's metrics as plain data: every worker's figures in one
//! shared memory zone, and the status page's text. No nginx and no Python
//! here; the nginx side (`http/`) maps the zone, runs the publishing timer
//! and serves `wsgi_status`.
//!
//! - [`Local`] (`local.rs`): a worker's own figures: requests per app by
//!   status class, the outcome counters (exceptions, aborted responses,
//!   timeouts, queue timeouts and rejections, fallbacks, closed clients),
//!   the queue-wait and in-app time histograms, the worker's recycles;
//! - [`Zone`] (`zone.rs`): the zone's `#[repr(C)]` layout (atomics only)
//!   and what happens in it: claiming a slot per worker, the app table,
//!   publishing, retiring, reading a [`Snapshot`]; `lock.rs` is its lock,
//!   a pid in the zone;
//! - [`render`]: a snapshot as Prometheus text (format 0.0.4) or JSON.
//!
//! **Why the hot path takes no lock.** A request is counted in the
//! worker's [`Local`], plain integers owned by the single-threaded event
//! loop: a few additions, nothing shared, nothing that can wait. Sharing
//! happens when the worker publishes (a timer, at least once a second, and
//! before serving a scrape): it stores its totals into its own slot with
//! atomic stores. A slot has one writer, so no lock is needed, and since
//! the stores are of totals, not increments, a publish repeated or lost
//! leaves no error behind. A reader sums the retired totals and every
//! occupied slot, lock-free too; its figures are at most one publish old.
//! The zone's lock (a pid, taken over from a dead holder) is only for
//! what is rare: a worker starting or exiting, an app added at start-up.
//!
//! **Workers come and go.** A worker claims a slot when it starts
//! ([`Zone::claim_slot`]), and when it exits publishes once more and
//! retires it ([`Zone::retire`]): its counters join the retired totals, so
//! nothing is lost to recycling. A crashed worker's slot keeps counting
//! what it last published until the next claim finds its pid dead and
//! retires it. A worker that finds every slot held by live workers gets
//! none, and its figures are missing for its whole life: size the zone
//! for every worker twice over (the old generation still drains while
//! the new one starts on a reload), with [`size_for`].
//!
//! **Reloads.** nginx keeps a zone whose name and size are unchanged; the
//! new cycle [`attach`]es to it, and everything carries on, figures and
//! app table included (a new app is added; one no longer configured keeps
//! its series). A zone of another size is a new zone: the figures start
//! again from zero, which Prometheus reads as a counter reset.
//!
//! How the nginx side drives it:
//!
//! ```
//! use std::time::Duration;
//! use ngx_http_wsgi_module::metrics::{self, render, Gauges, Local, Outcome};
//!
//! // The master, when nginx hands over the zone's memory (page-aligned):
//! # let mut memory = vec![0u64; metrics::size_for(4) / 8];
//! # let (addr, len) = (memory.as_mut_ptr().cast::<u8>(), metrics::size_for(4));
//! let zone = match unsafe { metrics::attach(addr, len) } {
//!     Ok(zone) => zone,                              // a reload: keep the figures
//!     Err(_) => unsafe { metrics::init(addr, len) }?, // new, or of another layout
//! };
//! // Errors past here are no reason to fail a worker: it logs and goes on.
//! let alive = |pid: i32| pid == 4242; // kill(pid, 0) == 0 || errno == EPERM
//!
//! // A worker starting (init_process): its apps, its slot.
//! let app_ids = vec![zone.app("myproj.wsgi:application", 4242, alive)?];
//! let slot = zone.claim_slot(4242, alive).expect("a free slot");
//! let mut local = Local::new(app_ids.len());
//!
//! // Each finished request, on the event loop.
//! let (wait, took) = (Duration::from_micros(300), Duration::from_millis(12));
//! local.record(0, 200, Outcome::Ok, Some(wait), Some(took));
//!
//! // The timer, and before each scrape.
//! let gauges = Gauges { busy_threads: 1, rss_bytes: 50 << 20, ..Gauges::default() };
//! zone.publish(slot, &local, &app_ids, &gauges);
//!
//! // A scrape of wsgi_status.
//! let text = render::prometheus(&zone.snapshot(alive));
//! assert!(text.contains(
//!     "ngx_wsgi_requests_total{app=\"myproj.wsgi:application\",class=\"2xx\"} 1\n"
//! ));
//! assert!(text.contains("ngx_wsgi_busy_threads{pid=\"4242\"} 1\n"));
//!
//! // exit_process: a last publish, then give the slot back.
//! zone.publish(slot, &local, &app_ids, &gauges);
//! zone.retire(slot, alive);
//! # Ok::<(), metrics::ZoneError>(())
//! ```

mod local;
mod lock;
pub mod render;
#[cfg(test)]
mod test_rng;
mod zone;

pub use local::{
    status_class, AppFigures, Counter, Gauges, Histogram, Local, Outcome, Outcomes, RecycleReason,
    BUCKETS, BUCKET_BOUNDS_US, CLASSES,
};
pub use zone::{
    attach, check_app_name, init, size_for, slots_in, AppId, SlotId, Snapshot, WorkerGauges, Zone,
    ZoneError, ALIGN, LOCK_PATIENCE, MAX_APPS, MAX_NAME, MAX_SLOTS,
};
