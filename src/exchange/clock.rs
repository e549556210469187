//! A request's clock: when it was handed to the Python side, when a thread
//! first took it, and how long it has spent in the app. A parked response
//! is not in the app: `wsgi_request_timeout` counts only the stretches a
//! thread runs it, and `$wsgi_app_time` reports their sum.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    dispatched: Instant,
    /// When a thread first took the request.
    started: Option<Instant>,
    /// The stretches in the app that are over.
    in_app: Duration,
    /// The start of the stretch a thread is in now.
    since: Option<Instant>,
}

impl Clock {
    pub fn new(now: Instant) -> Clock {
        Clock {
            dispatched: now,
            started: None,
            in_app: Duration::ZERO,
            since: None,
        }
    }

    /// A thread takes the request, or goes on with its parked response.
    pub fn enter(&mut self, now: Instant) {
        self.started.get_or_insert(now);
        self.since = Some(now);
    }

    /// The thread lets go: the response parked or is done.
    pub fn leave(&mut self, now: Instant) {
        if let Some(since) = self.since.take() {
            self.in_app += now.saturating_duration_since(since);
        }
    }

    /// How long the request waited for its first thread; `None` until a
    /// thread took it.
    pub fn queue_wait(&self) -> Option<Duration> {
        self.started
            .map(|s| s.saturating_duration_since(self.dispatched))
    }

    /// Time in the app so far, the current stretch included.
    pub fn in_app(&self, now: Instant) -> Duration {
        self.in_app
            + self
                .since
                .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }

    pub fn started(&self) -> bool {
        self.started.is_some()
    }

    /// A thread is running the request now.
    pub fn running(&self) -> bool {
        self.since.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parked_time_is_not_app_time() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut c = Clock::new(t0);
        assert_eq!(
            (c.queue_wait(), c.started(), c.running()),
            (None, false, false)
        );
        c.enter(t0 + ms(5));
        assert_eq!(c.queue_wait(), Some(ms(5)));
        assert_eq!(c.in_app(t0 + ms(8)), ms(3), "the running stretch counts");
        c.leave(t0 + ms(10));
        assert_eq!(c.in_app(t0 + ms(500)), ms(5), "parked: the clock stops");
        c.enter(t0 + ms(500));
        c.leave(t0 + ms(502));
        assert_eq!(c.in_app(t0 + ms(900)), ms(7));
        assert_eq!(c.queue_wait(), Some(ms(5)), "the first thread's wait only");
    }
}
