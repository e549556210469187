//! The hand-off between the Python side of one request (the producer: a
//! WSGI thread, or the ASGI loop) and the nginx event loop (the consumer).
//! It carries WSGI and ASGI responses alike.
//!
//! The producer queues response events; the consumer drains them whenever it
//! is woken. The queue is bounded in bytes (`high_water`). A producer that
//! gets ahead of the client does not hold its thread: it *parks*, leaving a
//! continuation that the consumer calls once it has drained the queue and
//! the client has taken what it was given (or the client is gone). Only a
//! producer that must block by its contract (WSGI's `write()`) waits for
//! space, with the GIL released. The consumer never blocks: `take`,
//! `resume_parked` and `cancel` only hold the lock for a moment.

mod chunk;
mod clock;
mod file_range;
pub mod head;

pub use chunk::{release_dropped, Chunk};
pub use clock::Clock;
pub use file_range::FileRange;

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Status line and headers, validated and ready for nginx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The numeric status, e.g. 200.
    pub code: u16,
    /// The whole status as the app gave it, e.g. `200 OK`; empty for
    /// nginx's own reason phrase (ASGI gives only the number).
    pub status: Vec<u8>,
    /// Header names and latin-1 values, in the app's order, without
    /// Content-Length (carried in `content_length`).
    pub headers: Vec<(String, Vec<u8>)>,
    pub content_length: Option<u64>,
}

#[derive(Debug)]
pub enum Event {
    /// Always the first event, once.
    Head(ResponseHead),
    Data(Chunk),
    /// A range of a file, for nginx to send itself (sendfile).
    File(FileRange),
    /// The response is complete.
    End,
    /// The response failed after its head went out: the connection must be
    /// closed so that the client sees it was cut.
    Abort,
}

/// The consumer went away (client closed, or the request was finalized).
#[derive(Debug, PartialEq, Eq)]
pub struct Cancelled;

/// What a producer would meet if it queued another chunk now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    Space,
    /// At the high-water mark: wait, spill or park.
    Full,
    /// The consumer is gone.
    Cancelled,
}

/// Called by the producer when an exchange that was idle has new events.
pub trait Wake: Send + Sync {
    fn wake(&self, exchange: &Arc<Exchange>);
}

/// What a parked producer leaves behind: called once, by whoever finds the
/// exchange ready again (the consumer, or the producer itself if it was
/// ready all along), it puts the producer back to work (for WSGI, a job on
/// the thread pool).
pub type Continuation = Box<dyn FnOnce() + Send>;

pub struct Exchange {
    /// Identifies the request for the consumer; opaque here.
    pub token: usize,
    high_water: usize,
    waker: Arc<dyn Wake>,
    state: Mutex<State>,
    space: Condvar,
}

struct State {
    events: VecDeque<Event>,
    bytes: usize,
    cancelled: bool,
    /// A wake-up is pending: the consumer will call `take` soon.
    scheduled: bool,
    /// The producer is done with the request (and with its body).
    finished: bool,
    /// The consumer released the request; stale wake-ups must not touch it.
    retired: bool,
    /// The producer sleeps in `wait_for_space`.
    producer_waiting: bool,
    /// The producer parked: how to resume it.
    parked: Option<Continuation>,
    /// What the producer wants done once the consumer cancels (ASGI:
    /// deliver `http.disconnect`).
    on_cancel: Option<Continuation>,
    /// Why the consumer cancelled.
    cancel_reason: Option<CancelReason>,
    /// The app failed (an exception, or a protocol error).
    app_failed: bool,
    clock: Clock,
}

/// Why the consumer stopped listening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The client went away, or nginx finalized the request.
    ClientGone,
    /// The request spent longer than `wsgi_request_timeout` in the app.
    TimedOut,
}

/// Where a request is, for the consumer's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No thread has taken it yet.
    Queued,
    /// A thread runs it; `used` is its time in the app so far.
    Running {
        used: Duration,
    },
    /// No thread runs it: it parked (`parked`), or it is between a thread
    /// letting go and parking or finishing.
    Idle {
        used: Duration,
        parked: bool,
    },
    Finished,
}

/// How a request went, as far as the Python side knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub queue_wait: Option<Duration>,
    pub app_time: Option<Duration>,
    pub app_failed: bool,
}

/// What the consumer takes in one go.
pub struct Batch {
    pub events: VecDeque<Event>,
    /// The producer has finished: after this batch nothing more comes.
    pub finished: bool,
}

