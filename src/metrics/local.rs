//! A worker's own figures: what [`Local::record`] counts on the hot path,
//! in plain integers.
//!
//! Everything here belongs to one nginx worker's event loop, which is
//! single-threaded: recording a request is a handful of additions into a
//! `Vec`, no atomics, no lock and no system call. The shared zone only sees
//! these figures when the worker publishes them ([`Zone::publish`]), which
//! copies totals, so the cost of sharing is paid once a second, not once a
//! request.
//!
//! The same plain types ([`AppFigures`], [`Histogram`]) carry the summed
//! figures of a [`Snapshot`] to the renderers.
//!
//! [`Zone::publish`]: super::Zone::publish
//! [`Snapshot`]: super::Snapshot

use std::ops::BitOr;
use std::time::Duration;

/// The status classes, in the order of [`AppFigures::requests`]; the
/// `class` label of `ngx_wsgi_requests_total`.
pub const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The index of `status`'s class in [`CLASSES`]; `None` outside 100-599.
///
/// nginx logs a request that never got a status (the client went away
/// before anything was decided) as `000`; such a request is counted by its
/// outcome only, in no class.
pub fn status_class(status: u16) -> Option<usize> {
    match status {
        100..=599 => Some(usize::from(status / 100 - 1)),
        _ => None,
    }
}

/// The histograms' upper bounds in microseconds, +Inf excepted: 0.001 s to
/// 60 s. A duration equal to a bound falls in that bound's bucket (`le` is
/// "less than or equal").
pub const BUCKET_BOUNDS_US: [u64; 15] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// Buckets per histogram: the bounds and +Inf.
pub const BUCKETS: usize = BUCKET_BOUNDS_US.len() + 1;

/// A histogram of durations.
///
/// `buckets` holds each bucket's own count (not cumulative: one addition
/// per observation); the renderers accumulate them into Prometheus's
/// cumulative `le` buckets. The sum is in whole microseconds so that it
/// stays an integer (atomics in the zone, exact sums across workers): a
/// `u64` of microseconds lasts 584,000 years of summed time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Histogram {
    pub buckets: [u64; BUCKETS],
    pub sum_us: u64,
    pub count: u64,
}

impl Histogram {
    /// The bucket that `d` falls in. Compared in nanoseconds, so that
    /// 1.0005 ms is over the 1 ms bound even though it is 1000 whole
    /// microseconds.
    pub fn bucket_of(d: Duration) -> usize {
        let ns = d.as_nanos();
        BUCKET_BOUNDS_US
            .iter()
            .position(|&us| ns <= u128::from(us) * 1000)
            .unwrap_or(BUCKETS - 1)
    }

    pub fn observe(&mut self, d: Duration) {
        self.buckets[Self::bucket_of(d)] += 1;
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_us = self.sum_us.saturating_add(us);
        self.count += 1;
    }

    /// The cumulative counts, as Prometheus's `_bucket{le}` series say
    /// them: bucket `i` counts every observation up to bound `i`; the last
    /// (+Inf) equals `count`.
    pub fn cumulative(&self) -> [u64; BUCKETS] {
        let mut acc = 0u64;
        self.buckets.map(|n| {
            acc = acc.wrapping_add(n);
            acc
        })
    }
}

/// The per-app counters besides the status classes, in the order of
/// [`AppFigures::counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// The app raised (before or after its response head).
    Exceptions,
    /// A response was cut: the client got an incomplete message.
    Aborted,
    /// The request ran past its time limit in the app.
    Timeouts,
    /// The request waited for a thread longer than `wsgi_queue_timeout`.
    QueueTimeouts,
    /// The queue was full (`wsgi_queue`): the request was turned away.
    Rejections,
    /// The request went to the `uwsgi_upstream` fallback.
    Fallbacks,
    /// The client closed the connection before the response was complete.
    ClientClosed,
}

