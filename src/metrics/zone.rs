//! The shared memory zone's layout, and what workers do in it.
//!
//! ```text
//! Head
//!   header    magic, layout version and sizes, slot count, the lock,
//!             the retire sequence, the number of apps in the table
//!   names     [MAX_APPS] app names (length + 128 bytes)
//!   retired   recycles and [MAX_APPS] app figures of the workers gone
//! Slot × n    owner pid (0: free), gauges, recycles, [MAX_APPS] app figures
//! ```
//!
//! Every field is an atomic integer in a `#[repr(C)]` struct or a
//! fixed-size array of them: no pointer, since each process maps the zone
//! at an address of its own, and no plain integer, since other processes
//! write it. Any bit pattern is a valid value of every field, so the
//! region can be viewed as a zone before it is initialized (`init` then
//! stores zeros into it field by field).
//!
//! Who writes what:
//! - a worker stores its totals into its own slot ([`Zone::publish`]):
//!   plain atomic stores, no lock; storing totals rather than adding
//!   increments makes a publish idempotent;
//! - claiming a slot, retiring one and adding an app take the zone's lock
//!   ([`super::lock`], a pid in the header): they are rare;
//! - a reader ([`Zone::snapshot`]) takes no lock: it sums the retired
//!   totals and every occupied slot. A retire moves a slot's figures into
//!   the totals under a sequence number (odd while it runs) that the
//!   reader checks, so that a reader never sees them in both places or in
//!   neither: counters never go back. A counter read during a publish may
//!   come from before or after it, which is just as good.
//!
//! A slot belongs to a pid. A worker that exits retires its slot after a
//! last publish; one that crashed leaves it occupied, and its last
//! published counters keep counting (readers include every occupied slot,
//! dead or alive) until the next [`Zone::claim_slot`] finds its pid dead
//! and retires it on its behalf. Only the gauges of live workers are
//! shown.

use std::fmt;
use std::mem::{align_of, size_of};
use std::sync::atomic::{fence, AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::local::{AppFigures, Gauges, Local, RecycleReason, APP_FIELDS};
use super::lock::{self, Held};

/// The most apps the zone's table holds. Apps are only ever added (a
/// reload that drops one leaves it in the table, with its figures, until
/// the zone is made again: a change of size, or a restart).
pub const MAX_APPS: usize = 32;

/// The longest app name the table holds, in bytes. A longer name is
/// refused ([`ZoneError::NameTooLong`]) rather than cut: two names cut to
/// the same prefix would share figures.
pub const MAX_NAME: usize = 128;

/// The most worker slots a zone uses, whatever its size: readers visit
/// every slot, and no nginx runs this many workers.
pub const MAX_SLOTS: usize = 4096;

/// How long the lock is waited for before giving up.
pub const LOCK_PATIENCE: Duration = Duration::from_secs(1);

/// "ngxwsgiM", to recognize a zone left by an earlier cycle.
const MAGIC: u64 = u64::from_le_bytes(*b"ngxwsgiM");
/// The layout's version: bump it when the layout changes in a way that
/// the sizes checked by `attach` do not show (the order of fields).
const VERSION: u32 = 1;

#[repr(C)]
struct Header {
    magic: AtomicU64,
    version: AtomicU32,
    slots: AtomicU32,
    slot_size: AtomicU32,
    max_apps: AtomicU32,
    /// The pid holding the lock, 0 when free.
    lock: AtomicI32,
    /// Odd while a retire moves a slot's figures into `retired`.
    retire_seq: AtomicU32,
    /// How many names of `names` are in use; stored after the name.
    apps: AtomicU32,
    _reserved: AtomicU32,
}

#[repr(C)]
struct Name {
    len: AtomicU32,
    bytes: [AtomicU8; MAX_NAME],
}

/// One app's figures, in the order of `AppFigures::fields`.
type Cells = [AtomicU64; APP_FIELDS];

/// The counters of one worker, or of all retired ones.
#[repr(C)]
struct Counts {
    recycles: [AtomicU64; RecycleReason::COUNT],
    apps: [Cells; MAX_APPS],
}

#[repr(C)]
struct Head {
    header: Header,
    names: [Name; MAX_APPS],
    retired: Counts,
}

#[repr(C)]
struct Slot {
    /// The owner's pid, 0 when free.
    pid: AtomicI32,
    _reserved: AtomicU32,
    gauges: [AtomicU64; 4],
    counts: Counts,
}

// The slots follow the head directly, aligned.
const _: () = assert!(size_of::<Head>().is_multiple_of(align_of::<Slot>()));
const _: () = assert!(align_of::<Head>() == align_of::<Slot>());

/// The alignment the region must have: that of `AtomicU64` (8). nginx's
/// shared memory is page-aligned.
pub const ALIGN: usize = align_of::<Head>();

/// The bytes a zone with `slots` worker slots takes.
pub fn size_for(slots: usize) -> usize {
    size_of::<Head>() + slots * size_of::<Slot>()
}

/// The worker slots a region of `len` bytes holds (at most [`MAX_SLOTS`]).
pub fn slots_in(len: usize) -> usize {
    (len.saturating_sub(size_of::<Head>()) / size_of::<Slot>()).min(MAX_SLOTS)
}

/// Checks that `name` fits the app table, without a zone: for `nginx -t`.
pub fn check_app_name(name: &str) -> Result<(), ZoneError> {
    if name.len() > MAX_NAME {
        return Err(ZoneError::NameTooLong {
            name: name.chars().take(40).collect(),
            len: name.len(),
        });
    }
    Ok(())
}

/// What the zone cannot do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneError {
    /// The region of `len` bytes holds not even one worker slot:
    /// `needed` is `size_for(1)`.
    TooSmall { len: usize, needed: usize },
    /// The region's address is not a multiple of [`ALIGN`] (or is null).
    Misaligned { addr: usize },
    /// `attach` found no zone of this layout and size in the region:
    /// `what` differs. The caller initializes it afresh.
    Mismatch { what: &'static str },
    /// The app table is full: `name` is not counted.
    TooManyApps { name: String },
    /// The name (its first 40 characters) is `len` bytes, over [`MAX_NAME`].
    NameTooLong { name: String, len: usize },
    /// The lock was held by live process `holder` for [`LOCK_PATIENCE`].
    Busy { holder: i32 },
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneError::TooSmall { len, needed } => write!(
                f,
                "{len} bytes cannot hold the metrics zone: it needs at least {needed} bytes \
                 ({} for the app table and totals, then {} per worker slot)",
                size_of::<Head>(),
                size_of::<Slot>()
            ),
            ZoneError::Misaligned { addr } => write!(
                f,
                "the metrics zone's memory at {addr:#x} is not aligned to {ALIGN} bytes"
            ),
            ZoneError::Mismatch { what } => write!(
                f,
                "the shared memory holds no metrics zone of this layout ({what} differs)"
            ),
            ZoneError::TooManyApps { name } => write!(
                f,
                "the metrics zone's app table is full ({MAX_APPS} apps): \
                 \"{name}\" is not counted"
            ),
            ZoneError::NameTooLong { name, len } => write!(
                f,
                "the app name \"{name}...\" is {len} bytes; \
                 the metrics zone keeps names of at most {MAX_NAME} bytes"
            ),
            ZoneError::Busy { holder } => write!(
                f,
                "the metrics zone's lock has been held by process {holder} for over {}s",
                LOCK_PATIENCE.as_secs_f64()
            ),
        }
    }
}

