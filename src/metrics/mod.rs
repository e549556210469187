//! The module's metrics as plain data: every worker's figures in one
//! shared memory zone. No nginx and no Python here; the nginx side
//! (`http/`) maps the zone and runs the publishing timer.
//!
//! - [`Local`] (`local.rs`): a worker's own figures, counted without a
//!   lock;
//! - [`Zone`] (`zone.rs`): the zone's `#[repr(C)]` layout (atomics only)
//!   and what happens in it; `lock.rs` is its lock, a pid in the zone.

mod local;
mod lock;
mod zone;

pub use local::{
    status_class, AppFigures, Counter, Gauges, Histogram, Local, Outcome, Outcomes,
    RecycleReason, BUCKETS, BUCKET_BOUNDS_US, CLASSES,
};
pub use zone::{
    attach, check_app_name, init, size_for, slots_in, AppId, SlotId, Snapshot, WorkerGauges,
    Zone, ZoneError, ALIGN, LOCK_PATIENCE, MAX_APPS, MAX_NAME, MAX_SLOTS,
};