impl Counter {
    pub const ALL: [Counter; 7] = [
        Counter::Exceptions,
        Counter::Aborted,
        Counter::Timeouts,
        Counter::QueueTimeouts,
        Counter::Rejections,
        Counter::Fallbacks,
        Counter::ClientClosed,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// The counter's key in the JSON status.
    pub fn as_str(self) -> &'static str {
        match self {
            Counter::Exceptions => "exceptions",
            Counter::Aborted => "aborted",
            Counter::Timeouts => "timeouts",
            Counter::QueueTimeouts => "queue_timeouts",
            Counter::Rejections => "rejections",
            Counter::Fallbacks => "fallbacks",
            Counter::ClientClosed => "client_closed",
        }
    }
}

/// How a request ended, as the event loop saw it. Each but `Ok` counts in
/// its [`Counter`]; the status is counted in its class whatever the
/// outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    Exception,
    Aborted,
    Timeout,
    QueueTimeout,
    Rejected,
    Fallback,
    ClientClosed,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Ok,
        Outcome::Exception,
        Outcome::Aborted,
        Outcome::Timeout,
        Outcome::QueueTimeout,
        Outcome::Rejected,
        Outcome::Fallback,
        Outcome::ClientClosed,
    ];

    /// The outcome's name, the same in the metrics and in an nginx
    /// variable.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Exception => "exception",
            Outcome::Aborted => "aborted",
            Outcome::Timeout => "timeout",
            Outcome::QueueTimeout => "queue_timeout",
            Outcome::Rejected => "rejected",
            Outcome::Fallback => "fallback",
            Outcome::ClientClosed => "client_closed",
        }
    }

    /// The counter this outcome bumps; `None` for `Ok`.
    pub fn counter(self) -> Option<Counter> {
        match self {
            Outcome::Ok => None,
            Outcome::Exception => Some(Counter::Exceptions),
            Outcome::Aborted => Some(Counter::Aborted),
            Outcome::Timeout => Some(Counter::Timeouts),
            Outcome::QueueTimeout => Some(Counter::QueueTimeouts),
            Outcome::Rejected => Some(Counter::Rejections),
            Outcome::Fallback => Some(Counter::Fallbacks),
            Outcome::ClientClosed => Some(Counter::ClientClosed),
        }
    }
}

/// A set of outcomes, for a request that ended in more than one way: a
/// queue timeout that was then handed to the fallback is
/// `Outcome::QueueTimeout | Outcome::Fallback`. A single `Outcome`
/// converts into a set of itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes(u8);

impl Outcomes {
    /// The counters the set bumps, in [`Counter::ALL`] order.
    pub fn counters(self) -> impl Iterator<Item = Counter> {
        Counter::ALL
            .into_iter()
            .filter(move |&c| self.0 & (1 << c as u8) != 0)
    }
}

impl From<Outcome> for Outcomes {
    fn from(outcome: Outcome) -> Outcomes {
        Outcomes(outcome.counter().map_or(0, |c| 1 << c as u8))
    }
}

impl<T: Into<Outcomes>> BitOr<T> for Outcomes {
    type Output = Outcomes;
    fn bitor(self, other: T) -> Outcomes {
        Outcomes(self.0 | other.into().0)
    }
}

impl<T: Into<Outcomes>> BitOr<T> for Outcome {
    type Output = Outcomes;
    fn bitor(self, other: T) -> Outcomes {
        Outcomes::from(self) | other
    }
}

/// Why a worker was recycled (it exits gracefully and the master starts
/// another), in the order of [`Local::recycles`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecycleReason {
    MaxRequests,
    MaxRss,
    RequestTimeout,
}

impl RecycleReason {
    pub const ALL: [RecycleReason; 3] = [
        RecycleReason::MaxRequests,
        RecycleReason::MaxRss,
        RecycleReason::RequestTimeout,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            RecycleReason::MaxRequests => "max_requests",
            RecycleReason::MaxRss => "max_rss",
            RecycleReason::RequestTimeout => "request_timeout",
        }
    }
}

