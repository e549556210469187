//! The per-worker queue in front of the Python threads.
//!
//! `submit` never blocks (it runs on the event loop): a job is accepted while
//! fewer than `threads + queue_limit` jobs are running or waiting; otherwise
//! it is handed back, so that the caller can answer 503 or fall back to an
//! upstream. Counting running jobs rather than idle threads makes the
//! answer independent of how far the threads have got in starting up.
//!
//! Waking a thread costs two context switches and, under the GIL, a hand-off
//! of the interpreter, so threads are woken sparingly:
//! - a thread that finishes a job takes the next one itself (`try_next`),
//!   without sleeping and, in the runtime, without releasing the GIL;
//! - `submit` wakes a sleeping thread only when no other woken thread is
//!   already on its way to the queue ("searching");
//! - a thread that takes a job and leaves others queued wakes one more
//!   sleeper, so that a backlog spreads over the threads when jobs block
//!   (a request sleeping in I/O does not hold up the queue behind it);
//! - the condition variable is only signalled when a thread sleeps on it.
//!
//! Two kinds of work enter besides new jobs. A job that was admitted
//! before and comes back (a parked response whose client caught up) is put
//! at the front with `resume`, outside the capacity: it holds its place
//! already, and finishing it frees memory. A job that waited too long is
//! taken out again with `cancel_queued`, atomically with respect to the
//! threads: either a thread has it, or no thread ever will.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

pub struct Pool<J> {
    shared: Arc<Shared<J>>,
}

impl<J> Clone for Pool<J> {
    fn clone(&self) -> Self {
        Pool {
            shared: self.shared.clone(),
        }
    }
}

/// One thread's end of the pool.
pub struct Receiver<J> {
    shared: Arc<Shared<J>>,
    /// This thread took a job and has not come back for the next one.
    busy: bool,
    /// This thread was woken and has not looked at the queue since.
    searching: bool,
}

struct Shared<J> {
    queue: Mutex<Queue<J>>,
    ready: Condvar,
    capacity: usize,
}

struct Queue<J> {
    jobs: VecDeque<J>,
    running: usize,
    /// Threads asleep in `wait`.
    sleeping: usize,
    /// Wake-ups handed out that no sleeper has taken yet.
    permits: usize,
    /// Threads woken (or about to be) that have not yet looked at the queue.
    searching: usize,
    closed: bool,
}

/// What `try_next` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<J> {
    Job(J),
    /// Nothing queued: call `wait`.
    Empty,
    /// The pool is closed and empty: the thread should end.
    Closed,
}

impl<J> Queue<J> {
    /// Wake one sleeper unless one is already on its way.
    fn wake_one(&mut self) -> bool {
        if self.searching == 0 && self.sleeping > self.permits {
            self.permits += 1;
            self.searching += 1;
            true
        } else {
            false
        }
    }
}

impl<J> Pool<J> {
    pub fn new(threads: usize, queue_limit: usize) -> Pool<J> {
        Pool {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue {
                    jobs: VecDeque::new(),
                    running: 0,
                    sleeping: 0,
                    permits: 0,
                    searching: 0,
                    closed: false,
                }),
                ready: Condvar::new(),
                capacity: threads + queue_limit,
            }),
        }
    }

    /// A receiver for one thread.
    pub fn receiver(&self) -> Receiver<J> {
        Receiver {
            shared: self.shared.clone(),
            busy: false,
            searching: false,
        }
    }

    /// Queue a job, or hand it back when the pool is full.
    pub fn submit(&self, job: J) -> Result<(), J> {
        let mut q = self.shared.queue.lock().unwrap();
        if q.closed || q.jobs.len() + q.running >= self.shared.capacity {
            return Err(job);
        }
        q.jobs.push_back(job);
        let wake = q.wake_one();
        drop(q);
        if wake {
            self.shared.ready.notify_one();
        }
        Ok(())
    }

    /// Queue a job that was admitted before (a parked response going on)
    /// at the front, whatever the capacity; hands it back once closed.
    pub fn resume(&self, job: J) -> Result<(), J> {
        let mut q = self.shared.queue.lock().unwrap();
        if q.closed {
            return Err(job);
        }
        q.jobs.push_front(job);
        let wake = q.wake_one();
        drop(q);
        if wake {
            self.shared.ready.notify_one();
        }
        Ok(())
    }

    /// Take back the first queued job that `is_it` recognizes, if no thread
    /// has taken it yet.
    pub fn cancel_queued(&self, is_it: impl Fn(&J) -> bool) -> Option<J> {
        let mut q = self.shared.queue.lock().unwrap();
        let i = q.jobs.iter().position(is_it)?;
        q.jobs.remove(i)
    }

    /// Jobs waiting for a thread, and jobs a thread is running.
    pub fn load(&self) -> (usize, usize) {
        let q = self.shared.queue.lock().unwrap();
        (q.jobs.len(), q.running)
    }

    /// Refuse new jobs and let idle threads return `None`.
    pub fn close(&self) {
        self.shared.queue.lock().unwrap().closed = true;
        self.shared.ready.notify_all();
    }
}

