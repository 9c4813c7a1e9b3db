//! What a run measured: every answer's latency in an HDR histogram (microseconds), one smaller histogram
//! per second of the run for the time series, status codes, problem `code`s and answer classes, plus live
//! counters that the progress line reads without taking the lock; optionally short windows as well.

use crate::classes::Class;
use crate::windows::{WindowPoint, Windows};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Latencies above a minute are clamped: a request that slow has failed anyway.
const MAX_MICROS: u64 = 60_000_000;

/// One answer, as the recorder sees it.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// `None` when no HTTP answer arrived (connection error or client timeout).
    pub status: Option<u16>,
    pub code: Option<&'a str>,
    /// A purchase that created (not replayed) an order.
    pub sold: bool,
    /// The answer carried `Retry-After`.
    pub retry_after: bool,
    /// No answer arrived within the client's timeout.
    pub timed_out: bool,
}

impl Answer<'_> {
    pub fn class(&self) -> Class {
        Class::of(self.status, self.code, self.retry_after, self.timed_out)
    }

    /// Transport failures and 5xx: what an operator would page on.
    pub fn is_error(&self) -> bool {
        self.status.is_none_or(|s| s >= 500)
    }
}

/// Counters the progress line reads once a second.
#[derive(Debug, Default)]
pub struct Live {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub sold: AtomicU64,
}

struct Second {
    requests: u64,
    errors: u64,
    latency: Histogram<u64>,
}

struct Inner {
    all: Histogram<u64>,
    second: Histogram<u64>,
    seconds: Vec<Second>,
    statuses: BTreeMap<String, u64>,
    codes: BTreeMap<String, u64>,
    classes: BTreeMap<Class, u64>,
    windows: Option<Windows>,
    first: Option<Instant>,
    last: Option<Instant>,
}

pub struct Recorder {
    start: Instant,
    inner: Mutex<Inner>,
    pub live: Live,
}

/// One second of the run.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SecondPoint {
    /// Seconds since the start of the run (the end of this bucket).
    pub t: u64,
    pub requests: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p99_us: u64,
}

/// Latency figures in microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    /// (quantile, microseconds) pairs for a percentile curve.
    pub curve: Vec<(f64, u64)>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Measured {
    pub requests: u64,
    pub errors: u64,
    /// From the first intended send to the last answer.
    pub elapsed_s: f64,
    pub throughput_rps: f64,
    pub latency: Latency,
    pub statuses: BTreeMap<String, u64>,
    pub codes: BTreeMap<String, u64>,
    /// Answers by [`Class::label`].
    pub classes: BTreeMap<String, u64>,
    pub series: Vec<SecondPoint>,
    /// The short windows, when the run kept them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<WindowPoint>,
}

/// The quantiles of the percentile curve: evenly spaced in "number of nines".
pub const CURVE: [f64; 13] = [
    0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999, 1.0,
];

impl Recorder {
    pub fn new(start: Instant) -> Result<Self, hdrhistogram::CreationError> {
        Ok(Self {
            start,
            inner: Mutex::new(Inner {
                all: Histogram::new_with_bounds(1, MAX_MICROS, 3)?,
                // Two significant digits per second keep a long run's series small.
                second: Histogram::new_with_bounds(1, MAX_MICROS, 2)?,
                seconds: Vec::new(),
                statuses: BTreeMap::new(),
                codes: BTreeMap::new(),
                classes: BTreeMap::new(),
                windows: None,
                first: None,
                last: None,
            }),
            live: Live::default(),
        })
    }

    /// Also keeps windows of `width` from the start (see [`Windows`]).
    pub fn with_windows(
        start: Instant,
        width: Duration,
    ) -> Result<Self, hdrhistogram::CreationError> {
        let recorder = Self::new(start)?;
        recorder.lock().windows = Some(Windows::new(start, width)?);
        Ok(recorder)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    /// The requests meant for `from..to` after the start, when windows are kept.
    pub fn span(&self, from: Duration, to: Duration) -> Option<crate::windows::Span> {
        self.lock().windows.as_ref().map(|w| w.span(from, to))
    }

    /// Records one answer that was meant to be sent at `intended`, left at `sent` and arrived at
    /// `done`.
    pub fn record(&self, intended: Instant, sent: Instant, done: Instant, answer: Answer<'_>) {
        let micros = done
            .saturating_duration_since(intended)
            .as_micros()
            .clamp(1, u128::from(MAX_MICROS));
        let micros = u64::try_from(micros).unwrap_or(MAX_MICROS);
        let error = answer.is_error();
        self.live.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            self.live.errors.fetch_add(1, Ordering::Relaxed);
        }
        if answer.sold {
            self.live.sold.fetch_add(1, Ordering::Relaxed);
        }
        let second = usize::try_from(done.saturating_duration_since(self.start).as_secs())
            .unwrap_or(usize::MAX);
        let class = answer.class();
        let mut inner = self.lock();
        inner.all.saturating_record(micros);
        *inner.classes.entry(class).or_default() += 1;
        if let Some(windows) = inner.windows.as_mut() {
            windows.record(intended, sent, done, class);
        }
        if second < 3600 {
            while inner.seconds.len() <= second {
                let latency = inner.second.clone();
                inner.seconds.push(Second {
                    requests: 0,
                    errors: 0,
                    latency,
                });
            }
            let bucket = &mut inner.seconds[second];
            bucket.requests += 1;
            bucket.errors += u64::from(error);
            bucket.latency.saturating_record(micros);
        }
        let status = answer
            .status
            .map_or_else(|| "transport_error".to_owned(), |s| s.to_string());
        *inner.statuses.entry(status).or_default() += 1;
        if let Some(code) = answer.code {
            *inner.codes.entry(code.to_owned()).or_default() += 1;
        }
        inner.first = Some(inner.first.map_or(intended, |f| f.min(intended)));
        inner.last = Some(inner.last.map_or(done, |l| l.max(done)));
    }