/// One app's counters and histograms: a worker's own in [`Local`], all
/// workers' summed in a [`Snapshot`](super::Snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppFigures {
    /// Requests by status class, in [`CLASSES`] order.
    pub requests: [u64; CLASSES.len()],
    /// By [`Counter`] (`counters[Counter::Fallbacks as usize]`).
    pub counters: [u64; Counter::COUNT],
    /// Time from queueing to a thread taking the request.
    pub queue_wait: Histogram,
    /// Time in the app: from the call to the end of the response.
    pub app_time: Histogram,
}

/// How many `u64`s an [`AppFigures`] is made of; the zone keeps one atomic
/// per field.
pub(crate) const APP_FIELDS: usize = CLASSES.len() + Counter::COUNT + 2 * (BUCKETS + 2);

impl AppFigures {
    pub fn counter(&self, c: Counter) -> u64 {
        self.counters[c as usize]
    }

    /// Every field in one fixed order, the order of the zone's cells.
    pub(crate) fn fields(&self) -> [u64; APP_FIELDS] {
        let mut out = [0u64; APP_FIELDS];
        let hist = |h: &Histogram| h.buckets.into_iter().chain([h.sum_us, h.count]);
        let all = self.requests.into_iter().chain(self.counters);
        for (o, v) in out.iter_mut().zip(
            all.chain(hist(&self.queue_wait))
                .chain(hist(&self.app_time)),
        ) {
            *o = v;
        }
        out
    }

    /// The inverse of [`fields`](Self::fields).
    pub(crate) fn from_fields(fields: &[u64; APP_FIELDS]) -> AppFigures {
        let mut it = fields.iter().copied();
        let mut take = |dst: &mut [u64]| dst.iter_mut().for_each(|d| *d = it.next().unwrap_or(0));
        let mut f = AppFigures::default();
        take(&mut f.requests);
        take(&mut f.counters);
        for h in [&mut f.queue_wait, &mut f.app_time] {
            take(&mut h.buckets);
            let mut rest = [0u64; 2];
            take(&mut rest);
            [h.sum_us, h.count] = rest;
        }
        f
    }

    /// Adds `other` into `self`, field by field (wrapping, as counters in
    /// the zone do).
    pub fn add(&mut self, other: &AppFigures) {
        let mut fields = self.fields();
        for (f, o) in fields.iter_mut().zip(other.fields()) {
            *f = f.wrapping_add(o);
        }
        *self = AppFigures::from_fields(&fields);
    }
}

/// A worker's instantaneous figures, read when it publishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Python threads running a request (or a resumed response).
    pub busy_threads: u64,
    /// Requests waiting for a thread.
    pub queued: u64,
    /// Responses parked while their client catches up.
    pub parked: u64,
    /// The worker's resident set size.
    pub rss_bytes: u64,
}

impl Gauges {
    pub(crate) fn fields(self) -> [u64; 4] {
        [self.busy_threads, self.queued, self.parked, self.rss_bytes]
    }

    pub(crate) fn from_fields([busy_threads, queued, parked, rss_bytes]: [u64; 4]) -> Gauges {
        Gauges {
            busy_threads,
            queued,
            parked,
            rss_bytes,
        }
    }
}

/// The worker's own figures since it started: per app (by the worker's
/// own app index, mapped to the zone's app table at publish time), and its
/// recycles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    apps: Vec<AppFigures>,
    recycles: [u64; RecycleReason::COUNT],
}

impl Local {
    /// Figures for `apps` apps, all zero.
    pub fn new(apps: usize) -> Local {
        Local {
            apps: vec![AppFigures::default(); apps],
            recycles: [0; RecycleReason::COUNT],
        }
    }

