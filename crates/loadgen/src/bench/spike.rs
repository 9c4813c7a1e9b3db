//! The open-loop spike: a fresh hot product whose sale opens at a fixed instant, offered a multiple of
//! the capacity this run measured (gated hot-product attempts/s) for a few seconds from that instant,
//! then a lower rate to watch it recover, in 100 ms windows; run after the rounds, once per round.

use super::results::{Figures, Row, Sample};
use super::{BenchArgs, crowd, measure_server};
use crate::driver::Load;
use crate::run::{RunConfig, RunReport};
use crate::scenario::{Scenario, ScenarioKind};
use crate::windows::{WindowPoint, recovery};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The answered p99 the spike must stay under, and the bound of a recovered window.
pub const P99_LIMIT_US: u64 = 50_000;
/// How soon after the spike the service must be back to full speed.
pub const RECOVERY_LIMIT: Duration = Duration::from_secs(1);
/// The windows' width.
pub const WINDOW: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpikeFigures {
    pub multiplier: f64,
    /// The capacity the multiple is of: gated hot-product attempts/s, closed loop, in this run.
    pub capacity: f64,
    pub rate: f64,
    pub spike_s: f64,
    /// The rate after the spike.
    pub then_rate: f64,
    /// Requests meant for the spike, those the load generator sent during it, the HTTP answers that
    /// arrived during it, and the requests meant for it that got an HTTP answer (whenever it came).
    pub offered: u64,
    pub sent: u64,
    #[serde(default)]
    pub arrived: u64,
    pub answered: u64,
    /// Requests meant for the spike whose answer was not a proper one (another 5xx, a timeout, a
    /// failed connection, an unexpected 4xx).
    pub improper: u64,
    /// The spike's requests by answer class.
    pub classes: BTreeMap<String, u64>,
    /// Latency of the spike's answered requests, from their intended send time.
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// The same answers from the moment their request actually left: the service's own part.
    #[serde(default)]
    pub service_p50_us: u64,
    #[serde(default)]
    pub service_p99_us: u64,
    /// Seconds from the spike's end to the first window from which the service was back to normal;
    /// `None`: not before the run ended.
    pub recovered_s: Option<f64>,
    pub oversold: i64,
    pub windows: Vec<WindowPoint>,
}

impl SpikeFigures {
    pub fn of(report: &RunReport, multiplier: f64, capacity: f64, then_rate: f64) -> Self {
        let (rate, spike_s) = match report.load {
            crate::Load::Spike { rate, spike_s, .. } => (rate, spike_s),
            _ => (0.0, 0.0),
        };
        let span = report.spike.clone().unwrap_or_default();
        let windows = report.measured.windows.clone();
        let spike_ms = (spike_s * 1000.0).round() as u64;
        let oversold = report
            .audit
            .products
            .iter()
            .map(|p| (p.taken.max(p.confirmed) - p.stock).max(0))
            .sum();
        Self {
            multiplier,
            capacity,
            rate,
            spike_s,
            then_rate,
            offered: span.offered,
            sent: span.sent,
            arrived: span.arrived,
            answered: span.answered,
            improper: span.improper,
            classes: span.classes,
            p50_us: span.p50_us,
            p99_us: span.p99_us,
            max_us: span.max_us,
            service_p50_us: span.service_p50_us,
            service_p99_us: span.service_p99_us,
            recovered_s: recovery(&windows, spike_ms, P99_LIMIT_US).map(|d| d.as_secs_f64()),
            oversold,
            windows,
        }
    }

    /// HTTP answers per second during the spike.
    pub fn answered_rate(&self) -> f64 {
        self.per_second(self.arrived)
    }

    pub fn per_second(&self, n: u64) -> f64 {
        if self.spike_s > 0.0 {
            n as f64 / self.spike_s
        } else {
            0.0
        }
    }
}

/// The configuration name of a multiple: `2x`.
pub fn name(multiplier: f64) -> String {
    format!("{multiplier}x")
}

/// The spike of one multiple: what it offers, of what capacity.
#[derive(Debug, Clone, Copy)]
pub(super) struct SpikePlan {
    pub(super) multiplier: f64,
    pub(super) capacity: f64,
}

impl SpikePlan {
    pub(super) fn then_rate(&self, args: &BenchArgs) -> f64 {
        (self.capacity * args.spike_after_share).max(1.0)
    }

    pub(super) fn configure(&self, args: &BenchArgs, config: &mut RunConfig) {
        let rate = self.capacity * self.multiplier;
        let then_rate = self.then_rate(args);
        let requests = rate * args.spike_seconds + then_rate * args.spike_after;
        let mut s = Scenario::new(ScenarioKind::Spike);
        s.stock = args.stock;
        s.crowd = (requests.ceil() as usize).clamp(1, super::SPIKE_CROWD);
        s.per_customer_limit = Some(1);
        s.retry_share = 0.0;
        s.burst_lead = Duration::from_secs(2);
        config.scenario = s;
        config.load = Load::Spike {
            rate,
            spike_s: args.spike_seconds,
            then_rate,
        };
        config.duration = Duration::from_secs_f64(args.spike_seconds + args.spike_after);
        config.max_in_flight = args.spike_in_flight.max(1);
        config.timeout = Duration::from_millis(args.spike_timeout_ms.max(1));
        config.windows = Some(WINDOW);
    }
}

/// The spikes, after every round: each multiple once per round, of the capacity the rounds measured.
pub(super) async fn run_spikes(
    args: &BenchArgs,
    samples: &[Sample],
    postgres: bool,
    scratch: &std::path::Path,
) -> anyhow::Result<Vec<Sample>> {
    if args.spike_multiples.is_empty() {
        return Ok(Vec::new());
    }
    let backend = crowd::backend(args, postgres);
    let hot = Figures::new(samples, args.strategies.clone(), vec![backend.clone()]);
    let Some(capacity) = hot
        .value(Row::Hot, Some(&backend), Some("gated"))
        .filter(|c| *c > 0.0)
    else {
        eprintln!(
            "bench: no gated hot-product row on {backend} in this run; the spike is left out (it is              offered a multiple of that capacity)"
        );
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for round in 0..args.rounds {
        for &multiplier in &args.spike_multiples {
            let plan = SpikePlan {
                multiplier,
                capacity,
            };
            let name = name(multiplier);
            let sample = measure_server(
                args,
                Row::Spike,
                &backend,
                Some(&name),
                round,
                scratch,
                Some(plan),
            )
            .await
            .with_context(|| format!("round {}: spike {name}", round + 1))?;
            if let Some(s) = &sample.spike {
                eprintln!(
                    "[r{} spike {name}] {:.0}/s offered, {} of {} improper, p99 {} µs, recovered {:?} s",
                    round + 1,
                    s.rate,
                    s.improper,
                    s.offered,
                    s.p99_us,
                    s.recovered_s
                );
            }
            if sample.audit_passed == Some(false) {
                eprintln!(
                    "bench: AUDIT FAILED in round {} for the spike {name}: {}",
                    round + 1,
                    sample.audit_failures.join("; ")
                );
            }
            out.push(sample);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiples_are_named_as_the_reports_show_them() {
        assert_eq!(name(2.0), "2x");
        assert_eq!(name(2.5), "2.5x");
    }
}