impl std::error::Error for ZoneError {}

/// An app in the zone's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppId(u32);

impl AppId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A worker's slot, claimed by the pid it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlotId {
    index: u32,
    pid: i32,
}

impl SlotId {
    pub fn index(self) -> usize {
        self.index as usize
    }

    pub fn pid(self) -> i32 {
        self.pid
    }
}

/// A live worker's gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerGauges {
    pub pid: i32,
    pub gauges: Gauges,
}

/// All workers' figures at one moment (as of each worker's last publish).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every app in the table, in table order: the retired workers' and
    /// every occupied slot's figures summed.
    pub apps: Vec<(String, AppFigures)>,
    /// Recycles by [`RecycleReason`], all workers summed.
    pub recycles: [u64; RecycleReason::COUNT],
    /// The live workers, by pid.
    pub workers: Vec<WorkerGauges>,
}

impl Counts {
    fn cells(&self) -> impl Iterator<Item = &AtomicU64> {
        self.recycles.iter().chain(self.apps.iter().flatten())
    }

    fn zero(&self) {
        self.cells().for_each(|c| c.store(0, Ordering::Relaxed));
    }

    /// `into += self`, cell by cell.
    fn add_to(&self, into: &Counts) {
        for (from, to) in self.cells().zip(into.cells()) {
            to.fetch_add(from.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    /// Adds the recycles and the first `apps.len()` apps into plain sums.
    fn load_into(&self, apps: &mut [[u64; APP_FIELDS]], recycles: &mut [u64]) {
        let sums = recycles.iter_mut().chain(apps.iter_mut().flatten());
        for (sum, cell) in sums.zip(self.cells()) {
            *sum = sum.wrapping_add(cell.load(Ordering::Relaxed));
        }
    }
}

fn store_all<const N: usize>(cells: &[AtomicU64; N], values: [u64; N]) {
    for (c, v) in cells.iter().zip(values) {
        c.store(v, Ordering::Relaxed);
    }
}

/// A view of the zone in this process's memory; cheap to copy.
#[derive(Clone, Copy)]
pub struct Zone<'a> {
    head: &'a Head,
    slots: &'a [Slot],
    patience: Duration,
}

impl fmt::Debug for Zone<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zone")
            .field("slots", &self.slots.len())
            .field("apps", &self.app_names())
            .finish()
    }
}

/// Checks the region and says how many slots it holds.
fn check_region(mem: *mut u8, len: usize) -> Result<usize, ZoneError> {
    if mem.is_null() || !(mem as usize).is_multiple_of(ALIGN) {
        return Err(ZoneError::Misaligned { addr: mem as usize });
    }
    match slots_in(len) {
        0 => Err(ZoneError::TooSmall {
            len,
            needed: size_for(1),
        }),
        n => Ok(n),
    }
}

/// The zone over `slots` slots at `mem`.
///
/// # Safety
/// `mem` is aligned to [`ALIGN`] and valid for reads and writes of
/// `size_for(slots)` bytes for `'a`, and is only accessed through `Zone`s
/// meanwhile (in this process and in the others that map it). Those are
/// the only requirements: every field is an atomic integer, valid with any
/// bits, and atomics may be shared between threads and, at the same bytes,
/// between processes.
unsafe fn view<'a>(mem: *mut u8, slots: usize) -> Zone<'a> {
    // SAFETY: as this function's contract says; the slots start right
    // after the head, which is a multiple of their alignment (asserted
    // above), and `size_for(slots)` covers them all.
    let (head, slots) = unsafe {
        (
            &*(mem as *const Head),
            std::slice::from_raw_parts(mem.add(size_of::<Head>()) as *const Slot, slots),
        )
    };
    Zone {
        head,
        slots,
        patience: LOCK_PATIENCE,
    }
}

/// Makes a fresh zone in the region: every figure zero, no app, no worker.
///
/// Processes that used the region before lose their figures (nginx calls
/// for this when it makes a new zone, or when [`attach`] refused the old
/// one).
///
/// # Safety
/// `mem` is valid for reads and writes of `len` bytes for `'a`, and only
/// accessed through `Zone`s meanwhile, by every process that maps it.
pub unsafe fn init<'a>(mem: *mut u8, len: usize) -> Result<Zone<'a>, ZoneError> {
    let slots = check_region(mem, len)?;
    // SAFETY: aligned (checked) and `size_for(slots) <= len`; the rest is
    // the caller's promise.
    let zone = unsafe { view(mem, slots) };
    zone.reset();
    Ok(zone)
}

/// The zone an earlier nginx cycle made in this region (nginx keeps a
/// shared memory zone across a reload when its name and size are the
/// same), with all its figures; an error when the region holds no zone of
/// this layout and size: then [`init`] it.
///
/// # Safety
/// As for [`init`].
pub unsafe fn attach<'a>(mem: *mut u8, len: usize) -> Result<Zone<'a>, ZoneError> {
    let slots = check_region(mem, len)?;
    // SAFETY: as in `init`.
    let zone = unsafe { view(mem, slots) };
    let h = &zone.head.header;
    let checks = [
        (h.magic.load(Ordering::Acquire) == MAGIC, "magic"),
        (h.version.load(Ordering::Relaxed) == VERSION, "version"),
        (
            h.slot_size.load(Ordering::Relaxed) as usize == size_of::<Slot>(),
            "slot size",
        ),
        (
            h.max_apps.load(Ordering::Relaxed) as usize == MAX_APPS,
            "app table size",
        ),
        (
            h.slots.load(Ordering::Relaxed) as usize == slots,
            "slot count",
        ),
    ];
    match checks.iter().find(|(ok, _)| !ok) {
        Some(&(_, what)) => Err(ZoneError::Mismatch { what }),
        None => Ok(zone),
    }
}

