//! A run cut into short windows (100 ms in the spike), for watching overload and recovery: how many
//! requests were meant to leave, actually left and were answered in each window, the latency of the
//! requests meant for it (from their intended send time, and from the moment they actually left), and
//! how many were still waiting for an answer at its end.

use crate::classes::Class;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Latencies above a minute are clamped, as in the recorder.
const MAX_MICROS: u64 = 60_000_000;
/// A run's windows stop here (an hour of 100 ms windows); later answers are left out of the windows.
const MAX_WINDOWS: usize = 36_000;

struct Window {
    /// Requests meant to leave in this window (by intended send time).
    offered: u64,
    /// Requests that left in this window (by actual send time): below `offered` when the load
    /// generator itself falls behind.
    sent: u64,
    /// Requests whose outcome (answer, timeout or failure) arrived in this window.
    finished: u64,
    /// Of those, the HTTP answers: the service's throughput in this window.
    arrived: u64,
    /// Of the requests meant for this window: those answered with an HTTP status.
    answered: u64,
    /// Of the requests meant for this window: those whose class is not a proper answer.
    improper: u64,
    /// Latency of the answered requests meant for this window, from their intended send time.
    latency: Histogram<u64>,
    /// The same answers timed from the moment their request actually left: the service's own part,
    /// without the wait in the load generator before the send.
    service: Histogram<u64>,
    classes: BTreeMap<&'static str, u64>,
}

/// Records answers into fixed windows from an origin.
pub struct Windows {
    origin: Instant,
    width: Duration,
    empty: Histogram<u64>,
    windows: Vec<Window>,
}

/// One window as reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowPoint {
    /// Start of the window, in milliseconds since the origin (the sale's opening in the spike).
    pub start_ms: u64,
    pub offered: u64,
    pub sent: u64,
    pub finished: u64,
    /// HTTP answers that arrived in this window (whenever their request was meant to leave).
    pub arrived: u64,
    /// Of the requests meant for this window: those that got an HTTP answer, and those whose answer
    /// was not a proper one.
    pub answered: u64,
    pub improper: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    /// The answered p99 from the actual send (see [`Span::service_p99_us`]).
    #[serde(default)]
    pub service_p99_us: u64,
    /// Requests meant to leave by the window's end that had no outcome yet at its end.
    pub backlog: u64,
}

/// The figures of a span of windows (the spike, or what came after it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub offered: u64,
    /// Requests sent, and HTTP answers that arrived, within the span's time.
    pub sent: u64,
    pub arrived: u64,
    /// Of the requests meant for the span: those that got an HTTP answer (whenever it came).
    pub answered: u64,
    pub improper: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// The same answers' latency from the moment their request actually left rather than from its
    /// intended send time: far below `p99_us`, the wait was in the load generator (out of CPU or at
    /// its in-flight bound), not in the service.
    #[serde(default)]
    pub service_p50_us: u64,
    #[serde(default)]
    pub service_p99_us: u64,
    /// Requests meant for the span by class (see [`Class::label`]).
    pub classes: BTreeMap<String, u64>,
}

impl Windows {
    pub fn new(origin: Instant, width: Duration) -> Result<Self, hdrhistogram::CreationError> {
        Ok(Self {
            origin,
            width: width.max(Duration::from_millis(1)),
            empty: Histogram::new_with_bounds(1, MAX_MICROS, 2)?,
            windows: Vec::new(),
        })
    }

    pub fn width(&self) -> Duration {
        self.width
    }

    fn index(&self, at: Instant) -> Option<usize> {
        let since = at.saturating_duration_since(self.origin);
        let i = usize::try_from(since.as_nanos() / self.width.as_nanos().max(1)).ok()?;
        (i < MAX_WINDOWS).then_some(i)
    }

    fn window(&mut self, i: usize) -> &mut Window {
        while self.windows.len() <= i {
            self.windows.push(Window {
                offered: 0,
                sent: 0,
                finished: 0,
                arrived: 0,
                answered: 0,
                improper: 0,
                latency: self.empty.clone(),
                service: self.empty.clone(),
                classes: BTreeMap::new(),
            });
        }
        &mut self.windows[i]
    }