impl Exchange {
    pub fn new(token: usize, high_water: usize, waker: Arc<dyn Wake>) -> Arc<Exchange> {
        Arc::new(Exchange {
            token,
            high_water,
            waker,
            state: Mutex::new(State {
                events: VecDeque::new(),
                bytes: 0,
                cancelled: false,
                scheduled: false,
                finished: false,
                retired: false,
                producer_waiting: false,
                parked: None,
                on_cancel: None,
                cancel_reason: None,
                app_failed: false,
                clock: Clock::new(Instant::now()),
            }),
            space: Condvar::new(),
        })
    }

    /// Producer: a thread starts running the request (or goes on with it).
    pub fn enter_app(&self) {
        self.state.lock().unwrap().clock.enter(Instant::now());
    }

    /// Producer: the thread lets go (the response parks, or is done).
    pub fn leave_app(&self) {
        self.state.lock().unwrap().clock.leave(Instant::now());
    }

    /// Producer: the app failed; the consumer reports it (`exception`).
    pub fn note_app_failure(&self) {
        self.state.lock().unwrap().app_failed = true;
    }

    /// Why the consumer cancelled, if it did.
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.state.lock().unwrap().cancel_reason
    }

    /// Consumer: where the request is now.
    pub fn phase(&self) -> Phase {
        let st = self.state.lock().unwrap();
        let used = st.clock.in_app(Instant::now());
        if st.finished {
            Phase::Finished
        } else if !st.clock.started() {
            Phase::Queued
        } else if st.clock.running() {
            Phase::Running { used }
        } else {
            Phase::Idle {
                used,
                parked: st.parked.is_some(),
            }
        }
    }

    /// Consumer: the request's wait for a thread, time in the app, and
    /// whether the app failed, for the logs and metrics.
    pub fn report(&self) -> Report {
        let st = self.state.lock().unwrap();
        Report {
            queue_wait: st.clock.queue_wait(),
            app_time: st.clock.started().then(|| st.clock.in_app(Instant::now())),
            app_failed: st.app_failed,
        }
    }

    /// Producer: queue an event without blocking, waking the consumer if it
    /// has nothing pending.
    pub fn push(self: &Arc<Self>, event: Event) -> Result<(), Cancelled> {
        self.enqueue(event, true)
    }

    /// Producer: queue an event without waking the consumer, for an event
    /// that more follow at once (a head, the items of a list body, the end
    /// before `finish`). A `push`, `wait_for_space` or `finish` must follow:
    /// each one wakes the consumer for everything queued.
    pub fn queue(self: &Arc<Self>, event: Event) -> Result<(), Cancelled> {
        self.enqueue(event, false)
    }

    fn enqueue(self: &Arc<Self>, event: Event, wake: bool) -> Result<(), Cancelled> {
        let wake = {
            let mut st = self.state.lock().unwrap();
            if st.cancelled {
                return Err(Cancelled);
            }
            match (&event, st.events.back_mut()) {
                (Event::Data(d), _) => {
                    st.bytes += d.len();
                    st.events.push_back(event);
                }
                // The next stretch of the same file (a spilled `write()`):
                // one range, so one buffer in nginx.
                (Event::File(next), Some(Event::File(last)))
                    if Arc::ptr_eq(&next.fd, &last.fd) && last.offset + last.len == next.offset =>
                {
                    last.len += next.len
                }
                _ => st.events.push_back(event),
            }
            wake && !std::mem::replace(&mut st.scheduled, true)
        };
        if wake {
            self.waker.wake(self);
        }
        Ok(())
    }

    /// Producer: whether a chunk may be queued without waiting.
    pub fn has_space(&self) -> bool {
        self.room() != Room::Full
    }

    /// Producer: what queueing another chunk would meet.
    pub fn room(&self) -> Room {
        let st = self.state.lock().unwrap();
        if st.cancelled {
            Room::Cancelled
        } else if st.bytes < self.high_water {
            Room::Space
        } else {
            Room::Full
        }
    }

    /// Producer: block until the queued bytes are under the high-water mark.
    /// Call it without the GIL.
    pub fn wait_for_space(self: &Arc<Self>) -> Result<(), Cancelled> {
        let mut st = self.state.lock().unwrap();
        if !st.cancelled && st.bytes >= self.high_water {
            // What was queued quietly must reach the consumer, or no one
            // makes space.
            if !std::mem::replace(&mut st.scheduled, true) {
                drop(st);
                self.waker.wake(self);
                st = self.state.lock().unwrap();
            }
            st.producer_waiting = true;
            while !st.cancelled && st.bytes >= self.high_water {
                st = self.space.wait(st).unwrap();
            }
            st.producer_waiting = false;
        }
        if st.cancelled {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// Producer: have the consumer look at the request, with no event
    /// (the request body stream has room again).
    pub fn nudge(self: &Arc<Self>) {
        let wake = !std::mem::replace(&mut self.state.lock().unwrap().scheduled, true);
        if wake {
            self.waker.wake(self);
        }
    }

    /// Producer: stop here until the client has caught up. Stores `k` for
    /// the consumer to call once the queue is drained and the client has
    /// taken it, and makes sure the consumer hears of what was queued. If
    /// there is room already, or the consumer is gone, `k` comes back:
    /// the caller goes on (or winds up) itself.
    pub fn park(self: &Arc<Self>, k: Continuation) -> Result<(), Continuation> {
        let wake = {
            let mut st = self.state.lock().unwrap();
            if st.cancelled || st.bytes < self.high_water {
                return Err(k);
            }
            st.parked = Some(k);
            !std::mem::replace(&mut st.scheduled, true)
        };
        if wake {
            self.waker.wake(self);
        }
        Ok(())
    }

    /// Producer: have `k` called once the consumer cancels (the client
    /// left, the request timed out, or it was released). If it has
    /// already, `k` comes back.
    pub fn on_cancel(&self, k: Continuation) -> Result<(), Continuation> {
        let mut st = self.state.lock().unwrap();
        if st.cancelled {
            return Err(k);
        }
        st.on_cancel = Some(k);
        Ok(())
    }

    /// Consumer: the client has taken everything; the parked producer's
    /// continuation, if it parked and the queue is under the high-water
    /// mark.
    pub fn resume_parked(&self) -> Option<Continuation> {
        let mut st = self.state.lock().unwrap();
        if st.bytes < self.high_water {
            st.parked.take()
        } else {
            None
        }
    }

    /// Producer: the last call for a request, on every path (cancelled
    /// too), so that the consumer learns it may release the request.
    pub fn finish(self: &Arc<Self>) {
        let wake = {
            let mut st = self.state.lock().unwrap();
            st.finished = true;
            !std::mem::replace(&mut st.scheduled, true)
        };
        if wake {
            self.waker.wake(self);
        }
    }

    /// Consumer: have `take` called again, through the waker, whatever was
    /// scheduled before. For a request that nginx terminates while its
    /// socket was busy: `pump` left the events queued for the writer,
    /// which nginx has just replaced, so no later wake-up would come.
    pub fn wake_again(self: &Arc<Self>) {
        self.state.lock().unwrap().scheduled = true;
        self.waker.wake(self);
    }

    /// Consumer: take every queued event and let a waiting producer go on.
    pub fn take(&self) -> Batch {
        let (batch, waiting) = {
            let mut st = self.state.lock().unwrap();
            st.scheduled = false;
            st.bytes = 0;
            let batch = Batch {
                events: std::mem::take(&mut st.events),
                finished: st.finished,
            };
            (batch, st.producer_waiting)
        };
        // A notify is a system call even with no one waiting.
        if waiting {
            self.space.notify_all();
        }
        batch
    }

    /// Consumer: the request is released; later wake-ups are stale, and
    /// pushes fail. A producer still listening for a cancel (an ASGI task
    /// that goes on after its response, e.g. with background work) gets
    /// its `on_cancel` back, to call: its request is over.
    #[must_use = "a producer's on_cancel only runs if it is called"]
    pub fn retire(&self) -> Option<Continuation> {
        let (hook, parked) = {
            let mut st = self.state.lock().unwrap();
            st.retired = true;
            st.cancelled = true;
            (st.on_cancel.take(), st.parked.take())
        };
        // A park its producer gave up on (an ASGI task that cancelled its
        // own waiting send() and ended): nothing will resume it, and it
        // holds this exchange, which would then never be freed.
        drop(parked);
        hook
    }

    pub fn is_retired(&self) -> bool {
        self.state.lock().unwrap().retired
    }

    /// Consumer: the client is gone; further pushes fail and a waiting
    /// producer wakes up. A parked producer's continuation is handed back:
    /// the caller must call it, so that the producer winds up (the app's
    /// `close()`) and finishes.
    #[must_use = "a parked producer only finishes if its continuation is called"]
    pub fn cancel(&self) -> Option<Continuation> {
        self.cancel_for(CancelReason::ClientGone)
    }

    /// Consumer: stop listening for `reason` (the first reason given
    /// stays); as `cancel`. The continuation returned also runs the
    /// producer's `on_cancel`.
    #[must_use = "a parked producer only finishes if its continuation is called"]
    pub fn cancel_for(&self, reason: CancelReason) -> Option<Continuation> {
        let (waiting, parked, hook) = {
            let mut st = self.state.lock().unwrap();
            st.cancelled = true;
            st.cancel_reason.get_or_insert(reason);
            (st.producer_waiting, st.parked.take(), st.on_cancel.take())
        };
        if waiting {
            self.space.notify_all();
        }
        match (parked, hook) {
            (Some(a), Some(b)) => Some(Box::new(move || {
                a();
                b();
            })),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
pub mod testing {
    use super::*;
    use std::sync::mpsc;

    /// A waker that reports wake-ups on a channel.
    pub struct ChannelWake(pub Mutex<mpsc::Sender<usize>>);

    impl Wake for ChannelWake {
        fn wake(&self, exchange: &Arc<Exchange>) {
            let _ = self.0.lock().unwrap().send(exchange.token);
        }
    }

    pub fn exchange(high_water: usize) -> (Arc<Exchange>, mpsc::Receiver<usize>) {
        let (tx, rx) = mpsc::channel();
        (
            Exchange::new(7, high_water, Arc::new(ChannelWake(Mutex::new(tx)))),
            rx,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testing::exchange;
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn wakes_once_per_batch() {
        let (ex, rx) = exchange(1024);
        ex.push(Event::Data(b"a".to_vec().into())).unwrap();
        ex.push(Event::Data(b"b".to_vec().into())).unwrap();
        assert_eq!(rx.try_recv(), Ok(7));
        assert!(rx.try_recv().is_err(), "second push must not wake again");
        assert_eq!(ex.take().events.len(), 2);
        ex.push(Event::End).unwrap();
        assert_eq!(rx.try_recv(), Ok(7), "a push after take wakes again");
    }

    #[test]
    fn producer_waits_for_the_consumer() {
        let (ex, _rx) = exchange(4);
        ex.push(Event::Data(b"12345".to_vec().into())).unwrap();
        let producer = {
            let ex = ex.clone();
            std::thread::spawn(move || ex.wait_for_space())
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !producer.is_finished(),
            "over the high-water mark the producer must wait"
        );
        ex.take();
        assert_eq!(producer.join().unwrap(), Ok(()));
    }

    #[test]
    fn cancel_releases_a_waiting_producer_and_refuses_pushes() {
        let (ex, _rx) = exchange(1);
        ex.push(Event::Data(b"xx".to_vec().into())).unwrap();
        let producer = {
            let ex = ex.clone();
            std::thread::spawn(move || ex.wait_for_space())
        };
        std::thread::sleep(Duration::from_millis(20));
        assert!(ex.cancel().is_none(), "a waiting producer is not parked");
        assert_eq!(producer.join().unwrap(), Err(Cancelled));
        assert_eq!(ex.push(Event::End), Err(Cancelled));
    }

    #[test]
    fn quiet_events_reach_the_consumer_with_the_next_wake() {
        let (ex, rx) = exchange(1024);
        ex.queue(Event::End).unwrap();
        assert!(rx.try_recv().is_err(), "queue() does not wake");
        ex.finish();
        assert_eq!(rx.try_recv(), Ok(7));
        let batch = ex.take();
        assert!(batch.finished && matches!(batch.events.front(), Some(Event::End)));
    }

    #[test]
    fn a_producer_about_to_wait_wakes_the_consumer_for_its_quiet_chunks() {
        let (ex, rx) = exchange(4);
        ex.queue(Event::Data(b"12345".to_vec().into())).unwrap();
        assert!(!ex.has_space());
        let producer = {
            let ex = ex.clone();
            std::thread::spawn(move || ex.wait_for_space())
        };
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Ok(7),
            "the consumer must hear of the full queue, or both wait forever"
        );
        ex.take();
        assert_eq!(producer.join().unwrap(), Ok(()));
    }

    /// A continuation that reports on a channel when it is called.
    fn continuation() -> (Continuation, mpsc::Receiver<()>) {
        let (tx, rx) = mpsc::channel();
        (Box::new(move || tx.send(()).unwrap()), rx)
    }

    #[test]
    fn a_parked_producer_is_resumed_once_the_queue_is_drained() {
        let (ex, wakes) = exchange(4);
        ex.queue(Event::Data(b"12345".to_vec().into())).unwrap();
        let (k, called) = continuation();
        assert!(ex.park(k).is_ok(), "over the high-water mark: parked");
        assert_eq!(
            wakes.try_recv(),
            Ok(7),
            "parking wakes the consumer for the quiet chunk"
        );
        assert!(called.try_recv().is_err());
        assert_eq!(ex.take().events.len(), 1);
        ex.resume_parked().expect("the continuation, once drained")();
        assert!(called.try_recv().is_ok());
        assert!(ex.resume_parked().is_none(), "called once");
    }

    #[test]
    fn retiring_drops_a_park_that_nothing_will_resume() {
        let (ex, _wakes) = exchange(4);
        ex.queue(Event::Data(b"12345".to_vec().into())).unwrap();
        // The continuation holds the exchange, as an ASGI send()'s does.
        let held = ex.clone();
        assert!(ex.park(Box::new(move || drop(held))).is_ok());
        assert_eq!(Arc::strong_count(&ex), 2);
        assert!(ex.retire().is_none());
        assert_eq!(Arc::strong_count(&ex), 1, "no cycle is left");
    }

    #[test]
    fn parking_with_room_or_after_cancel_hands_the_continuation_back() {
        let (ex, _wakes) = exchange(4);
        ex.push(Event::Data(b"12".to_vec().into())).unwrap();
        let (k, _called) = continuation();
        let k = ex.park(k).expect_err("under the high-water mark: go on");
        ex.push(Event::Data(b"345".to_vec().into())).unwrap();
        let _ = ex.cancel();
        assert!(ex.park(k).is_err(), "the consumer is gone: wind up");
    }

    #[test]
    fn cancel_hands_over_a_parked_continuation() {
        let (ex, _wakes) = exchange(1);
        ex.push(Event::Data(b"xx".to_vec().into())).unwrap();
        let (k, called) = continuation();
        assert!(ex.park(k).is_ok());
        ex.cancel().expect("the parked continuation")();
        assert!(called.try_recv().is_ok());
    }

    #[test]
    fn the_cancel_hook_runs_once_with_the_cancel_or_at_once_after_it() {
        let (ex, _wakes) = exchange(4);
        let (k, called) = continuation();
        assert!(ex.on_cancel(k).is_ok());
        assert!(called.try_recv().is_err());
        ex.cancel().expect("the hook")();
        assert!(called.try_recv().is_ok());
        assert!(ex.cancel().is_none(), "once");
        let (k, _called) = continuation();
        assert!(ex.on_cancel(k).is_err(), "already cancelled: handed back");
    }

    #[test]
    fn contiguous_ranges_of_one_file_are_one_event() {
        use std::os::fd::{FromRawFd, OwnedFd};
        let (ex, _wakes) = exchange(1024);
        let fd = Arc::new(unsafe { OwnedFd::from_raw_fd(libc::dup(0)) });
        let range = |offset, len| {
            Event::File(FileRange {
                fd: fd.clone(),
                offset,
                len,
            })
        };
        ex.queue(range(0, 10)).unwrap();
        ex.queue(range(10, 5)).unwrap();
        ex.queue(range(20, 5)).unwrap();
        let events = ex.take().events;
        let ranges: Vec<_> = events
            .iter()
            .map(|e| match e {
                Event::File(r) => (r.offset, r.len),
                _ => panic!("{e:?}"),
            })
            .collect();
        assert_eq!(
            ranges,
            [(0, 15), (20, 5)],
            "only what follows on directly is merged"
        );
    }

    #[test]
    fn the_phase_follows_the_thread() {
        let (ex, _wakes) = exchange(4);
        assert_eq!(ex.phase(), Phase::Queued);
        ex.enter_app();
        assert!(matches!(ex.phase(), Phase::Running { .. }));
        ex.leave_app();
        assert!(matches!(ex.phase(), Phase::Idle { parked: false, .. }));
        ex.push(Event::Data(b"12345".to_vec().into())).unwrap();
        let (k, _called) = continuation();
        assert!(ex.park(k).is_ok());
        assert!(matches!(ex.phase(), Phase::Idle { parked: true, .. }));
        ex.finish();
        assert_eq!(ex.phase(), Phase::Finished);
        let report = ex.report();
        assert!(report.queue_wait.is_some() && report.app_time.is_some());
        assert!(!report.app_failed);
    }

    #[test]
    fn the_first_cancel_reason_stays() {
        let (ex, _wakes) = exchange(4);
        assert_eq!(ex.cancel_reason(), None);
        let _ = ex.cancel_for(CancelReason::TimedOut);
        let _ = ex.cancel();
        assert_eq!(ex.cancel_reason(), Some(CancelReason::TimedOut));
        assert_eq!(ex.room(), Room::Cancelled);
    }

    #[test]
    fn finish_wakes_even_after_cancel() {
        let (ex, rx) = exchange(10);
        let _ = ex.cancel();
        ex.finish();
        assert_eq!(rx.try_recv(), Ok(7));
        let batch = ex.take();
        assert!(batch.finished && batch.events.is_empty());
    }
}