    /// Counts one finished request of app `app`: its status class, each
    /// counter its outcome(s) bump, and the durations that it has (a
    /// request turned away never waited in the queue nor ran in the app).
    ///
    /// An `app` out of range is ignored: a worker's figures are never
    /// worth a panic in the event loop.
    pub fn record(
        &mut self,
        app: usize,
        status: u16,
        outcome: impl Into<Outcomes>,
        queue_wait: Option<Duration>,
        app_time: Option<Duration>,
    ) {
        let Some(f) = self.apps.get_mut(app) else {
            return;
        };
        if let Some(class) = status_class(status) {
            f.requests[class] += 1;
        }
        for c in outcome.into().counters() {
            f.counters[c as usize] += 1;
        }
        if let Some(d) = queue_wait {
            f.queue_wait.observe(d);
        }
        if let Some(d) = app_time {
            f.app_time.observe(d);
        }
    }

    /// Counts this worker's recycling (it is about to exit; publish after).
    pub fn recycle(&mut self, reason: RecycleReason) {
        self.recycles[reason as usize] += 1;
    }

    /// The figures by the worker's own app index.
    pub fn apps(&self) -> &[AppFigures] {
        &self.apps
    }

    /// Recycles by [`RecycleReason`] (`recycles()[reason as usize]`).
    pub fn recycles(&self) -> &[u64; RecycleReason::COUNT] {
        &self.recycles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn status_classes() {
        let cases = [
            (0, None),
            (99, None),
            (100, Some(0)),
            (101, Some(0)),
            (199, Some(0)),
            (200, Some(1)),
            (304, Some(2)),
            (404, Some(3)),
            (499, Some(3)),
            (500, Some(4)),
            (599, Some(4)),
            (600, None),
            (u16::MAX, None),
        ];
        for (status, class) in cases {
            assert_eq!(status_class(status), class, "status {status}");
        }
    }

    #[test]
    fn buckets_at_their_exact_bounds() {
        let us = Duration::from_micros;
        let ns = Duration::from_nanos;
        let s = Duration::from_secs;
        let cases = [
            (Duration::ZERO, 0),
            (us(1), 0),
            (us(1000), 0),      // 0.001 s: le="0.001"
            (ns(1_000_001), 1), // just over: le="0.0025"
            (us(2500), 1),
            (us(2501), 2),
            (s(1), 9),
            (s(1) + ns(1), 10),
            (s(30), 13),
            (s(60), 14), // le="60"
            (s(60) + ns(1), 15),
            (s(61), 15), // only +Inf
            (Duration::MAX, 15),
        ];
        for (d, bucket) in cases {
            assert_eq!(Histogram::bucket_of(d), bucket, "{d:?}");
        }
        // Every bound lands in its own bucket, a nanosecond more in the next.
        for (i, &b) in BUCKET_BOUNDS_US.iter().enumerate() {
            assert_eq!(Histogram::bucket_of(us(b)), i);
            assert_eq!(Histogram::bucket_of(us(b) + ns(1)), i + 1);
        }
    }

    #[test]
    fn histogram_sum_count_and_cumulative() {
        let mut h = Histogram::default();
        for d in [
            MS,
            3 * MS,
            Duration::from_micros(2500),
            Duration::from_secs(61),
        ] {
            h.observe(d);
        }
        assert_eq!(h.count, 4);
        assert_eq!(h.sum_us, 1000 + 3000 + 2500 + 61_000_000);
        let mut buckets = [0; BUCKETS];
        (buckets[0], buckets[1], buckets[2], buckets[15]) = (1, 1, 1, 1);
        assert_eq!(h.buckets, buckets);
        let c = h.cumulative();
        assert_eq!(c[..4], [1, 2, 3, 3]);
        assert_eq!(c[14], 3);
        assert_eq!(c[15], 4);
        // Sub-microsecond parts are dropped from the sum; the sum saturates.
        h.observe(Duration::from_nanos(999));
        assert_eq!(h.sum_us, 1000 + 3000 + 2500 + 61_000_000);
        h.observe(Duration::MAX);
        h.observe(Duration::MAX);
        assert_eq!(h.sum_us, u64::MAX);
        assert_eq!(h.count, 7);
    }

    #[test]
    fn outcome_names() {
        let names: Vec<_> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            names,
            [
                "ok",
                "exception",
                "aborted",
                "timeout",
                "queue_timeout",
                "rejected",
                "fallback",
                "client_closed"
            ]
        );
        let reasons: Vec<_> = RecycleReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(reasons, ["max_requests", "max_rss", "request_timeout"]);
    }