impl<J> Receiver<J> {
    /// Mark the previous job done and take the next one without waiting.
    pub fn try_next(&mut self) -> Next<J> {
        let mut q = self.shared.queue.lock().unwrap();
        if std::mem::take(&mut self.busy) {
            q.running -= 1;
        }
        if std::mem::take(&mut self.searching) {
            q.searching -= 1;
        }
        let Some(job) = q.jobs.pop_front() else {
            return if q.closed { Next::Closed } else { Next::Empty };
        };
        q.running += 1;
        self.busy = true;
        // More work than this thread: in case this job blocks, let a
        // sleeper look at the rest.
        let wake = !q.jobs.is_empty() && q.wake_one();
        drop(q);
        if wake {
            self.shared.ready.notify_one();
        }
        Next::Job(job)
    }

    /// Sleep until woken for new work or the pool closes; then call
    /// `try_next` (the work may have been taken by another thread by then).
    pub fn wait(&mut self) {
        let mut q = self.shared.queue.lock().unwrap();
        if std::mem::take(&mut self.busy) {
            q.running -= 1;
        }
        if !q.jobs.is_empty() || q.closed {
            return;
        }
        q.sleeping += 1;
        while q.permits == 0 && !q.closed {
            q = self.shared.ready.wait(q).unwrap();
        }
        q.sleeping -= 1;
        if q.permits > 0 {
            q.permits -= 1;
            self.searching = true;
        }
    }