    pub fn measured(&self) -> Measured {
        let inner = self.lock();
        let elapsed = match (inner.first, inner.last) {
            (Some(first), Some(last)) => last.saturating_duration_since(first),
            _ => Duration::ZERO,
        }
        .as_secs_f64();
        let requests = inner.all.len();
        let all = &inner.all;
        let latency = if requests == 0 {
            Latency::default()
        } else {
            Latency {
                p50_us: all.value_at_quantile(0.5),
                p90_us: all.value_at_quantile(0.9),
                p99_us: all.value_at_quantile(0.99),
                p999_us: all.value_at_quantile(0.999),
                max_us: all.max(),
                mean_us: all.mean(),
                curve: CURVE
                    .iter()
                    .map(|&q| (q, all.value_at_quantile(q)))
                    .collect(),
            }
        };
        let series = inner
            .seconds
            .iter()
            .enumerate()
            .map(|(i, s)| SecondPoint {
                t: i as u64 + 1,
                requests: s.requests,
                errors: s.errors,
                p50_us: if s.requests == 0 {
                    0
                } else {
                    s.latency.value_at_quantile(0.5)
                },
                p99_us: if s.requests == 0 {
                    0
                } else {
                    s.latency.value_at_quantile(0.99)
                },
            })
            .collect();
        Measured {
            requests,
            errors: self.live.errors.load(Ordering::Relaxed),
            elapsed_s: elapsed,
            throughput_rps: if elapsed > 0.0 {
                requests as f64 / elapsed
            } else {
                0.0
            },
            latency,
            statuses: inner.statuses.clone(),
            codes: inner.codes.clone(),
            classes: inner
                .classes
                .iter()
                .map(|(class, n)| (class.label().to_owned(), *n))
                .collect(),
            series,
            windows: inner
                .windows
                .as_ref()
                .map(Windows::points)
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_measured_from_the_intended_send_time() {
        let start = Instant::now();
        let recorder = Recorder::new(start).unwrap();
        let ok = Answer {
            status: Some(200),
            code: None,
            sold: false,
            retry_after: false,
            timed_out: false,
        };
        let late = start + Duration::from_millis(100);
        recorder.record(start, late, start + Duration::from_millis(250), ok);
        recorder.record(
            start + Duration::from_millis(1),
            start + Duration::from_millis(1),
            start + Duration::from_millis(2),
            ok,
        );
        let measured = recorder.measured();
        assert_eq!(measured.requests, 2);
        assert!(measured.latency.max_us >= 249_000, "{measured:?}");
        assert_eq!(measured.statuses.get("200"), Some(&2));
    }

    #[test]
    fn transport_failures_and_5xx_count_as_errors_but_409_does_not() {
        let start = Instant::now();
        let recorder = Recorder::new(start).unwrap();
        for status in [None, Some(503), Some(409)] {
            recorder.record(
                start,
                start,
                start,
                Answer {
                    status,
                    code: None,
                    sold: false,
                    retry_after: status == Some(503),
                    timed_out: false,
                },
            );
        }
        assert_eq!(recorder.measured().errors, 2);
        assert_eq!(
            recorder.measured().statuses.get("transport_error"),
            Some(&1)
        );
        assert_eq!(recorder.measured().classes.get("503 Retry-After"), Some(&1));
        assert!(recorder.measured().windows.is_empty());
    }

    #[test]
    fn windows_are_kept_only_when_asked_for() {
        let start = Instant::now();
        let recorder = Recorder::with_windows(start, Duration::from_millis(100)).unwrap();
        let shed = Answer {
            status: Some(503),
            code: Some("overloaded"),
            sold: false,
            retry_after: true,
            timed_out: false,
        };
        recorder.record(start, start, start + Duration::from_millis(120), shed);
        let windows = recorder.measured().windows;
        assert_eq!(windows.len(), 2);
        assert_eq!((windows[0].offered, windows[1].finished), (1, 1));
        let span = recorder
            .span(Duration::ZERO, Duration::from_secs(1))
            .unwrap();
        assert_eq!(span.improper, 0);
    }
}