    /// One request: meant to leave at `intended`, sent at `sent`, its outcome at `done`.
    pub fn record(&mut self, intended: Instant, sent: Instant, done: Instant, class: Class) {
        if let Some(i) = self.index(intended) {
            let w = self.window(i);
            w.offered += 1;
            *w.classes.entry(class.label()).or_default() += 1;
            if class.answered() {
                w.answered += 1;
                w.latency.saturating_record(micros(intended, done));
                w.service.saturating_record(micros(sent, done));
            }
            if !class.proper() {
                w.improper += 1;
            }
        }
        if let Some(i) = self.index(sent) {
            self.window(i).sent += 1;
        }
        if let Some(i) = self.index(done) {
            let w = self.window(i);
            w.finished += 1;
            w.arrived += u64::from(class.answered());
        }
    }

    pub fn points(&self) -> Vec<WindowPoint> {
        let width_ms = u64::try_from(self.width.as_millis()).unwrap_or(u64::MAX);
        let (mut offered, mut finished) = (0u64, 0u64);
        self.windows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                offered += w.offered;
                finished += w.finished;
                WindowPoint {
                    start_ms: i as u64 * width_ms,
                    offered: w.offered,
                    sent: w.sent,
                    finished: w.finished,
                    arrived: w.arrived,
                    answered: w.answered,
                    improper: w.improper,
                    p50_us: quantile(&w.latency, 0.5),
                    p99_us: quantile(&w.latency, 0.99),
                    service_p99_us: quantile(&w.service, 0.99),
                    backlog: offered.saturating_sub(finished),
                }
            })
            .collect()
    }

    /// The requests meant for windows `from..to` (in time since the origin), taken together.
    pub fn span(&self, from: Duration, to: Duration) -> Span {
        let first = self.index(self.origin + from).unwrap_or(MAX_WINDOWS);
        let last = self.index(self.origin + to).unwrap_or(MAX_WINDOWS);
        let (mut latency, mut service) = (self.empty.clone(), self.empty.clone());
        let mut span = Span::default();
        for w in self.windows.iter().take(last).skip(first) {
            span.offered += w.offered;
            span.sent += w.sent;
            span.arrived += w.arrived;
            span.answered += w.answered;
            span.improper += w.improper;
            let _ = latency.add(&w.latency);
            let _ = service.add(&w.service);
            for (class, n) in &w.classes {
                *span.classes.entry((*class).to_owned()).or_default() += n;
            }
        }
        span.p50_us = quantile(&latency, 0.5);
        span.p99_us = quantile(&latency, 0.99);
        span.max_us = latency.max();
        span.service_p50_us = quantile(&service, 0.5);
        span.service_p99_us = quantile(&service, 0.99);
        span
    }
}

/// Microseconds from `from` to `to`, within the histograms' bounds.
fn micros(from: Instant, to: Instant) -> u64 {
    let micros = to.saturating_duration_since(from).as_micros();
    u64::try_from(micros)
        .unwrap_or(MAX_MICROS)
        .clamp(1, MAX_MICROS)
}

/// 0 for no answers at all.
fn quantile(h: &Histogram<u64>, q: f64) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(q)
    }
}

