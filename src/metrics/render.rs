//! A [`Snapshot`] as text: Prometheus's text exposition format 0.0.4
//! ([`prometheus`], the status page's default) or JSON ([`json`]).
//!
//! Both are written by hand: the formats are small, and the crate takes no
//! dependency for them. Every counter series of every app in the table is
//! there from the start, with 0, so that a scrape sees a series before its
//! first event (a `rate()` over a series that appears with its first event
//! misses that event). Durations are kept in whole microseconds and shown
//! in seconds, exactly: `1500` is `0.0015`, never `0.0015000000000000000`.
//!
//! The Prometheus families, all prefixed `ngx_wsgi_`:
//!
//! ```text
//! requests_total{app,class}            counter   class 1xx .. 5xx
//! app_exceptions_total{app}            counter
//! responses_aborted_total{app}         counter
//! request_timeouts_total{app}          counter
//! queue_timeouts_total{app}            counter
//! queue_rejections_total{app}          counter
//! fallbacks_total{app}                 counter
//! client_closed_total{app}             counter
//! queue_wait_seconds{app}              histogram _bucket{le} (cumulative), _sum, _count
//! app_seconds{app}                     histogram
//! worker_recycles_total{reason}        counter   max_requests, max_rss, request_timeout
//! workers                              gauge     live workers
//! busy_threads{pid}                    gauge     per live worker, as the next three
//! queued_requests{pid}                 gauge
//! parked_responses{pid}                gauge
//! worker_rss_bytes{pid}                gauge
//! ```
//!
//! The JSON document has the same figures:
//!
//! ```text
//! {"workers": [{"pid", "busy_threads", "queued", "parked", "rss_bytes"}, ...],
//!  "apps": {NAME: {"requests": {"1xx": N, ..., "5xx": N},
//!                  "exceptions": N, "aborted": N, "timeouts": N, "queue_timeouts": N,
//!                  "rejections": N, "fallbacks": N, "client_closed": N,
//!                  "queue_wait_seconds": HISTOGRAM, "app_seconds": HISTOGRAM}, ...},
//!  "recycles": {"max_requests": N, "max_rss": N, "request_timeout": N}}
//! HISTOGRAM: {"buckets": [{"le": "0.001", "count": N}, ..., {"le": "+Inf", "count": N}],
//!             "sum": SECONDS, "count": N}
//! ```
//!
//! with cumulative bucket counts, as in Prometheus, and `le` as the same
//! strings.

use std::fmt::Write;

use super::local::{AppFigures, Counter, Histogram, RecycleReason, BUCKET_BOUNDS_US, CLASSES};
use super::Snapshot;

/// `us` microseconds in seconds, exactly: the integer part, then the
/// fraction without trailing zeros (`0`, `0.001`, `2.5`, `61`).
pub fn seconds(us: u64) -> String {
    let (whole, frac) = (us / 1_000_000, us % 1_000_000);
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:06}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// The buckets' `le` values: the bounds in seconds, then `+Inf`.
fn le_values() -> impl Iterator<Item = String> {
    BUCKET_BOUNDS_US
        .iter()
        .map(|&us| seconds(us))
        .chain(["+Inf".to_string()])
}

/// The Prometheus name (after the prefix) and help of a counter.
fn counter_family(c: Counter) -> (&'static str, &'static str) {
    match c {
        Counter::Exceptions => (
            "app_exceptions_total",
            "Requests in which the app raised an exception.",
        ),
        Counter::Aborted => (
            "responses_aborted_total",
            "Responses cut short: the client got an incomplete message.",
        ),
        Counter::Timeouts => (
            "request_timeouts_total",
            "Requests that ran past their time limit in the app.",
        ),
        Counter::QueueTimeouts => (
            "queue_timeouts_total",
            "Requests that waited for a thread longer than wsgi_queue_timeout.",
        ),
        Counter::Rejections => (
            "queue_rejections_total",
            "Requests turned away because the queue was full.",
        ),
        Counter::Fallbacks => (
            "fallbacks_total",
            "Requests handed to the uwsgi_upstream fallback.",
        ),
        Counter::ClientClosed => (
            "client_closed_total",
            "Requests whose client closed the connection before the response was complete.",
        ),
    }
}