    /// `try_next`, waiting as long as needed; `None` once the pool is
    /// closed and empty. (The runtime interleaves the two itself, to
    /// release the GIL only around `wait`.)
    #[cfg(test)]
    pub fn next(&mut self) -> Option<J> {
        loop {
            match self.try_next() {
                Next::Job(job) => return Some(job),
                Next::Closed => return None,
                Next::Empty => self.wait(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn capacity_is_threads_plus_queue_whether_or_not_threads_started() {
        let pool = Pool::new(1, 1);
        assert!(pool.submit(1).is_ok());
        assert!(pool.submit(2).is_ok());
        assert_eq!(pool.submit(3), Err(3));
    }

    #[test]
    fn a_running_job_holds_its_place_until_the_thread_comes_back() {
        let pool = Pool::new(1, 0);
        let mut rx = pool.receiver();
        assert!(pool.submit(10).is_ok());
        assert_eq!(rx.next(), Some(10));
        assert_eq!(
            pool.submit(11),
            Err(11),
            "the only thread is busy and there is no queue"
        );
        let t = std::thread::spawn(move || rx.next());
        // The thread came back for more: job 10 is done, so 12 fits.
        while pool.submit(12).is_err() {
            std::thread::yield_now();
        }
        assert_eq!(t.join().unwrap(), Some(12));
    }

    #[test]
    fn a_resumed_job_goes_first_and_past_the_capacity() {
        let pool = Pool::new(1, 1);
        let mut rx = pool.receiver();
        assert!(pool.submit(1).is_ok());
        assert!(pool.submit(2).is_ok());
        assert_eq!(pool.submit(3), Err(3), "full");
        assert!(pool.resume(9).is_ok(), "a resumed job is never refused");
        assert_eq!(rx.next(), Some(9));
        assert_eq!(rx.next(), Some(1));
        pool.close();
        assert_eq!(pool.resume(10), Err(10), "except once the pool is closed");
    }

    #[test]
    fn a_cancelled_job_is_never_run_and_frees_its_place() {
        let pool = Pool::new(1, 1);
        let mut rx = pool.receiver();
        assert!(pool.submit(1).is_ok());
        assert!(pool.submit(2).is_ok());
        assert_eq!(pool.cancel_queued(|&j| j == 2), Some(2));
        assert_eq!(pool.cancel_queued(|&j| j == 2), None, "only once");
        assert_eq!(pool.load(), (1, 0));
        assert!(pool.submit(3).is_ok(), "its place is free again");
        assert_eq!(rx.next(), Some(1));
        assert_eq!(
            pool.cancel_queued(|&j| j == 1),
            None,
            "a job a thread took cannot be cancelled"
        );
        assert_eq!(pool.load(), (1, 1));
        assert_eq!(rx.next(), Some(3));
    }

    #[test]
    fn close_ends_idle_threads() {
        let pool: Pool<u8> = Pool::new(1, 1);
        let mut rx = pool.receiver();
        let t = std::thread::spawn(move || rx.next());
        pool.close();
        assert_eq!(t.join().unwrap(), None);
        assert_eq!(pool.submit(1), Err(1));
    }

    /// Spawn `n` threads that take jobs (senders of their job's result) and
    /// run them until the pool closes.
    fn threads(
        pool: &Pool<Box<dyn FnOnce() + Send>>,
        n: usize,
    ) -> Vec<std::thread::JoinHandle<()>> {
        (0..n)
            .map(|_| {
                let mut rx = pool.receiver();
                std::thread::spawn(move || {
                    while let Some(job) = rx.next() {
                        job();
                    }
                })
            })
            .collect()
    }

    fn sleeping(pool: &Pool<Box<dyn FnOnce() + Send>>) -> usize {
        pool.shared.queue.lock().unwrap().sleeping
    }

    /// `n` threads, all asleep when this returns.
    fn sleeping_threads(
        pool: &Pool<Box<dyn FnOnce() + Send>>,
        n: usize,
    ) -> Vec<std::thread::JoinHandle<()>> {
        let handles = threads(pool, n);
        while sleeping(pool) < n {
            std::thread::yield_now();
        }
        handles
    }

    /// A job that blocks until `release` is sent to (10 s at most), and
    /// reports on `done` whether it was released.
    fn blocked_job(
        release: std::sync::mpsc::Receiver<()>,
        done: std::sync::mpsc::Sender<bool>,
    ) -> Box<dyn FnOnce() + Send> {
        Box::new(move || {
            done.send(release.recv_timeout(Duration::from_secs(10)).is_ok())
                .unwrap()
        })
    }

    #[test]
    fn a_job_queued_behind_a_blocked_one_is_taken_by_another_thread() {
        // Both threads sleep; two jobs arrive back to back, so the second
        // submit wakes no one (the first wake-up is on its way). The job
        // the woken thread takes blocks until the second job has run,
        // which only the other thread can do.
        let pool: Pool<Box<dyn FnOnce() + Send>> = Pool::new(2, 2);
        let handles = sleeping_threads(&pool, 2);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<bool>();
        assert!(pool.submit(blocked_job(rx, done_tx)).is_ok());
        assert!(pool.submit(Box::new(move || tx.send(()).unwrap())).is_ok());
        assert!(
            done_rx.recv().unwrap(),
            "the second job ran while the first blocked"
        );
        pool.close();
        handles.into_iter().for_each(|h| h.join().unwrap());
    }

    #[test]
    fn a_job_submitted_while_a_thread_blocks_wakes_a_sleeper() {
        let pool: Pool<Box<dyn FnOnce() + Send>> = Pool::new(2, 2);
        let handles = sleeping_threads(&pool, 2);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<bool>();
        assert!(pool.submit(blocked_job(rx, done_tx)).is_ok());
        // Once the first job runs (and blocks), a second one must still run.
        while pool.shared.queue.lock().unwrap().running != 1 {
            std::thread::yield_now();
        }
        assert!(pool.submit(Box::new(move || tx.send(()).unwrap())).is_ok());
        assert!(done_rx.recv().unwrap(), "the blocked job was released");
        pool.close();
        handles.into_iter().for_each(|h| h.join().unwrap());
    }

    #[test]
    fn one_submit_wakes_at_most_one_sleeper() {
        let pool: Pool<Box<dyn FnOnce() + Send>> = Pool::new(4, 16);
        let mut receivers: Vec<_> = (0..3).map(|_| pool.receiver()).collect();
        let handles: Vec<_> = receivers
            .drain(..)
            .map(|mut rx| std::thread::spawn(move || rx.wait()))
            .collect();
        while sleeping(&pool) < 3 {
            std::thread::yield_now();
        }
        for _ in 0..5 {
            assert!(pool.submit(Box::new(|| ())).is_ok());
        }
        {
            let q = pool.shared.queue.lock().unwrap();
            assert_eq!(q.searching, 1, "one thread is on its way");
            assert_eq!(q.sleeping - q.permits, 2, "the others sleep on");
        }
        pool.close();
        handles.into_iter().for_each(|h| h.join().unwrap());
    }
}
