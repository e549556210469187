//! The per-worker queue in front of the Python threads.
//!
//! `submit` never blocks (it runs on the event loop): a job is accepted when
//! an idle thread can take it or fewer than `queue_limit` jobs already wait;
//! otherwise it is handed back, so that the caller can answer 503 or fall
//! back to an upstream.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

pub struct Pool<J> {
    shared: Arc<Shared<J>>,
}

/// The threads' end of the pool.
pub struct Receiver<J> {
    shared: Arc<Shared<J>>,
}

struct Shared<J> {
    queue: Mutex<Queue<J>>,
    ready: Condvar,
    queue_limit: usize,
}

struct Queue<J> {
    jobs: VecDeque<J>,
    idle: usize,
    closed: bool,
}

impl<J> Pool<J> {
    pub fn new(queue_limit: usize) -> Pool<J> {
        Pool {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue {
                    jobs: VecDeque::new(),
                    idle: 0,
                    closed: false,
                }),
                ready: Condvar::new(),
                queue_limit,
            }),
        }
    }

    pub fn receiver(&self) -> Receiver<J> {
        Receiver {
            shared: self.shared.clone(),
        }
    }

    /// Queue a job, or hand it back when the queue is full.
    pub fn submit(&self, job: J) -> Result<(), J> {
        let mut q = self.shared.queue.lock().unwrap();
        if q.closed || q.jobs.len() >= q.idle + self.shared.queue_limit {
            return Err(job);
        }
        q.jobs.push_back(job);
        drop(q);
        self.shared.ready.notify_one();
        Ok(())
    }

    /// Jobs accepted but not yet picked up by a thread.
    pub fn waiting(&self) -> usize {
        self.shared.queue.lock().unwrap().jobs.len()
    }

    /// Refuse new jobs and let idle threads return `None`.
    pub fn close(&self) {
        self.shared.queue.lock().unwrap().closed = true;
        self.shared.ready.notify_all();
    }
}

impl<J> Receiver<J> {
    /// Block until a job arrives; `None` once the pool is closed and empty.
    pub fn next(&self) -> Option<J> {
        let mut q = self.shared.queue.lock().unwrap();
        q.idle += 1;
        while q.jobs.is_empty() && !q.closed {
            q = self.shared.ready.wait(q).unwrap();
        }
        q.idle -= 1;
        q.jobs.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn wait_idle<J>(pool: &Pool<J>, n: usize) {
        let t = Instant::now();
        while pool.shared.queue.lock().unwrap().idle < n {
            assert!(t.elapsed() < Duration::from_secs(5));
            std::thread::yield_now();
        }
    }

    #[test]
    fn without_threads_only_the_queue_limit_is_accepted() {
        let pool = Pool::new(2);
        assert!(pool.submit(1).is_ok());
        assert!(pool.submit(2).is_ok());
        assert_eq!(pool.submit(3), Err(3));
        assert_eq!(pool.waiting(), 2);
    }

    #[test]
    fn an_idle_thread_takes_a_job_past_a_zero_queue() {
        let pool = Pool::new(0);
        let rx = pool.receiver();
        let t = std::thread::spawn(move || rx.next());
        wait_idle(&pool, 1);
        assert!(pool.submit(10).is_ok());
        assert_eq!(pool.submit(11), Err(11), "one idle thread takes one job");
        assert_eq!(t.join().unwrap(), Some(10));
    }

    #[test]
    fn close_ends_idle_threads() {
        let pool: Pool<u8> = Pool::new(1);
        let rx = pool.receiver();
        let t = std::thread::spawn(move || rx.next());
        wait_idle(&pool, 1);
        pool.close();
        assert_eq!(t.join().unwrap(), None);
        assert_eq!(pool.submit(1), Err(1));
    }
}