/// How long after `spike_end_ms` the service was back to normal: the start of the first window from
/// which on every window with requests had its answered p99 at most `p99_limit_us` and only proper
/// answers, and no request meant to leave before the window's start was still unanswered at its end.
/// `None` when that never happened before the windows end.
pub fn recovery(points: &[WindowPoint], spike_end_ms: u64, p99_limit_us: u64) -> Option<Duration> {
    let healthy = |p: &WindowPoint| {
        let calm = p.offered == 0 || (p.p99_us <= p99_limit_us && p.improper == 0);
        calm && p.backlog <= p.offered
    };
    let after: Vec<&WindowPoint> = points
        .iter()
        .filter(|p| p.start_ms >= spike_end_ms)
        .collect();
    // The last window is usually cut short by the end of the run: it still counts, it only has
    // fewer requests.
    let mut from = None;
    for p in after.iter().rev() {
        if healthy(p) {
            from = Some(p.start_ms);
        } else {
            break;
        }
    }
    from.map(|start| Duration::from_millis(start - spike_end_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(start_ms: u64, p99_ms: u64, backlog: u64) -> WindowPoint {
        WindowPoint {
            start_ms,
            offered: 10,
            sent: 10,
            finished: 10,
            arrived: 10,
            answered: 10,
            improper: 0,
            p50_us: 1000,
            p99_us: p99_ms * 1000,
            service_p99_us: 1000,
            backlog,
        }
    }

    #[test]
    fn requests_count_where_they_were_meant_sent_and_finished() {
        let origin = Instant::now();
        let ms = Duration::from_millis;
        let mut windows = Windows::new(origin, ms(100)).unwrap();
        // Meant for the first window, sent in the second, answered in the fourth.
        windows.record(
            origin + ms(50),
            origin + ms(150),
            origin + ms(350),
            Class::SoldOut,
        );
        windows.record(
            origin + ms(60),
            origin + ms(60),
            origin + ms(70),
            Class::Created,
        );
        windows.record(
            origin + ms(120),
            origin + ms(120),
            origin + ms(5120),
            Class::Timeout,
        );
        let points = windows.points();
        assert_eq!(points.len(), 52);
        assert_eq!((points[0].offered, points[0].answered), (2, 2));
        assert!((299_000..302_000).contains(&points[0].p99_us), "{points:?}");
        // From the send, the late one took 200 ms.
        assert!(
            (199_000..202_000).contains(&points[0].service_p99_us),
            "{points:?}"
        );
        assert_eq!(points[1].sent, 2);
        assert_eq!((points[1].improper, points[1].answered), (1, 0));
        assert_eq!((points[3].finished, points[3].arrived), (1, 1));
        assert_eq!((points[51].finished, points[51].arrived), (1, 0));
        // At the end of the second window all three were meant to leave and one had an outcome.
        assert_eq!(points[1].backlog, 2);
        assert_eq!(points[3].backlog, 1);
        assert_eq!(points[51].backlog, 0);
    }

    #[test]
    fn a_span_merges_its_windows_classes_and_latencies() {
        let origin = Instant::now();
        let ms = Duration::from_millis;
        let mut windows = Windows::new(origin, ms(100)).unwrap();
        windows.record(origin, origin, origin + ms(10), Class::Created);
        windows.record(
            origin + ms(150),
            origin + ms(150),
            origin + ms(170),
            Class::Shed,
        );
        windows.record(
            origin + ms(250),
            origin + ms(250),
            origin + ms(251),
            Class::SoldOut,
        );
        let span = windows.span(ms(0), ms(200));
        assert_eq!((span.offered, span.answered, span.improper), (2, 2, 0));
        assert_eq!(span.classes.get("503 Retry-After"), Some(&1));
        assert_eq!(span.classes.get("201"), Some(&1));
        assert!(span.p99_us >= 19_000 && span.p99_us <= 21_000, "{span:?}");
    }

    #[test]
    fn the_wait_before_the_send_counts_in_the_latency_not_in_the_service_time() {
        let origin = Instant::now();
        let ms = Duration::from_millis;
        let mut windows = Windows::new(origin, ms(100)).unwrap();
        // Held back 900 ms in the load generator, then answered in 5 ms.
        for i in 0..10 {
            windows.record(
                origin + ms(i),
                origin + ms(900 + i),
                origin + ms(905 + i),
                Class::SoldOut,
            );
        }
        let span = windows.span(ms(0), ms(100));
        assert!((899_000..911_000).contains(&span.p99_us), "{span:?}");
        assert!((4_900..5_100).contains(&span.service_p99_us), "{span:?}");
        assert!((4_900..5_100).contains(&span.service_p50_us), "{span:?}");
    }

    #[test]
    fn recovery_is_the_first_window_after_which_every_window_is_healthy() {
        let points = vec![
            point(0, 80, 500),
            point(100, 60, 200),
            // The spike ends at 200 ms.
            point(200, 70, 50),
            point(300, 20, 30),
            point(400, 10, 0),
            point(500, 10, 0),
        ];
        assert_eq!(
            recovery(&points, 200, 50_000),
            Some(Duration::from_millis(200))
        );
    }

    #[test]
    fn a_slow_window_late_in_the_run_means_no_recovery_before_it() {
        let points = vec![point(200, 10, 0), point(300, 90, 0), point(400, 10, 0)];
        assert_eq!(
            recovery(&points, 200, 50_000),
            Some(Duration::from_millis(200))
        );
        let points = vec![point(200, 10, 0), point(300, 10, 0), point(400, 90, 0)];
        assert_eq!(recovery(&points, 200, 50_000), None);
    }

    #[test]
    fn a_window_at_the_spike_end_that_is_already_healthy_recovers_at_once() {
        let mut improper = point(100, 10, 0);
        improper.improper = 1;
        let points = vec![improper, point(200, 10, 0)];
        assert_eq!(recovery(&points, 200, 50_000), Some(Duration::ZERO));
    }
}