/// The two histograms of an app: their name (after the prefix; the JSON
/// key too) and help, in the order of [`histograms`].
const HISTOGRAMS: [(&str, &str); 2] = [
    (
        "queue_wait_seconds",
        "Time requests waited for a Python thread.",
    ),
    (
        "app_seconds",
        "Time requests spent in the app, from the call to the end of the response.",
    ),
];

fn histograms(f: &AppFigures) -> [&Histogram; 2] {
    [&f.queue_wait, &f.app_time]
}

/// A label value as the text format wants it: `\`, `"` and newline
/// escaped, the rest (UTF-8) as is.
fn push_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The Prometheus text, one family after the other.
struct Prometheus {
    out: String,
}

impl Prometheus {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP ngx_wsgi_{name} {help}");
        let _ = writeln!(self.out, "# TYPE ngx_wsgi_{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str("ngx_wsgi_");
        self.out.push_str(name);
        for (i, (k, v)) in labels.iter().enumerate() {
            self.out.push(if i == 0 { '{' } else { ',' });
            self.out.push_str(k);
            self.out.push_str("=\"");
            push_label_value(&mut self.out, v);
            self.out.push('"');
        }
        if !labels.is_empty() {
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// The snapshot in Prometheus's text format 0.0.4 (serve it as
/// `text/plain; version=0.0.4; charset=utf-8`).
pub fn prometheus(s: &Snapshot) -> String {
    let mut p = Prometheus { out: String::new() };

    p.family(
        "requests_total",
        "counter",
        "Requests answered, by app and status class.",
    );
    for (app, f) in &s.apps {
        for (class, n) in CLASSES.iter().zip(f.requests) {
            p.sample("requests_total", &[("app", app), ("class", class)], n);
        }
    }
    for c in Counter::ALL {
        let (name, help) = counter_family(c);
        p.family(name, "counter", help);
        for (app, f) in &s.apps {
            p.sample(name, &[("app", app)], f.counter(c));
        }
    }
    for (i, (name, help)) in HISTOGRAMS.into_iter().enumerate() {
        p.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        for (app, f) in &s.apps {
            let h = histograms(f)[i];
            for (le, n) in le_values().zip(h.cumulative()) {
                p.sample(&bucket, &[("app", app), ("le", &le)], n);
            }
            p.sample(&format!("{name}_sum"), &[("app", app)], seconds(h.sum_us));
            p.sample(&format!("{name}_count"), &[("app", app)], h.count);
        }
    }

    p.family(
        "worker_recycles_total",
        "counter",
        "Workers recycled, by reason.",
    );
    for (reason, n) in RecycleReason::ALL.iter().zip(s.recycles) {
        p.sample("worker_recycles_total", &[("reason", reason.as_str())], n);
    }
    p.family("workers", "gauge", "Live nginx workers publishing metrics.");
    p.sample("workers", &[], s.workers.len());
    let gauges: [(&str, &str); 4] = [
        (
            "busy_threads",
            "Python threads running a request, per worker.",
        ),
        (
            "queued_requests",
            "Requests waiting for a Python thread, per worker.",
        ),
        (
            "parked_responses",
            "Responses parked while their client catches up, per worker.",
        ),
        (
            "worker_rss_bytes",
            "Resident set size of the worker, in bytes.",
        ),
    ];
    for (i, (name, help)) in gauges.into_iter().enumerate() {
        p.family(name, "gauge", help);
        for w in &s.workers {
            let pid = w.pid.to_string();
            p.sample(name, &[("pid", &pid)], w.gauges.fields()[i]);
        }
    }
    p.out
}

/// A JSON string literal: `"`, `\` and control characters escaped, the
/// rest (UTF-8) as is.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `{"k": v, ...}` from pairs whose values are already JSON.
fn push_json_object<K: AsRef<str>>(out: &mut String, pairs: impl IntoIterator<Item = (K, String)>) {
    out.push('{');
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, k.as_ref());
        out.push(':');
        out.push_str(&v);
    }
    out.push('}');
}

fn json_histogram(h: &Histogram) -> String {
    let mut out = String::from("{\"buckets\":[");
    for (i, (le, n)) in le_values().zip(h.cumulative()).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"le\":\"{le}\",\"count\":{n}}}");
    }
    let _ = write!(
        out,
        "],\"sum\":{},\"count\":{}}}",
        seconds(h.sum_us),
        h.count
    );
    out
}

