//! The per-worker queue in front of the Python threads.
//!
//! `submit` never blocks (it runs on the event loop): a job is accepted while
//! fewer than `threads + queue_limit` jobs are running or waiting; otherwise
//! it is handed back, so that the caller can answer 503 or fall back to an
//! upstream. Counting running jobs rather than idle threads makes the
//! answer independent of how far the threads have got in starting up.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

pub struct Pool<J> {
    shared: Arc<Shared<J>>,
}

/// One thread's end of the pool.
pub struct Receiver<J> {
    shared: Arc<Shared<J>>,
    /// This thread took a job and has not come back for the next one.
    busy: bool,
}

struct Shared<J> {
    queue: Mutex<Queue<J>>,
    ready: Condvar,
    capacity: usize,
}

struct Queue<J> {
    jobs: VecDeque<J>,
    running: usize,
    closed: bool,
}

impl<J> Pool<J> {
    pub fn new(threads: usize, queue_limit: usize) -> Pool<J> {
        Pool {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue {
                    jobs: VecDeque::new(),
                    running: 0,
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
        }
    }

    /// Queue a job, or hand it back when the pool is full.
    pub fn submit(&self, job: J) -> Result<(), J> {
        let mut q = self.shared.queue.lock().unwrap();
        if q.closed || q.jobs.len() + q.running >= self.shared.capacity {
            return Err(job);
        }
        q.jobs.push_back(job);
        drop(q);
        self.shared.ready.notify_one();
        Ok(())
    }

    /// Refuse new jobs and let idle threads return `None`.
    pub fn close(&self) {
        self.shared.queue.lock().unwrap().closed = true;
        self.shared.ready.notify_all();
    }
}

impl<J> Receiver<J> {
    /// Mark the previous job done and block until the next one arrives;
    /// `None` once the pool is closed and empty.
    pub fn next(&mut self) -> Option<J> {
        let mut q = self.shared.queue.lock().unwrap();
        if std::mem::take(&mut self.busy) {
            q.running -= 1;
        }
        while q.jobs.is_empty() && !q.closed {
            q = self.shared.ready.wait(q).unwrap();
        }
        let job = q.jobs.pop_front()?;
        q.running += 1;
        self.busy = true;
        Some(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn close_ends_idle_threads() {
        let pool: Pool<u8> = Pool::new(1, 1);
        let mut rx = pool.receiver();
        let t = std::thread::spawn(move || rx.next());
        pool.close();
        assert_eq!(t.join().unwrap(), None);
        assert_eq!(pool.submit(1), Err(1));
    }
}
