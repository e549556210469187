//! A worker's metrics: its own figures (`metrics::Local`, updated on the
//! event loop, per request, with no lock and no shared memory), and, when
//! the configuration has `wsgi_status`, its slot in the shared zone, which
//! it publishes to once a second, when it recycles, at exit, and before it
//! answers a scrape.

use super::variables::RequestStats;
use crate::conf::MainConf;
use crate::metrics::{
    AppId, Gauges, Local, Outcome, Outcomes, RecycleReason, SlotId, Snapshot, Zone,
};
use ngx::ffi::*;
use std::ptr::NonNull;

const PUBLISH_MS: ngx_msec_t = 1000;

pub struct Metrics {
    local: Local,
    shared: Option<Shared>,
}

/// The worker's place in the shared zone.
struct Shared {
    zone: Zone<'static>,
    slot: SlotId,
    /// The worker's app index → the zone's.
    apps: Vec<AppId>,
    timer: Box<ngx_event_t>,
}

/// Whether a process is still there (a worker that crashed left its slot).
pub fn alive(pid: i32) -> bool {
    unsafe { libc::kill(pid, 0) == 0 || *libc::__errno_location() == libc::EPERM }
}

/// The shared zone, once nginx has mapped it (`None` without `wsgi_status`).
pub unsafe fn zone(mcf: &MainConf) -> Option<Zone<'static>> {
    let shm = NonNull::new(mcf.status_zone)?;
    let mem = NonNull::new((*shm.as_ptr()).data as *mut u8)?;
    crate::metrics::attach(mem.as_ptr(), mcf.status_zone_len).ok()
}

impl Metrics {
    /// In `init_process`.
    pub unsafe fn start(cycle: *mut ngx_cycle_t, mcf: &MainConf) -> Metrics {
        let local = Local::new(mcf.apps.len());
        let log = (*cycle).log;
        let shared = zone(mcf).and_then(|zone| {
            let Some(slot) = zone.claim_slot(ngx_pid, alive) else {
                ngx::ngx_log_error!(
                    NGX_LOG_ERR,
                    log,
                    "wsgi: wsgi_status_zone has no free slot for this worker: its figures are not counted; make the zone larger"
                );
                return None;
            };
            // The zone maps the worker's apps by position: one that cannot
            // be registered ends the list (it and the later ones are not
            // counted).
            let mut apps = Vec::with_capacity(mcf.apps.len());
            for spec in mcf.apps.iter().map(|a| &a.spec) {
                match zone.app(&spec.to_string(), ngx_pid, alive) {
                    Ok(id) => apps.push(id),
                    Err(e) => {
                        ngx::ngx_log_error!(
                            NGX_LOG_ERR,
                            log,
                            "wsgi: app \"{spec}\" and the apps after it are not counted in wsgi_status: {e}"
                        );
                        break;
                    }
                }
            }
            let mut timer: Box<ngx_event_t> = Box::new(std::mem::zeroed());
            timer.handler = Some(publish_timer);
            timer.log = log;
            // Never keeps a quitting worker alive.
            timer.set_cancelable(1);
            ngx_add_timer(&mut *timer, PUBLISH_MS);
            Some(Shared {
                zone,
                slot,
                apps,
                timer,
            })
        });
        let mut metrics = Metrics { local, shared };
        metrics.publish();
        metrics
    }

    /// A request is done.
    pub fn count(&mut self, stats: &RequestStats, status: u16) {
        let Some(app) = stats.app else { return };
        let outcome = stats.outcome.unwrap_or(Outcome::Ok);
        let outcomes = if stats.queue_timed_out && outcome != Outcome::QueueTimeout {
            Outcome::QueueTimeout | outcome
        } else {
            Outcomes::from(outcome)
        };
        self.local
            .record(app, status, outcomes, stats.queue_wait, stats.app_time);
    }

    pub fn recycled(&mut self, reason: RecycleReason) {
        self.local.recycle(reason);
        self.publish();
    }

    /// Copy the worker's figures into its slot.
    pub fn publish(&mut self) {
        let Some(s) = &self.shared else { return };
        let (queued, busy, parked) = super::worker::get()
            .and_then(|w| w.runtime.as_ref())
            .map_or((0, 0, 0), |rt| {
                let (queued, busy) = rt.load();
                (queued, busy, rt.parked())
            });
        let gauges = Gauges {
            busy_threads: busy as u64,
            queued: queued as u64,
            parked: parked as u64,
            rss_bytes: super::worker::rss_bytes().unwrap_or(0),
        };
        // False only if the slot was taken from this (live) worker, which
        // a lock stolen by mistake could do: nothing to do but go on.
        let _ = s.zone.publish(s.slot, &self.local, &s.apps, &gauges);
    }

    /// All workers' figures, this one's fresh.
    pub fn snapshot(&mut self) -> Option<Snapshot> {
        self.publish();
        self.shared.as_ref().map(|s| s.zone.snapshot(alive))
    }

    /// At exit: a last publish, and the slot's counters go to the totals.
    pub fn stop(&mut self) {
        self.publish();
        if let Some(mut s) = self.shared.take() {
            if s.timer.timer_set() != 0 {
                unsafe { ngx_del_timer(&mut *s.timer) };
            }
            s.zone.retire(s.slot, alive);
        }
    }
}

unsafe extern "C" fn publish_timer(ev: *mut ngx_event_t) {
    super::guard((), || {
        if let Some(w) = super::worker::get() {
            w.metrics.publish();
        }
        // On while a recycling worker drains too: it is cancelable, so it
        // never holds the exit back.
        ngx_add_timer(ev, PUBLISH_MS);
    })
}
