//! The zone's lock: one `AtomicI32` in shared memory holding the pid of
//! the process that holds it, 0 when free.
//!
//! It guards what is rare and must not be done twice at once (claiming and
//! retiring worker slots, adding to the app table), never publishing or
//! reading. Its holders are nginx processes, which share no mutex a crash
//! would release, so the lock carries its owner's pid instead:
//!
//! - taking it is a compare-and-swap from 0 to the caller's pid;
//! - a waiter whose holder's pid is dead (a worker killed inside the few
//!   microseconds it holds the lock) takes it over with a compare-and-swap
//!   from that pid, so two waiters cannot both steal it;
//! - a waiter gives up after its patience (a second, for the zone) rather
//!   than hang an nginx worker: the operations behind the lock are all
//!   optional (a worker without a slot only goes unmeasured, and a slot
//!   that is not retired is retired later, when its pid is dead);
//! - releasing is a compare-and-swap from the caller's pid, so a holder
//!   wrongly judged dead does not free the lock of the one that took it.
//!
//! What a crash inside the lock leaves half done is for the caller to
//! repair (see the zone's retire sequence). The one case it cannot see is
//! a dead holder whose pid was already reused by a live process: the lock
//! then looks held until that process exits, and every waiter gives up.
//! That needs a crash inside a critical section of microseconds and the
//! pid's reuse in the same window.
//!
//! A holder is a process, not a thread: threads of one process wait for
//! each other (a holder with the caller's own pid is never stolen from),
//! but the zone's callers are nginx's single-threaded event loops anyway.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// Waits this many times by yielding the CPU before sleeping between
/// tries: a holder normally releases within microseconds.
const YIELDS: u32 = 32;
const NAP: Duration = Duration::from_micros(100);

/// The lock, held until dropped.
pub(crate) struct Held<'a> {
    word: &'a AtomicI32,
    pid: i32,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Fails only if someone took the lock over from us: then it is
        // theirs, not ours to free.
        let _ = self
            .word
            .compare_exchange(self.pid, 0, Ordering::Release, Ordering::Relaxed);
    }
}

/// Takes the lock in `word` for process `pid` (> 0), taking it over from a
/// holder that `is_alive` says is dead. `None` after `patience` of waiting
/// for a live holder, or for a `pid` that cannot be a holder.
pub(crate) fn lock<'a>(
    word: &'a AtomicI32,
    pid: i32,
    is_alive: &dyn Fn(i32) -> bool,
    patience: Duration,
) -> Option<Held<'a>> {
    if pid <= 0 {
        return None;
    }
    let mut expected = 0;
    let mut tries = 0u32;
    let mut since = None;
    loop {
        match word.compare_exchange(expected, pid, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return Some(Held { word, pid }),
            // Freed while we were taking it over from a dead holder.
            Err(0) => {
                expected = 0;
                continue;
            }
            Err(holder) if holder != pid && !is_alive(holder) => {
                // Take it over from the dead holder, at once.
                expected = holder;
                continue;
            }
            Err(_) => expected = 0,
        }
        tries += 1;
        if tries < YIELDS {
            std::thread::yield_now();
        } else {
            let start = *since.get_or_insert_with(Instant::now);
            if start.elapsed() >= patience {
                return None;
            }
            std::thread::sleep(NAP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, AtomicU64};

    const SHORT: Duration = Duration::from_millis(30);

    #[test]
    fn take_and_release() {
        let word = AtomicI32::new(0);
        {
            let _held = lock(&word, 42, &|_| true, SHORT).unwrap();
            assert_eq!(word.load(Ordering::Relaxed), 42);
        }
        assert_eq!(word.load(Ordering::Relaxed), 0);
        assert!(lock(&word, 0, &|_| true, SHORT).is_none());
        assert!(lock(&word, -1, &|_| true, SHORT).is_none());
        assert_eq!(word.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_dead_holder_is_taken_over() {
        let word = AtomicI32::new(7);
        let held = lock(&word, 42, &|pid| pid != 7, SHORT).unwrap();
        assert_eq!(word.load(Ordering::Relaxed), 42);
        drop(held);
        assert_eq!(word.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_live_holder_is_waited_for_then_given_up_on() {
        let word = AtomicI32::new(7);
        let start = Instant::now();
        assert!(lock(&word, 42, &|_| true, SHORT).is_none());
        assert!(start.elapsed() >= SHORT);
        assert_eq!(word.load(Ordering::Relaxed), 7);
        // The caller's own pid is never judged dead, whatever is_alive says.
        assert!(lock(&word, 7, &|_| false, SHORT).is_none());
        assert_eq!(word.load(Ordering::Relaxed), 7);
    }

    #[test]
    fn a_released_lock_is_taken_by_a_waiter() {
        let word = AtomicI32::new(0);
        std::thread::scope(|s| {
            let held = lock(&word, 1, &|_| true, SHORT).unwrap();
            let waiter = s.spawn(|| lock(&word, 2, &|_| true, Duration::from_secs(10)).is_some());
            std::thread::sleep(Duration::from_millis(5));
            drop(held);
            assert!(waiter.join().unwrap());
        });
        assert_eq!(word.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn releasing_a_lock_taken_over_leaves_it_to_the_new_holder() {
        let word = AtomicI32::new(0);
        let first = lock(&word, 1, &|_| true, SHORT).unwrap();
        // 2 wrongly judges 1 dead and takes the lock over.
        let second = lock(&word, 2, &|pid| pid != 1, SHORT).unwrap();
        drop(first);
        assert_eq!(word.load(Ordering::Relaxed), 2);
        drop(second);
        assert_eq!(word.load(Ordering::Relaxed), 0);
    }

    /// Threads as processes (a pid each) update a figure with a load and a
    /// store under the lock: an exclusion that fails loses updates or lets
    /// two in at once. Half of the rounds start from a dead holder, so
    /// that the takeover races too.
    #[test]
    fn excludes_under_contention_and_takeover() {
        const THREADS: i32 = 4;
        const ROUNDS: u64 = 2_000;
        const DEAD: i32 = 999;
        let word = AtomicI32::new(0);
        let inside = AtomicU32::new(0);
        let total = AtomicU64::new(0);
        let alive = |pid: i32| pid != DEAD;
        std::thread::scope(|s| {
            for pid in 1..=THREADS {
                let (word, inside, total) = (&word, &inside, &total);
                s.spawn(move || {
                    for round in 0..ROUNDS {
                        if round % 2 == 0 {
                            // A "crash" of a holder: only if the lock is free.
                            let _ =
                                word.compare_exchange(0, DEAD, Ordering::AcqRel, Ordering::Relaxed);
                        }
                        let held = lock(word, pid, &alive, Duration::from_secs(30)).unwrap();
                        assert_eq!(
                            inside.fetch_add(1, Ordering::Relaxed),
                            0,
                            "two holders at once"
                        );
                        let n = total.load(Ordering::Relaxed);
                        std::hint::spin_loop();
                        total.store(n + 1, Ordering::Relaxed);
                        inside.fetch_sub(1, Ordering::Relaxed);
                        drop(held);
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), THREADS as u64 * ROUNDS);
        let left = word.load(Ordering::Relaxed);
        assert!(left == 0 || left == DEAD, "left held by {left}");
    }
}