impl<'a> Zone<'a> {
    /// The same zone, waiting `patience` for its lock (tests).
    pub fn with_patience(self, patience: Duration) -> Zone<'a> {
        Zone { patience, ..self }
    }

    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Zeros everything, then writes the header (the magic last, so that
    /// `attach` never accepts a half-made zone).
    fn reset(&self) {
        let h = &self.head.header;
        h.magic.store(0, Ordering::Relaxed);
        h.lock.store(0, Ordering::Relaxed);
        h.retire_seq.store(0, Ordering::Relaxed);
        h.apps.store(0, Ordering::Relaxed);
        h._reserved.store(0, Ordering::Relaxed);
        for name in &self.head.names {
            name.len.store(0, Ordering::Relaxed);
        }
        self.head.retired.zero();
        for slot in self.slots {
            slot.pid.store(0, Ordering::Relaxed);
            store_all(&slot.gauges, [0; 4]);
            slot.counts.zero();
        }
        h.version.store(VERSION, Ordering::Relaxed);
        h.slots.store(self.slots.len() as u32, Ordering::Relaxed);
        h.slot_size
            .store(size_of::<Slot>() as u32, Ordering::Relaxed);
        h.max_apps.store(MAX_APPS as u32, Ordering::Relaxed);
        h.magic.store(MAGIC, Ordering::Release);
    }

    /// Takes the zone's lock, and repairs the retire sequence if the last
    /// holder died in the middle of a retire (some of the dead slot's
    /// figures may then be counted twice: it is retired again whole).
    fn lock(&self, pid: i32, is_alive: &dyn Fn(i32) -> bool) -> Result<Held<'a>, ZoneError> {
        let word = &self.head.header.lock;
        let held = lock::lock(word, pid, is_alive, self.patience).ok_or(ZoneError::Busy {
            holder: word.load(Ordering::Relaxed),
        })?;
        let seq = &self.head.header.retire_seq;
        if seq.load(Ordering::Relaxed) % 2 == 1 {
            seq.fetch_add(1, Ordering::Release);
        }
        Ok(held)
    }

    /// Gives worker `pid` a slot of its own, or `None` when every slot is
    /// held by a live worker (or the lock could not be had): that worker's
    /// figures are then missing from every snapshot, for its whole life.
    ///
    /// Under the lock, first retires every slot whose owner `is_alive`
    /// says is dead (a crashed worker: its last published figures move to
    /// the retired totals) or has `pid` itself (an earlier process with
    /// the same pid is dead by now); then takes the first free slot, with
    /// its figures zeroed.
    pub fn claim_slot(&self, pid: i32, is_alive: impl Fn(i32) -> bool) -> Option<SlotId> {
        let _held = self.lock(pid, &is_alive).ok()?;
        let mut free = None;
        for (i, slot) in self.slots.iter().enumerate() {
            let owner = slot.pid.load(Ordering::Relaxed);
            if owner != 0 && (owner == pid || !is_alive(owner)) {
                self.retire_locked(slot);
            }
            if free.is_none() && slot.pid.load(Ordering::Relaxed) == 0 {
                free = Some(i);
            }
        }
        let index = free?;
        let slot = &self.slots[index];
        store_all(&slot.gauges, [0; 4]);
        slot.counts.zero();
        // After the zeros: a reader that sees the pid sees them too.
        slot.pid.store(pid, Ordering::Release);
        Some(SlotId {
            index: index as u32,
            pid,
        })
    }

    /// Moves the slot's counters into the retired totals and frees it,
    /// inside the retire sequence. Under the lock.
    fn retire_locked(&self, slot: &Slot) {
        let seq = &self.head.header.retire_seq;
        let s = seq.load(Ordering::Relaxed);
        seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        slot.counts.add_to(&self.head.retired);
        slot.pid.store(0, Ordering::Relaxed);
        seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Retires the worker's slot: its counters (not its gauges) join the
    /// retired totals, and the slot is free. A worker calls it as it
    /// exits, after a last [`publish`](Self::publish). `false` when the
    /// slot is not `slot.pid`'s any more, or the lock could not be had
    /// (then the slot is retired later, by a `claim_slot` that finds its
    /// pid dead: nothing is lost).
    pub fn retire(&self, slot: SlotId, is_alive: impl Fn(i32) -> bool) -> bool {
        let Some(s) = self.slots.get(slot.index()) else {
            return false;
        };
        let Ok(_held) = self.lock(slot.pid, &is_alive) else {
            return false;
        };
        if s.pid.load(Ordering::Relaxed) != slot.pid {
            return false;
        }
        self.retire_locked(s);
        true
    }

    /// The app called `name` in the table, added if it is not there yet.
    /// `pid` and `is_alive` are for the lock, as in
    /// [`claim_slot`](Self::claim_slot).
    pub fn app(
        &self,
        name: &str,
        pid: i32,
        is_alive: impl Fn(i32) -> bool,
    ) -> Result<AppId, ZoneError> {
        check_app_name(name)?;
        let _held = self.lock(pid, &is_alive)?;
        let count = self.app_count();
        if let Some(i) = (0..count).find(|&i| self.name(i).as_bytes() == name.as_bytes()) {
            return Ok(AppId(i as u32));
        }
        if count == MAX_APPS {
            return Err(ZoneError::TooManyApps { name: name.into() });
        }
        let entry = &self.head.names[count];
        for (cell, &b) in entry.bytes.iter().zip(name.as_bytes()) {
            cell.store(b, Ordering::Relaxed);
        }
        entry.len.store(name.len() as u32, Ordering::Relaxed);
        // The name is complete before it counts.
        self.head
            .header
            .apps
            .store(count as u32 + 1, Ordering::Release);
        Ok(AppId(count as u32))
    }

    fn app_count(&self) -> usize {
        (self.head.header.apps.load(Ordering::Acquire) as usize).min(MAX_APPS)
    }

    fn name(&self, i: usize) -> String {
        let entry = &self.head.names[i];
        let len = (entry.len.load(Ordering::Relaxed) as usize).min(MAX_NAME);
        let bytes: Vec<u8> = entry.bytes[..len]
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The app table's names, in table order (by [`AppId::index`]).
    pub fn app_names(&self) -> Vec<String> {
        (0..self.app_count()).map(|i| self.name(i)).collect()
    }

    /// Stores the worker's figures into its slot: the gauges, the
    /// recycles, and each app's figures at the zone app `app_ids[i]` of its
    /// local app `i` (local apps with the same zone app are summed). No
    /// lock: atomic stores of totals, so publishing again changes nothing.
    ///
    /// `false` (and nothing stored) when the slot is no longer `slot.pid`'s
    /// (it was retired as a dead pid's: `is_alive` was wrong).
    pub fn publish(&self, slot: SlotId, local: &Local, app_ids: &[AppId], gauges: &Gauges) -> bool {
        let Some(s) = self.slots.get(slot.index()) else {
            return false;
        };
        if s.pid.load(Ordering::Relaxed) != slot.pid {
            return false;
        }
        store_all(&s.gauges, gauges.fields());
        store_all(&s.counts.recycles, *local.recycles());
        let apps = &local.apps()[..local.apps().len().min(app_ids.len())];
        for (i, (figures, &id)) in apps.iter().zip(app_ids).enumerate() {
            if app_ids[..i].contains(&id) {
                continue; // summed in with its first
            }
            let mut sum = *figures;
            for (other, _) in apps
                .iter()
                .zip(app_ids)
                .skip(i + 1)
                .filter(|(_, &o)| o == id)
            {
                sum.add(other);
            }
            store_all(&s.counts.apps[id.index()], sum.fields());
        }
        true
    }

    /// All workers' figures: the retired totals plus every occupied slot's
    /// counters (a crashed worker's too, until its slot is reclaimed),
    /// summed per app; the gauges of the workers `is_alive` says live. No
    /// lock: a reader that meets a retire under way reads again (for at
    /// most the lock's patience), so that the retired slot's figures are
    /// counted once.
    pub fn snapshot(&self, is_alive: impl Fn(i32) -> bool) -> Snapshot {
        let names = self.app_names();
        let h = &self.head.header;
        let deadline = Instant::now() + self.patience;
        let (apps, recycles, occupied) = loop {
            let before = h.retire_seq.load(Ordering::Acquire);
            if before % 2 == 1 && Instant::now() < deadline {
                // A retire is under way: wait for it, unless its process
                // died in it (then the figures stay as they are until the
                // next lock taker repairs the sequence).
                let holder = h.lock.load(Ordering::Relaxed);
                if holder != 0 && is_alive(holder) {
                    std::thread::yield_now();
                    continue;
                }
            }
            let mut apps = vec![[0; APP_FIELDS]; names.len()];
            let mut recycles = [0; RecycleReason::COUNT];
            let mut occupied = Vec::new();
            self.head.retired.load_into(&mut apps, &mut recycles);
            for slot in self.slots {
                let pid = slot.pid.load(Ordering::Acquire);
                if pid != 0 {
                    slot.counts.load_into(&mut apps, &mut recycles);
                    let gauges = slot.gauges.each_ref().map(|g| g.load(Ordering::Relaxed));
                    occupied.push(WorkerGauges {
                        pid,
                        gauges: Gauges::from_fields(gauges),
                    });
                }
            }
            fence(Ordering::Acquire);
            if h.retire_seq.load(Ordering::Relaxed) == before || Instant::now() >= deadline {
                break (apps, recycles, occupied);
            }
        };
        let mut workers: Vec<_> = occupied.into_iter().filter(|w| is_alive(w.pid)).collect();
        workers.sort_by_key(|w| w.pid);
        Snapshot {
            apps: names
                .into_iter()
                .zip(apps.iter().map(AppFigures::from_fields))
                .collect(),
            recycles,
            workers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::local::{Counter, Outcome, Outcomes, BUCKET_BOUNDS_US};
    use crate::metrics::test_rng::Rng;
    use std::cell::RefCell;
    use std::collections::HashSet;

    const MS: Duration = Duration::from_millis(1);

    /// A region of `len` bytes, 8-aligned, as nginx's shared memory would
    /// be; a `Vec` of atomics, so that zones over it may be shared.
    struct Region {
        words: Vec<AtomicU64>,
        len: usize,
    }

    impl Region {
        fn new(len: usize) -> Region {
            Region {
                words: (0..len.div_ceil(8)).map(|_| AtomicU64::new(0)).collect(),
                len,
            }
        }

        fn for_slots(slots: usize) -> Region {
            Region::new(size_for(slots))
        }

        fn ptr(&self) -> *mut u8 {
            self.words.as_ptr() as *mut u8
        }

        fn init(&self) -> Zone<'_> {
            // SAFETY: `words` is 8-aligned, `len` bytes long, and only
            // ever used through zones.
            unsafe { init(self.ptr(), self.len) }.unwrap()
        }

        fn attach(&self) -> Result<Zone<'_>, ZoneError> {
            // SAFETY: as in `init`.
            unsafe { attach(self.ptr(), self.len) }
        }
    }

    fn alive(_: i32) -> bool {
        true
    }

    /// A simulated worker: its slot, figures and zone apps.
    struct Worker {
        slot: SlotId,
        local: Local,
        app_ids: Vec<AppId>,
    }

    impl Worker {
        fn start(zone: Zone, pid: i32, apps: &[&str]) -> Worker {
            let app_ids = apps
                .iter()
                .map(|a| zone.app(a, pid, alive).unwrap())
                .collect();
            Worker {
                slot: zone.claim_slot(pid, alive).unwrap(),
                local: Local::new(apps.len()),
                app_ids,
            }
        }

        fn publish(&self, zone: Zone, gauges: Gauges) {
            assert!(zone.publish(self.slot, &self.local, &self.app_ids, &gauges));
        }
    }

    fn gauges(n: u64) -> Gauges {
        Gauges {
            busy_threads: n,
            queued: n + 1,
            parked: n + 2,
            rss_bytes: n << 20,
        }
    }

    fn requests(s: &Snapshot, app: usize) -> [u64; 5] {
        s.apps[app].1.requests
    }

    fn pids(s: &Snapshot) -> Vec<i32> {
        s.workers.iter().map(|w| w.pid).collect()
    }

    #[test]
    fn sizes() {
        // Exact, so that a change of layout is a visible decision.
        assert_eq!(size_of::<Header>(), 40);
        assert_eq!(size_of::<Head>(), 16_576);
        assert_eq!(size_of::<Slot>(), 12_352);
        assert_eq!(size_for(1), 28_928);
        assert_eq!(size_for(64), 807_104);
        for n in [1, 2, 3, 64, 100] {
            assert_eq!(slots_in(size_for(n)), n);
            assert_eq!(slots_in(size_for(n) + size_of::<Slot>() - 1), n);
            assert_eq!(slots_in(size_for(n) - 1), n - 1);
        }
        assert_eq!(slots_in(0), 0);
        assert_eq!(slots_in(size_of::<Head>()), 0);
        assert_eq!(slots_in(size_for(MAX_SLOTS + 10)), MAX_SLOTS);
    }

    #[test]
    fn too_small_names_the_minimum() {
        for len in [0, 8192, size_for(1) - 1] {
            let region = Region::new(len);
            // SAFETY: as in `Region::init`.
            let e = unsafe { init(region.ptr(), len) }.unwrap_err();
            assert_eq!(
                e,
                ZoneError::TooSmall {
                    len,
                    needed: 28_928
                }
            );
            assert_eq!(unsafe { attach(region.ptr(), len) }.unwrap_err(), e);
        }
        let e = ZoneError::TooSmall {
            len: 8192,
            needed: size_for(1),
        };
        assert_eq!(
            e.to_string(),
            "8192 bytes cannot hold the metrics zone: it needs at least 28928 bytes \
             (16576 for the app table and totals, then 12352 per worker slot)"
        );
        let region = Region::for_slots(1);
        assert_eq!(region.init().slot_count(), 1);
    }

    #[test]
    fn misaligned_or_null_regions_are_refused() {
        let region = Region::new(size_for(2) + 8);
        let odd = region.ptr().wrapping_add(4);
        // SAFETY: refused before any access.
        let e = unsafe { init(odd, size_for(2)) }.unwrap_err();
        assert_eq!(e, ZoneError::Misaligned { addr: odd as usize });
        assert!(e.to_string().ends_with("is not aligned to 8 bytes"));
        let e = unsafe { attach(std::ptr::null_mut(), size_for(2)) }.unwrap_err();
        assert_eq!(e, ZoneError::Misaligned { addr: 0 });
    }

    #[test]
    fn init_makes_a_fresh_zone_over_any_bytes() {
        let region = Region::for_slots(3);
        region
            .words
            .iter()
            .for_each(|w| w.store(u64::MAX, Ordering::Relaxed));
        let zone = region.init();
        assert_eq!(zone.slot_count(), 3);
        assert_eq!(zone.snapshot(alive), Snapshot::default());
        assert!(zone.app_names().is_empty());
        let w = Worker::start(zone, 10, &["a"]);
        w.publish(zone, Gauges::default());
        let s = zone.snapshot(alive);
        assert_eq!(s.apps, [("a".to_string(), AppFigures::default())]);
        assert_eq!(pids(&s), [10]);
    }

    #[test]
    fn attach_checks_magic_version_and_sizes() {
        let region = Region::for_slots(2);
        let mismatch = |what| Err(ZoneError::Mismatch { what });
        assert_eq!(region.attach().map(|_| ()), mismatch("magic"));
        region.init();
        assert!(region.attach().is_ok());
        // Another size over the same memory: another slot count.
        let bigger = unsafe { attach(region.ptr(), region.len + size_of::<Slot>()) };
        assert_eq!(bigger.map(|_| ()), mismatch("slot count"));
        let zone = region.attach().unwrap();
        zone.head
            .header
            .version
            .store(VERSION + 1, Ordering::Relaxed);
        assert_eq!(region.attach().map(|_| ()), mismatch("version"));
        zone.head.header.version.store(VERSION, Ordering::Relaxed);
        zone.head.header.slot_size.store(8, Ordering::Relaxed);
        assert_eq!(region.attach().map(|_| ()), mismatch("slot size"));
        zone.head
            .header
            .slot_size
            .store(size_of::<Slot>() as u32, Ordering::Relaxed);
        zone.head.header.max_apps.store(1, Ordering::Relaxed);
        assert_eq!(region.attach().map(|_| ()), mismatch("app table size"));
        assert_eq!(
            ZoneError::Mismatch { what: "version" }.to_string(),
            "the shared memory holds no metrics zone of this layout (version differs)"
        );
    }

    #[test]
    fn workers_sum_into_one_snapshot() {
        let region = Region::for_slots(4);
        let zone = region.init();
        let mut w1 = Worker::start(zone, 101, &["a", "b"]);
        let mut w2 = Worker::start(zone, 102, &["b"]);
        assert_ne!(w1.slot.index(), w2.slot.index());

        w1.local.record(0, 200, Outcome::Ok, Some(MS), Some(2 * MS));
        w1.local.record(0, 404, Outcome::Ok, Some(MS), Some(MS));
        w1.local
            .record(1, 500, Outcome::Exception, Some(MS), Some(MS));
        w2.local.record(0, 200, Outcome::Ok, Some(3 * MS), Some(MS));
        w2.local.record(0, 503, Outcome::Rejected, None, None);
        w2.local.record(
            0,
            504,
            Outcome::QueueTimeout | Outcome::Fallback,
            Some(MS),
            None,
        );

        // Nothing is shared before a publish.
        let s = zone.snapshot(alive);
        assert_eq!(s.apps.len(), 2);
        assert!(s.apps.iter().all(|(_, f)| *f == AppFigures::default()));
        assert_eq!(pids(&s), [101, 102]);

        w1.publish(zone, gauges(1));
        w2.publish(zone, gauges(5));
        let s = zone.snapshot(alive);
        assert_eq!(s.apps[0].0, "a");
        assert_eq!(s.apps[1].0, "b");
        assert_eq!(requests(&s, 0), [0, 1, 0, 1, 0]);
        assert_eq!(requests(&s, 1), [0, 1, 0, 0, 3]);
        let b = &s.apps[1].1;
        assert_eq!(b.counter(Counter::Exceptions), 1);
        assert_eq!(b.counter(Counter::Rejections), 1);
        assert_eq!(b.counter(Counter::QueueTimeouts), 1);
        assert_eq!(b.counter(Counter::Fallbacks), 1);
        assert_eq!(b.counter(Counter::Aborted), 0);
        assert_eq!((b.queue_wait.count, b.queue_wait.sum_us), (3, 5000));
        assert_eq!((b.app_time.count, b.app_time.sum_us), (2, 2000));
        assert_eq!(b.queue_wait.buckets[0], 2); // 1 ms twice
        assert_eq!(b.queue_wait.buckets[2], 1); // 3 ms: le="0.005"
        let a = &s.apps[0].1;
        let mut expected_a = AppFigures::default();
        expected_a.add(&w1.local.apps()[0]);
        assert_eq!(*a, expected_a);
        assert_eq!(
            s.workers,
            [
                WorkerGauges {
                    pid: 101,
                    gauges: gauges(1)
                },
                WorkerGauges {
                    pid: 102,
                    gauges: gauges(5)
                }
            ]
        );

        // Publishing again, and again after more requests: totals, not adds.
        w1.publish(zone, gauges(2));
        w1.publish(zone, gauges(2));
        assert_eq!(requests(&zone.snapshot(alive), 0), [0, 1, 0, 1, 0]);
        w1.local.record(0, 101, Outcome::Ok, None, None);
        w1.publish(zone, gauges(2));
        let s = zone.snapshot(alive);
        assert_eq!(requests(&s, 0), [1, 1, 0, 1, 0]);
        assert_eq!(s.workers[0].gauges, gauges(2));
    }

    #[test]
    fn a_retired_worker_stays_in_the_totals() {
        let region = Region::for_slots(1);
        let zone = region.init();
        let mut w = Worker::start(zone, 7, &["a"]);
        w.local.record(0, 200, Outcome::Ok, Some(MS), Some(MS));
        w.local.recycle(RecycleReason::MaxRequests);
        w.publish(zone, gauges(3));
        assert!(zone.retire(w.slot, alive));
        let s = zone.snapshot(alive);
        assert_eq!(requests(&s, 0), [0, 1, 0, 0, 0]);
        assert_eq!(s.recycles, [1, 0, 0]);
        assert!(s.workers.is_empty());
        // Retired once only; the slot is no longer its.
        assert!(!zone.retire(w.slot, alive));
        assert!(!zone.publish(w.slot, &w.local, &w.app_ids, &gauges(3)));
        assert_eq!(requests(&zone.snapshot(alive), 0), [0, 1, 0, 0, 0]);

        // The one slot is free again, and starts from zero.
        let mut next = Worker::start(zone, 8, &["a"]);
        assert_eq!(next.slot.index(), w.slot.index());
        next.local.record(0, 302, Outcome::Ok, None, None);
        next.local.recycle(RecycleReason::MaxRss);
        next.publish(zone, gauges(0));
        let s = zone.snapshot(alive);
        assert_eq!(requests(&s, 0), [0, 1, 1, 0, 0]);
        assert_eq!(s.recycles, [1, 1, 0]);
        assert_eq!(pids(&s), [8]);
    }

    #[test]
    fn a_crashed_workers_slot_is_reclaimed_with_its_figures() {
        let region = Region::for_slots(2);
        let zone = region.init();
        let dead = RefCell::new(HashSet::new());
        let is_alive = |pid| !dead.borrow().contains(&pid);
        let mut w1 = Worker::start(zone, 1, &["a"]);
        let mut w2 = Worker::start(zone, 2, &["a"]);
        w1.local.record(0, 200, Outcome::Ok, None, None);
        w1.publish(zone, gauges(1));
        w1.local.record(0, 200, Outcome::Ok, None, None); // never published
        w2.local.record(0, 500, Outcome::Exception, None, None);
        w2.publish(zone, gauges(2));
        assert_eq!(zone.claim_slot(3, is_alive), None); // both slots held

        dead.borrow_mut().insert(1);
        // Until reclaimed, its counters count; its gauges are gone.
        let s = zone.snapshot(is_alive);
        assert_eq!(requests(&s, 0), [0, 1, 0, 0, 1]);
        assert_eq!(pids(&s), [2]);

        let w3 = zone.claim_slot(3, is_alive).unwrap();
        assert_eq!(w3.index(), w1.slot.index());
        let s = zone.snapshot(is_alive);
        assert_eq!(requests(&s, 0), [0, 1, 0, 0, 1]);
        assert_eq!(pids(&s), [2, 3]);
        // The dead worker's publishing or retiring finds the slot not its.
        assert!(!zone.publish(w1.slot, &w1.local, &w1.app_ids, &gauges(1)));
        assert!(!zone.retire(w1.slot, is_alive));
        assert_eq!(requests(&zone.snapshot(is_alive), 0), [0, 1, 0, 0, 1]);
    }

    #[test]
    fn a_reused_pid_retires_its_predecessors_slot() {
        let region = Region::for_slots(2);
        let zone = region.init();
        let mut old = Worker::start(zone, 5, &["a"]);
        old.local.record(0, 200, Outcome::Ok, None, None);
        old.publish(zone, gauges(1));
        // Process 5 crashed and its pid went to a new worker: still alive.
        let new = zone.claim_slot(5, alive).unwrap();
        assert_eq!(new.index(), old.slot.index());
        let s = zone.snapshot(alive);
        assert_eq!(requests(&s, 0), [0, 1, 0, 0, 0]);
        assert_eq!(
            s.workers,
            [WorkerGauges {
                pid: 5,
                gauges: Gauges::default()
            }]
        );
    }

    #[test]
    fn reattaching_after_a_reload_keeps_everything() {
        let region = Region::for_slots(3);
        {
            let zone = region.init();
            let mut w = Worker::start(zone, 1, &["a", "b"]);
            w.local.record(1, 200, Outcome::Ok, Some(MS), Some(MS));
            w.local.recycle(RecycleReason::RequestTimeout);
            w.publish(zone, gauges(1));
            assert!(zone.retire(w.slot, alive));
            let mut old = Worker::start(zone, 2, &["a"]);
            old.local.record(0, 204, Outcome::Ok, None, None);
            old.publish(zone, gauges(2));
        }
        // The new cycle: the same memory, another configuration.
        let zone = region.attach().unwrap();
        assert_eq!(zone.app_names(), ["a", "b"]);
        assert_eq!(zone.app("b", 9, alive), Ok(AppId(1)));
        assert_eq!(zone.app("c", 9, alive), Ok(AppId(2)));
        let mut w = Worker::start(zone, 3, &["c", "a"]);
        assert_eq!(w.app_ids, [AppId(2), AppId(0)]);
        w.local.record(0, 200, Outcome::Ok, None, None);
        w.local.record(1, 200, Outcome::Ok, None, None);
        w.publish(zone, gauges(3));
        let s = zone.snapshot(alive);
        let names: Vec<_> = s.apps.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(requests(&s, 0), [0, 2, 0, 0, 0]); // old worker 2 and new 3
        assert_eq!(requests(&s, 1), [0, 1, 0, 0, 0]); // retired before the reload
        assert_eq!(requests(&s, 2), [0, 1, 0, 0, 0]);
        assert_eq!(s.recycles, [0, 0, 1]);
        assert_eq!(pids(&s), [2, 3]);
    }

    #[test]
    fn the_app_table_fills_up() {
        let region = Region::for_slots(1);
        let zone = region.init();
        for i in 0..MAX_APPS {
            assert_eq!(zone.app(&format!("app{i}"), 1, alive), Ok(AppId(i as u32)));
        }
        assert_eq!(zone.app("app7", 1, alive), Ok(AppId(7)));
        let e = zone.app("one.more:app", 1, alive).unwrap_err();
        assert_eq!(
            e,
            ZoneError::TooManyApps {
                name: "one.more:app".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "the metrics zone's app table is full (32 apps): \"one.more:app\" is not counted"
        );
        assert_eq!(zone.app_names().len(), MAX_APPS);
        assert_eq!(zone.snapshot(alive).apps.len(), MAX_APPS);
    }

    #[test]
    fn names_over_128_bytes_are_refused_not_cut() {
        let region = Region::for_slots(1);
        let zone = region.init();
        let longest = "é".repeat(MAX_NAME / 2);
        assert_eq!(longest.len(), MAX_NAME);
        assert_eq!(check_app_name(&longest), Ok(()));
        assert_eq!(zone.app(&longest, 1, alive), Ok(AppId(0)));
        let too_long = format!("{longest}x");
        let e = zone.app(&too_long, 1, alive).unwrap_err();
        assert_eq!(check_app_name(&too_long), Err(e.clone()));
        assert_eq!(
            e,
            ZoneError::NameTooLong {
                name: "é".repeat(40),
                len: 129
            }
        );
        assert!(e
            .to_string()
            .ends_with("...\" is 129 bytes; the metrics zone keeps names of at most 128 bytes"));
        assert_eq!(zone.app_names(), [longest]);
        assert_eq!(zone.app("", 1, alive), Ok(AppId(1)));
        assert_eq!(zone.app("", 1, alive), Ok(AppId(1)));
    }

    #[test]
    fn local_apps_with_one_zone_app_are_summed() {
        let region = Region::for_slots(1);
        let zone = region.init();
        let mut w = Worker::start(zone, 1, &["a", "b", "a"]);
        assert_eq!(w.app_ids, [AppId(0), AppId(1), AppId(0)]);
        w.local.record(0, 200, Outcome::Ok, None, None);
        w.local.record(2, 200, Outcome::Ok, None, None);
        w.local.record(2, 500, Outcome::Ok, None, None);
        w.local.record(1, 400, Outcome::Ok, None, None);
        w.publish(zone, gauges(0));
        w.publish(zone, gauges(0));
        let s = zone.snapshot(alive);
        assert_eq!(requests(&s, 0), [0, 2, 0, 0, 1]);
        assert_eq!(requests(&s, 1), [0, 0, 0, 1, 0]);
        // Fewer ids than apps: the rest is not published.
        w.local.record(2, 200, Outcome::Ok, None, None);
        assert!(zone.publish(w.slot, &w.local, &w.app_ids[..2], &gauges(0)));
        assert_eq!(requests(&zone.snapshot(alive), 0), [0, 1, 0, 0, 0]);
    }

    #[test]
    fn a_live_holder_makes_locked_calls_give_up() {
        let region = Region::for_slots(2);
        let zone = region.init().with_patience(Duration::from_millis(20));
        let mut w = Worker::start(zone, 1, &["a"]);
        w.local.record(0, 200, Outcome::Ok, None, None);
        w.publish(zone, gauges(0));
        zone.head.header.lock.store(77, Ordering::Relaxed);
        assert_eq!(zone.app("b", 2, alive), Err(ZoneError::Busy { holder: 77 }));
        assert_eq!(zone.claim_slot(2, alive), None);
        assert!(!zone.retire(w.slot, alive));
        // Neither publishing nor reading wait for it.
        w.local.record(0, 200, Outcome::Ok, None, None);
        w.publish(zone, gauges(0));
        assert_eq!(requests(&zone.snapshot(alive), 0), [0, 2, 0, 0, 0]);
        // Holder 77 dies; worker 1 exited without retiring: both mended.
        let is_alive = |pid| pid != 77 && pid != 1;
        let next = zone.claim_slot(2, is_alive).unwrap();
        assert_eq!(next.index(), 0);
        let s = zone.snapshot(is_alive);
        assert_eq!(requests(&s, 0), [0, 2, 0, 0, 0]);
        assert_eq!(pids(&s), [2]);
        assert_eq!(zone.head.header.lock.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_retire_cut_short_by_a_crash_is_repaired() {
        let region = Region::for_slots(1);
        let zone = region.init();
        let mut w = Worker::start(zone, 1, &["a"]);
        w.local.record(0, 200, Outcome::Ok, None, None);
        w.publish(zone, gauges(0));
        // Holder 66 died inside a retire, before adding anything.
        zone.head.header.lock.store(66, Ordering::Relaxed);
        zone.head.header.retire_seq.store(1, Ordering::Relaxed);
        // A reader still answers, with what is there.
        let is_alive = |pid| pid != 66;
        assert_eq!(requests(&zone.snapshot(is_alive), 0), [0, 1, 0, 0, 0]);
        // One that believes the holder alive waits for it, then answers.
        let zone = zone.with_patience(Duration::from_millis(20));
        let start = Instant::now();
        assert_eq!(requests(&zone.snapshot(alive), 0), [0, 1, 0, 0, 0]);
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(zone.retire(w.slot, is_alive));
        assert_eq!(zone.head.header.retire_seq.load(Ordering::Relaxed), 4);
        assert_eq!(requests(&zone.snapshot(alive), 0), [0, 1, 0, 0, 0]);
    }

    // ---- randomized, fixed seeds ----

    /// None, a bucket bound, just over one, or anything up to 90 s.
    fn random_duration(rng: &mut Rng) -> Option<Duration> {
        let bounds = &BUCKET_BOUNDS_US;
        match rng.below(4) {
            0 => None,
            1 => Some(Duration::from_micros(rng.pick(bounds))),
            2 => Some(Duration::from_micros(rng.pick(bounds) + 1)),
            _ => Some(Duration::from_nanos(rng.next() % 90_000_000_000)),
        }
    }

    /// What a simulated worker has published: its zone apps and figures
    /// as of its last publish (what the zone must show for it forever).
    struct Sim {
        pid: i32,
        slot: Option<SlotId>,
        local: Local,
        app_ids: Vec<AppId>,
        published: Option<(Local, Gauges)>,
        gone: bool,
    }

    fn expected(sims: &[Sim], apps: usize) -> (Vec<AppFigures>, [u64; 3], Vec<WorkerGauges>) {
        let mut figures = vec![AppFigures::default(); apps];
        let mut recycles = [0; 3];
        let mut workers = Vec::new();
        for sim in sims.iter().filter(|s| s.slot.is_some()) {
            if !sim.gone {
                let gauges = sim.published.as_ref().map_or(Gauges::default(), |p| p.1);
                workers.push(WorkerGauges {
                    pid: sim.pid,
                    gauges,
                });
            }
            let Some((local, _)) = &sim.published else {
                continue;
            };
            for (f, id) in local.apps().iter().zip(&sim.app_ids) {
                figures[id.index()].add(f);
            }
            for (r, n) in recycles.iter_mut().zip(local.recycles()) {
                *r += n;
            }
        }
        workers.sort_by_key(|w| w.pid);
        (figures, recycles, workers)
    }

    fn check(zone: Zone, sims: &[Sim], is_alive: impl Fn(i32) -> bool, seed: u64, step: usize) {
        let s = zone.snapshot(is_alive);
        let (figures, recycles, workers) = expected(sims, s.apps.len());
        let got: Vec<_> = s.apps.iter().map(|(_, f)| *f).collect();
        assert_eq!(got, figures, "seed {seed} step {step}");
        assert_eq!(s.recycles, recycles, "seed {seed} step {step}");
        assert_eq!(s.workers, workers, "seed {seed} step {step}");
    }

    #[test]
    fn random_workers_retirements_crashes_and_reloads() {
        let names = ["a", "b:app", "c.d:e", "f", "g"];
        let outcomes = Outcome::ALL;
        for seed in 1..=40u64 {
            let mut rng = Rng::new(seed);
            let region = Region::for_slots(1 + rng.below(5));
            let mut zone = region.init();
            let dead = RefCell::new(HashSet::new());
            let is_alive = |pid: i32| !dead.borrow().contains(&pid);
            let mut sims: Vec<Sim> = Vec::new();
            let mut next_pid = 100;
            for step in 0..400 {
                let live: Vec<usize> = (0..sims.len()).filter(|&i| !sims[i].gone).collect();
                match rng.below(20) {
                    // A worker starts (sometimes with a dead worker's pid).
                    0 | 1 => {
                        let reused: Vec<i32> = dead.borrow().iter().copied().collect();
                        let pid = if !reused.is_empty() && rng.chance(4) {
                            rng.pick(&reused)
                        } else {
                            next_pid += 1;
                            next_pid
                        };
                        dead.borrow_mut().remove(&pid);
                        // A dead worker of that pid is gone from the gauges.
                        let n = 1 + rng.below(3);
                        let apps: Vec<&str> = (0..n).map(|_| rng.pick(&names)).collect();
                        let app_ids = apps
                            .iter()
                            .map(|a| zone.app(a, pid, is_alive).unwrap())
                            .collect();
                        let slot = zone.claim_slot(pid, is_alive);
                        let free = zone.slots.len()
                            > sims.iter().filter(|s| s.slot.is_some() && !s.gone).count();
                        assert_eq!(slot.is_some(), free, "seed {seed} step {step}");
                        sims.push(Sim {
                            pid,
                            slot,
                            local: Local::new(n),
                            app_ids,
                            published: None,
                            gone: false,
                        });
                    }
                    // It exits: a last publish, then retire.
                    2 if !live.is_empty() => {
                        let sim = &mut sims[rng.pick(&live)];
                        if rng.chance(3) {
                            sim.local.recycle(rng.pick(&RecycleReason::ALL));
                        }
                        if let Some(slot) = sim.slot {
                            assert!(zone.publish(slot, &sim.local, &sim.app_ids, &gauges(0)));
                            assert!(zone.retire(slot, is_alive));
                            sim.published = Some((sim.local.clone(), gauges(0)));
                        }
                        sim.gone = true;
                        dead.borrow_mut().insert(sim.pid);
                    }
                    // It crashes: what it did not publish is lost.
                    3 if !live.is_empty() => {
                        let sim = &mut sims[rng.pick(&live)];
                        sim.gone = true;
                        dead.borrow_mut().insert(sim.pid);
                    }
                    // A reload: the zone is attached again.
                    4 => {
                        zone = region.attach().unwrap();
                    }
                    5..=7 if !live.is_empty() => {
                        let sim = &mut sims[rng.pick(&live)];
                        let g = gauges(rng.below(100) as u64);
                        if let Some(slot) = sim.slot {
                            assert!(zone.publish(slot, &sim.local, &sim.app_ids, &g));
                            sim.published = Some((sim.local.clone(), g));
                        }
                    }
                    _ if !live.is_empty() => {
                        let sim = &mut sims[rng.pick(&live)];
                        let app = rng.below(sim.local.apps().len());
                        let status = rng.pick(&[0, 100, 200, 201, 302, 404, 499, 500, 503, 600]);
                        let mut outcome = Outcomes::from(rng.pick(&outcomes));
                        if rng.chance(5) {
                            outcome = outcome | rng.pick(&outcomes);
                        }
                        let (queue_wait, app_time) =
                            (random_duration(&mut rng), random_duration(&mut rng));
                        sim.local.record(app, status, outcome, queue_wait, app_time);
                    }
                    _ => {}
                }
                if rng.chance(10) {
                    check(zone, &sims, is_alive, seed, step);
                }
            }
            check(zone, &sims, is_alive, seed, usize::MAX);
        }
    }

    // ---- real threads as workers ----

    /// Threads as worker processes (a pid each) claim and retire the few
    /// slots in turn, checking that no slot ever has two owners, and add
    /// apps: a lock that let two in at once would hand a slot out twice,
    /// or an app two ids.
    #[test]
    fn threads_never_share_a_slot_or_an_app() {
        const THREADS: i32 = 4;
        const ROUNDS: u64 = 1000;
        let region = Region::for_slots(3);
        let zone = region.init().with_patience(Duration::from_secs(30));
        let owners: Vec<AtomicI32> = (0..zone.slot_count()).map(|_| AtomicI32::new(0)).collect();
        let ids: Vec<Vec<(String, AppId)>> = std::thread::scope(|s| {
            let threads: Vec<_> = (1..=THREADS)
                .map(|pid| {
                    let owners = &owners;
                    s.spawn(move || {
                        let mut ids = Vec::new();
                        for round in 0..ROUNDS {
                            let name = format!("app{}", (round as i32 + pid) % 8);
                            let id = zone.app(&name, pid, alive).unwrap();
                            ids.push((name, id));
                            let slot = loop {
                                match zone.claim_slot(pid, alive) {
                                    Some(slot) => break slot,
                                    None => std::thread::yield_now(), // all 3 taken
                                }
                            };
                            let owner = &owners[slot.index()];
                            assert_eq!(owner.swap(pid, Ordering::AcqRel), 0, "slot shared");
                            let mut local = Local::new(1);
                            local.record(0, 200, Outcome::Ok, Some(MS), None);
                            assert!(zone.publish(slot, &local, &[id], &gauges(0)));
                            assert_eq!(owner.swap(0, Ordering::AcqRel), pid, "slot shared");
                            assert!(zone.retire(slot, alive));
                        }
                        ids
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let names = zone.app_names();
        assert_eq!(names.len(), 8);
        for (name, id) in ids.iter().flatten() {
            assert_eq!(&names[id.index()], name);
        }
        let s = zone.snapshot(alive);
        let total: u64 = s.apps.iter().map(|(_, f)| f.requests[1]).sum();
        assert_eq!(total, THREADS as u64 * ROUNDS);
        let waits: u64 = s.apps.iter().map(|(_, f)| f.queue_wait.count).sum();
        assert_eq!(waits, total);
        assert!(s.workers.is_empty());
    }

    /// Workers publish and retire while a reader takes snapshots: what
    /// the reader sees never goes back (a retire seen half done would show
    /// a worker's figures twice, then once), and ends exact.
    #[test]
    fn a_reader_sees_publishes_and_retires_only_grow() {
        const WORKERS: i32 = 2;
        const LIVES: u64 = 200;
        const REQUESTS: u64 = 20;
        let region = Region::for_slots(WORKERS as usize);
        let zone = region.init().with_patience(Duration::from_secs(30));
        let app = zone.app("a", 1, alive).unwrap();
        let running = AtomicU32::new(WORKERS as u32);
        std::thread::scope(|s| {
            for w in 0..WORKERS {
                let running = &running;
                s.spawn(move || {
                    for life in 0..LIVES {
                        // A new process each life.
                        let pid = 1000 + w * 1000 + life as i32;
                        let slot = zone.claim_slot(pid, alive).unwrap();
                        let mut local = Local::new(1);
                        for _ in 0..REQUESTS {
                            local.record(0, 200, Outcome::Ok, None, Some(MS));
                            zone.publish(slot, &local, &[app], &gauges(1));
                        }
                        assert!(zone.retire(slot, alive));
                    }
                    running.fetch_sub(1, Ordering::Release);
                });
            }
            s.spawn(|| {
                let mut last = 0;
                let mut snapshots = 0;
                while running.load(Ordering::Acquire) > 0 || snapshots == 0 {
                    let s = zone.snapshot(alive);
                    let f = &s.apps[0].1;
                    assert_eq!(f.requests.iter().sum::<u64>(), f.requests[1]);
                    let now = f.requests[1];
                    assert!(now >= last, "went back from {last} to {now}");
                    assert!(now <= WORKERS as u64 * LIVES * REQUESTS);
                    last = now;
                    snapshots += 1;
                }
            });
        });
        let s = zone.snapshot(alive);
        let f = &s.apps[0].1;
        assert_eq!(f.requests[1], WORKERS as u64 * LIVES * REQUESTS);
        assert_eq!(f.app_time.count, f.requests[1]);
        assert_eq!(f.app_time.sum_us, f.requests[1] * 1000);
        assert!(s.workers.is_empty());
    }
}