    #[test]
    fn outcomes_map_to_their_counters() {
        let counters: Vec<_> = Outcome::ALL.iter().map(|o| o.counter()).collect();
        let mut expected = vec![None];
        expected.extend(Counter::ALL.map(Some));
        assert_eq!(counters, expected);
        assert_eq!(Outcomes::from(Outcome::Ok).counters().count(), 0);
        let both = Outcome::QueueTimeout | Outcome::Fallback;
        assert_eq!(
            both.counters().collect::<Vec<_>>(),
            [Counter::QueueTimeouts, Counter::Fallbacks]
        );
        assert_eq!(both | Outcome::Ok, both);
        assert_eq!(Outcome::Ok | Outcome::Ok, Outcomes::default());
    }

    #[test]
    fn record_counts_class_outcome_and_durations() {
        let mut l = Local::new(2);
        l.record(0, 200, Outcome::Ok, Some(MS), Some(10 * MS));
        l.record(0, 500, Outcome::Exception, Some(MS), Some(MS));
        l.record(1, 503, Outcome::Rejected, None, None);
        l.record(
            1,
            504,
            Outcome::QueueTimeout | Outcome::Fallback,
            Some(MS),
            None,
        );
        l.record(1, 0, Outcome::ClientClosed, None, None);
        l.record(2, 200, Outcome::Ok, None, None); // no such app: ignored
        l.recycle(RecycleReason::MaxRss);

        let a = &l.apps()[0];
        assert_eq!(a.requests, [0, 1, 0, 0, 1]);
        assert_eq!(a.counters, [1, 0, 0, 0, 0, 0, 0]);
        assert_eq!((a.queue_wait.count, a.queue_wait.sum_us), (2, 2000));
        assert_eq!((a.app_time.count, a.app_time.sum_us), (2, 11_000));
        assert_eq!(a.app_time.buckets[0], 1);
        assert_eq!(a.app_time.buckets[3], 1); // 10 ms: le="0.01"

        let b = &l.apps()[1];
        assert_eq!(b.requests, [0, 0, 0, 0, 2]); // status 0 is in no class
        assert_eq!(b.counter(Counter::Rejections), 1);
        assert_eq!(b.counter(Counter::QueueTimeouts), 1);
        assert_eq!(b.counter(Counter::Fallbacks), 1);
        assert_eq!(b.counter(Counter::ClientClosed), 1);
        assert_eq!(b.counter(Counter::Exceptions), 0);
        assert_eq!((b.queue_wait.count, b.app_time.count), (1, 0));
        assert_eq!(l.recycles(), &[0, 1, 0]);
    }

    #[test]
    fn fields_round_trip_in_order() {
        let mut f = AppFigures {
            requests: [1, 2, 3, 4, 5],
            counters: [6, 7, 8, 9, 10, 11, 12],
            ..AppFigures::default()
        };
        f.queue_wait.buckets = std::array::from_fn(|i| 13 + i as u64);
        (f.queue_wait.sum_us, f.queue_wait.count) = (29, 30);
        f.app_time.buckets = std::array::from_fn(|i| 31 + i as u64);
        (f.app_time.sum_us, f.app_time.count) = (47, 48);
        let fields = f.fields();
        assert_eq!(fields, std::array::from_fn(|i| i as u64 + 1));
        assert_eq!(AppFigures::from_fields(&fields), f);

        let mut twice = f;
        twice.add(&f);
        assert_eq!(twice.fields(), std::array::from_fn(|i| 2 * (i as u64 + 1)));
    }
}