fn json_app(f: &AppFigures) -> String {
    let mut out = String::new();
    let requests = CLASSES
        .iter()
        .zip(f.requests)
        .map(|(c, n)| (c, n.to_string()));
    let mut requests_json = String::new();
    push_json_object(&mut requests_json, requests);
    let counters = Counter::ALL.map(|c| (c.as_str(), f.counter(c).to_string()));
    let hists = HISTOGRAMS
        .iter()
        .zip(histograms(f))
        .map(|((key, _), h)| (*key, json_histogram(h)));
    push_json_object(
        &mut out,
        [("requests", requests_json)]
            .into_iter()
            .chain(counters)
            .chain(hists),
    );
    out
}

/// The snapshot as one JSON object, on one line.
pub fn json(s: &Snapshot) -> String {
    let mut workers = String::from("[");
    for (i, w) in s.workers.iter().enumerate() {
        if i > 0 {
            workers.push(',');
        }
        let g = w.gauges;
        let _ = write!(
            workers,
            "{{\"pid\":{},\"busy_threads\":{},\"queued\":{},\"parked\":{},\"rss_bytes\":{}}}",
            w.pid, g.busy_threads, g.queued, g.parked, g.rss_bytes
        );
    }
    workers.push(']');
    let mut apps = String::new();
    push_json_object(
        &mut apps,
        s.apps.iter().map(|(name, f)| (name, json_app(f))),
    );
    let mut recycles = String::new();
    push_json_object(
        &mut recycles,
        RecycleReason::ALL
            .iter()
            .zip(s.recycles)
            .map(|(r, n)| (r.as_str(), n.to_string())),
    );
    let mut out = String::new();
    push_json_object(
        &mut out,
        [("workers", workers), ("apps", apps), ("recycles", recycles)],
    );
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::test_rng::Rng;
    use crate::metrics::{Gauges, WorkerGauges};
    use std::time::Duration;

    /// One app with a little of everything and a name to escape; one
    /// worker.
    fn small() -> Snapshot {
        let mut a = AppFigures {
            requests: [1, 20, 3, 4, 5],
            counters: [6, 7, 8, 9, 10, 11, 12],
            ..AppFigures::default()
        };
        for us in [1000, 1001, 60_000_000, 61_000_000] {
            a.queue_wait.observe(Duration::from_micros(us));
        }
        a.app_time.observe(Duration::from_micros(2_500_000));
        Snapshot {
            apps: vec![("a\"b\\c\nd".into(), a)],
            recycles: [1, 2, 3],
            workers: vec![WorkerGauges {
                pid: 4242,
                gauges: Gauges {
                    busy_threads: 2,
                    queued: 3,
                    parked: 1,
                    rss_bytes: 52_428_800,
                },
            }],
        }
    }

    /// `small()` in Prometheus's text format.
    const GOLDEN: &str = r#"# HELP ngx_wsgi_requests_total Requests answered, by app and status class.
# TYPE ngx_wsgi_requests_total counter
ngx_wsgi_requests_total{app="a\"b\\c\nd",class="1xx"} 1
ngx_wsgi_requests_total{app="a\"b\\c\nd",class="2xx"} 20
ngx_wsgi_requests_total{app="a\"b\\c\nd",class="3xx"} 3
ngx_wsgi_requests_total{app="a\"b\\c\nd",class="4xx"} 4
ngx_wsgi_requests_total{app="a\"b\\c\nd",class="5xx"} 5
# HELP ngx_wsgi_app_exceptions_total Requests in which the app raised an exception.
# TYPE ngx_wsgi_app_exceptions_total counter
ngx_wsgi_app_exceptions_total{app="a\"b\\c\nd"} 6
# HELP ngx_wsgi_responses_aborted_total Responses cut short: the client got an incomplete message.
# TYPE ngx_wsgi_responses_aborted_total counter
ngx_wsgi_responses_aborted_total{app="a\"b\\c\nd"} 7
# HELP ngx_wsgi_request_timeouts_total Requests that ran past their time limit in the app.
# TYPE ngx_wsgi_request_timeouts_total counter
ngx_wsgi_request_timeouts_total{app="a\"b\\c\nd"} 8
# HELP ngx_wsgi_queue_timeouts_total Requests that waited for a thread longer than wsgi_queue_timeout.
# TYPE ngx_wsgi_queue_timeouts_total counter
ngx_wsgi_queue_timeouts_total{app="a\"b\\c\nd"} 9
# HELP ngx_wsgi_queue_rejections_total Requests turned away because the queue was full.
# TYPE ngx_wsgi_queue_rejections_total counter
ngx_wsgi_queue_rejections_total{app="a\"b\\c\nd"} 10
# HELP ngx_wsgi_fallbacks_total Requests handed to the uwsgi_upstream fallback.
# TYPE ngx_wsgi_fallbacks_total counter
ngx_wsgi_fallbacks_total{app="a\"b\\c\nd"} 11
# HELP ngx_wsgi_client_closed_total Requests whose client closed the connection before the response was complete.
# TYPE ngx_wsgi_client_closed_total counter
ngx_wsgi_client_closed_total{app="a\"b\\c\nd"} 12
# HELP ngx_wsgi_queue_wait_seconds Time requests waited for a Python thread.
# TYPE ngx_wsgi_queue_wait_seconds histogram
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="0.001"} 1
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="0.0025"} 2
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="0.005"} 2
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="0.01"} 2
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="0.025"} 2
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="0.05"} 2
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="0.1"} 2
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="0.25"} 2
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="0.5"} 2
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="1"} 2
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="2.5"} 2
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="5"} 2
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="10"} 2
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="30"} 2
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="60"} 3
ngx_wsgi_queue_wait_seconds_bucket{app="a\"b\\c\nd",le="+Inf"} 4
ngx_wsgi_queue_wait_seconds_sum{app="a\"b\\c\nd"} 121.002001
ngx_wsgi_queue_wait_seconds_count{app="a\"b\\c\nd"} 4
# HELP ngx_wsgi_app_seconds Time requests spent in the app, from the call to the end of the response.
# TYPE ngx_wsgi_app_seconds histogram
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="0.001"} 0
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="0.0025"} 0
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="0.005"} 0
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="0.01"} 0
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="0.025"} 0
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="0.05"} 0
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="0.1"} 0
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="0.25"} 0
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="0.5"} 0
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="1"} 0
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="2.5"} 1
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="5"} 1
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="10"} 1
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="30"} 1
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="60"} 1
ngx_wsgi_app_seconds_bucket{app="a\"b\\c\nd",le="+Inf"} 1
ngx_wsgi_app_seconds_sum{app="a\"b\\c\nd"} 2.5
ngx_wsgi_app_seconds_count{app="a\"b\\c\nd"} 1
# HELP ngx_wsgi_worker_recycles_total Workers recycled, by reason.
# TYPE ngx_wsgi_worker_recycles_total counter
ngx_wsgi_worker_recycles_total{reason="max_requests"} 1
ngx_wsgi_worker_recycles_total{reason="max_rss"} 2
ngx_wsgi_worker_recycles_total{reason="request_timeout"} 3
# HELP ngx_wsgi_workers Live nginx workers publishing metrics.
# TYPE ngx_wsgi_workers gauge
ngx_wsgi_workers 1
# HELP ngx_wsgi_busy_threads Python threads running a request, per worker.
# TYPE ngx_wsgi_busy_threads gauge
ngx_wsgi_busy_threads{pid="4242"} 2
# HELP ngx_wsgi_queued_requests Requests waiting for a Python thread, per worker.
# TYPE ngx_wsgi_queued_requests gauge
ngx_wsgi_queued_requests{pid="4242"} 3
# HELP ngx_wsgi_parked_responses Responses parked while their client catches up, per worker.
# TYPE ngx_wsgi_parked_responses gauge
ngx_wsgi_parked_responses{pid="4242"} 1
# HELP ngx_wsgi_worker_rss_bytes Resident set size of the worker, in bytes.
# TYPE ngx_wsgi_worker_rss_bytes gauge
ngx_wsgi_worker_rss_bytes{pid="4242"} 52428800
"#;

    #[test]
    fn prometheus_golden() {
        assert_eq!(prometheus(&small()), GOLDEN);
    }

    /// With no app and no worker yet: every family's comments, in the
    /// same order, and only the series that need neither.
    #[test]
    fn prometheus_with_nothing_yet() {
        let text = prometheus(&Snapshot::default());
        let (comments, series): (Vec<&str>, Vec<&str>) =
            text.lines().partition(|l| l.starts_with('#'));
        let golden: Vec<&str> = GOLDEN.lines().filter(|l| l.starts_with('#')).collect();
        assert_eq!(comments, golden);
        assert_eq!(
            series,
            [
                "ngx_wsgi_worker_recycles_total{reason=\"max_requests\"} 0",
                "ngx_wsgi_worker_recycles_total{reason=\"max_rss\"} 0",
                "ngx_wsgi_worker_recycles_total{reason=\"request_timeout\"} 0",
                "ngx_wsgi_workers 0",
            ]
        );
        assert!(text.ends_with("# TYPE ngx_wsgi_worker_rss_bytes gauge\n"));
    }

    #[test]
    fn json_golden() {
        let expected = concat!(
            r#"{"workers":[{"pid":4242,"busy_threads":2,"queued":3,"parked":1,"rss_bytes":52428800}],"#,
            r#""apps":{"a\"b\\c\nd":{"requests":{"1xx":1,"2xx":20,"3xx":3,"4xx":4,"5xx":5},"#,
            r#""exceptions":6,"aborted":7,"timeouts":8,"queue_timeouts":9,"rejections":10,"fallbacks":11,"client_closed":12,"#,
            r#""queue_wait_seconds":{"buckets":[{"le":"0.001","count":1},{"le":"0.0025","count":2},{"le":"0.005","count":2},{"le":"0.01","count":2},{"le":"0.025","count":2},{"le":"0.05","count":2},{"le":"0.1","count":2},{"le":"0.25","count":2},{"le":"0.5","count":2},{"le":"1","count":2},{"le":"2.5","count":2},{"le":"5","count":2},{"le":"10","count":2},{"le":"30","count":2},{"le":"60","count":3},{"le":"+Inf","count":4}],"sum":121.002001,"count":4},"#,
            r#""app_seconds":{"buckets":[{"le":"0.001","count":0},{"le":"0.0025","count":0},{"le":"0.005","count":0},{"le":"0.01","count":0},{"le":"0.025","count":0},{"le":"0.05","count":0},{"le":"0.1","count":0},{"le":"0.25","count":0},{"le":"0.5","count":0},{"le":"1","count":0},{"le":"2.5","count":1},{"le":"5","count":1},{"le":"10","count":1},{"le":"30","count":1},{"le":"60","count":1},{"le":"+Inf","count":1}],"sum":2.5,"count":1}}},"#,
            r#""recycles":{"max_requests":1,"max_rss":2,"request_timeout":3}}"#,
            "\n"
        );
        assert_eq!(json(&small()), expected);
        assert_eq!(
            json(&Snapshot::default()),
            "{\"workers\":[],\"apps\":{},\
             \"recycles\":{\"max_requests\":0,\"max_rss\":0,\"request_timeout\":0}}\n"
        );
    }

    #[test]
    fn seconds_are_exact() {
        let cases = [
            (0, "0"),
            (1, "0.000001"),
            (1000, "0.001"),
            (1500, "0.0015"),
            (2500, "0.0025"),
            (999_999, "0.999999"),
            (1_000_000, "1"),
            (2_500_000, "2.5"),
            (61_000_010, "61.00001"),
            (u64::MAX, "18446744073709.551615"),
        ];
        for (us, text) in cases {
            assert_eq!(seconds(us), text);
        }
        let le: Vec<String> = le_values().collect();
        assert_eq!(
            le,
            [
                "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
                "2.5", "5", "10", "30", "60", "+Inf"
            ]
        );
    }

    #[test]
    fn apps_in_table_order_workers_by_pid() {
        let mut s = small();
        s.apps[0].0 = "first".into();
        let mut second = AppFigures::default();
        second.counters[Counter::Fallbacks as usize] = 5;
        s.apps.push(("second".into(), second));
        s.workers.push(WorkerGauges {
            pid: 5000,
            gauges: Gauges::default(),
        });
        let text = prometheus(&s);
        let lines = |prefix: &str| -> Vec<&str> {
            text.lines().filter(|l| l.starts_with(prefix)).collect()
        };
        assert_eq!(
            lines("ngx_wsgi_fallbacks_total{"),
            [
                "ngx_wsgi_fallbacks_total{app=\"first\"} 11",
                "ngx_wsgi_fallbacks_total{app=\"second\"} 5"
            ]
        );
        assert_eq!(
            lines("ngx_wsgi_app_seconds_count{"),
            [
                "ngx_wsgi_app_seconds_count{app=\"first\"} 1",
                "ngx_wsgi_app_seconds_count{app=\"second\"} 0"
            ]
        );
        assert_eq!(lines("ngx_wsgi_requests_total{app=\"second\"").len(), 5);
        assert_eq!(
            lines("ngx_wsgi_queue_wait_seconds_bucket{app=\"second\"").len(),
            16
        );
        assert_eq!(
            lines("ngx_wsgi_busy_threads{"),
            [
                "ngx_wsgi_busy_threads{pid=\"4242\"} 2",
                "ngx_wsgi_busy_threads{pid=\"5000\"} 0"
            ]
        );
        assert_eq!(lines("ngx_wsgi_workers "), ["ngx_wsgi_workers 2"]);
        // 16 families of two comment lines; 48 series an app; 3 recycles,
        // the worker count, 4 gauges a worker.
        assert_eq!(text.lines().count(), 32 + 2 * 48 + 3 + 1 + 2 * 4);

        let j = json(&s);
        let first = j.find("\"first\":").unwrap();
        let second = j.find("\"second\":").unwrap();
        assert!(first < second);
        assert!(j.contains("\"second\":{\"requests\":{\"1xx\":0,"));
        assert!(j.contains("\"fallbacks\":5,"));
        assert!(j.starts_with(
            "{\"workers\":[{\"pid\":4242,\"busy_threads\":2,\"queued\":3,\"parked\":1,\
             \"rss_bytes\":52428800},{\"pid\":5000,\"busy_threads\":0,\"queued\":0,\
             \"parked\":0,\"rss_bytes\":0}],"
        ));
    }

    #[test]
    fn json_escapes_quotes_backslashes_and_controls() {
        let mut out = String::new();
        push_json_str(&mut out, "q\"b\\n\nr\rt\t\u{1}\u{1f}\u{7f} é\u{2028}");
        assert_eq!(
            out,
            "\"q\\\"b\\\\n\\nr\\rt\\t\\u0001\\u001f\u{7f} é\u{2028}\""
        );
        let mut out = String::new();
        push_label_value(&mut out, "q\"b\\n\nr\rt\t é");
        assert_eq!(out, "q\\\"b\\\\n\\nr\rt\t é");
    }

    // ---- randomized, fixed seeds ----

    /// The label value back from its escaped form.
    fn unescape_label(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(c @ ('\\' | '"')) => out.push(c),
                    other => panic!("bad escape {other:?} in {s:?}"),
                },
                '"' | '\n' => panic!("unescaped {c:?} in {s:?}"),
                c => out.push(c),
            }
        }
        out
    }

    /// A JSON string literal back (with its quotes).
    fn unescape_json(s: &str) -> String {
        let inner = s
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap();
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next().unwrap() {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                    }
                    c @ ('\\' | '"' | '/') => out.push(c),
                    other => panic!("bad escape {other:?} in {s:?}"),
                },
                '"' => panic!("unescaped quote in {s:?}"),
                c if c < ' ' => panic!("raw control {c:?} in {s:?}"),
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn random_names_escape_and_come_back() {
        let alphabet: Vec<char> = "ab:._\"\\\n\r\t\u{0}\u{1b}é€\u{1F600}{}=,#"
            .chars()
            .collect();
        let mut rng = Rng::new(1);
        for _ in 0..2000 {
            let len = rng.below(12);
            let name: String = (0..len).map(|_| rng.pick(&alphabet)).collect();
            let mut label = String::new();
            push_label_value(&mut label, &name);
            assert_eq!(unescape_label(&label), name);
            let mut js = String::new();
            push_json_str(&mut js, &name);
            assert_eq!(unescape_json(&js), name);

            // In the whole text: one line per series, the name intact.
            let s = Snapshot {
                apps: vec![(name.clone(), AppFigures::default())],
                ..Snapshot::default()
            };
            let text = prometheus(&s);
            assert_eq!(text.lines().count(), 32 + 48 + 3 + 1, "{name:?}");
            let line = text
                .lines()
                .find(|l| l.starts_with("ngx_wsgi_fallbacks_total"))
                .unwrap();
            let value = line
                .strip_prefix("ngx_wsgi_fallbacks_total{app=\"")
                .and_then(|l| l.strip_suffix("\"} 0"))
                .unwrap();
            assert_eq!(unescape_label(value), name);
        }
    }
}
