//! The two ways of offering load. Open loop: requests leave on a fixed schedule whatever the server
//! does, and each latency counts from the request's *intended* send time, so a stalled server shows its
//! stall in every request queued behind it (coordinated omission corrected). Closed loop: N buyers, each
//! sending its next request when the previous answer arrives (latency from the actual send).

use crate::execute::Context;
use crate::workload::Traffic;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How load is offered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Load {
    /// A request every `1/rate` seconds.
    Open { rate: f64 },
    /// `buyers` concurrent buyers, each waiting for its answer before the next request.
    Closed { buyers: usize },
    /// Every request of the traffic at the same instant (the start of a sale).
    Burst,
    /// Open loop at `rate` for `spike_s` seconds, then at `then_rate` until the run's duration ends:
    /// a crowd at the instant a sale opens, then the traffic that follows it.
    Spike {
        rate: f64,
        spike_s: f64,
        then_rate: f64,
    },
}

/// When request `seq` is meant to leave, `None` once the schedule is over.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// All at the start.
    Burst,
    /// `rate` per second for `first` seconds, then `then` per second until `total` seconds.
    Steady {
        rate: f64,
        first: f64,
        then: f64,
        total: f64,
    },
}

impl Pace {
    fn at(self, seq: u64) -> Option<f64> {
        match self {
            Self::Burst => Some(0.0),
            Self::Steady {
                rate,
                first,
                then,
                total,
            } => {
                let rate = rate.max(1e-3);
                // Request n of the first phase leaves at n/rate; those of the second count from its
                // own start, so a fraction of an interval is never lost at the boundary.
                let in_first = (first * rate).ceil();
                let seq = seq as f64;
                let at = if seq < in_first {
                    seq / rate
                } else {
                    first + (seq - in_first) / then.max(1e-3)
                };
                (at < total).then_some(at)
            }
        }
    }
}

/// When to stop and how much may be in flight at once (open loop and burst; the connection pool is
/// sized to it).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub duration: Duration,
    pub max_requests: Option<u64>,
    pub max_in_flight: usize,
}

/// Offers `traffic` from `start` until the bounds are reached, then waits for every answer.
pub async fn drive(
    ctx: Arc<Context>,
    traffic: Arc<Traffic>,
    load: Load,
    bounds: Bounds,
    start: Instant,
) {
    let limit = match (bounds.max_requests, traffic.limit()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match load {
        Load::Closed { buyers } => {
            closed(ctx, traffic, buyers, bounds.duration, limit, start).await
        }
        Load::Open { rate } => {
            let total = bounds.duration.as_secs_f64();
            let pace = Pace::Steady {
                rate,
                first: total,
                then: rate,
                total,
            };
            scheduled(ctx, traffic, pace, bounds, limit, start).await;
        }
        Load::Spike {
            rate,
            spike_s,
            then_rate,
        } => {
            let pace = Pace::Steady {
                rate,
                first: spike_s,
                then: then_rate,
                total: bounds.duration.as_secs_f64(),
            };
            scheduled(ctx, traffic, pace, bounds, limit, start).await;
        }
        Load::Burst => scheduled(ctx, traffic, Pace::Burst, bounds, limit, start).await,
    }
}

/// The schedule is served by `max_in_flight` lanes, each taking the next request of the schedule
/// when its previous answer is in and sending it at its intended time (at once when that has
/// passed). No task is spawned per request and no permit handed over: a request costs the load
/// generator only its own send and read, and at most `max_in_flight` are in flight.
async fn scheduled(
    ctx: Arc<Context>,
    traffic: Arc<Traffic>,
    pace: Pace,
    bounds: Bounds,
    limit: Option<u64>,
    start: Instant,
) {
    let next = Arc::new(AtomicU64::new(0));
    let mut lanes = tokio::task::JoinSet::new();
    for _ in 0..bounds.max_in_flight.max(1) {
        let (ctx, traffic, next) = (ctx.clone(), traffic.clone(), next.clone());
        lanes.spawn(async move {
            loop {
                // Taken in order, so the earliest request not yet sent is always some lane's:
                // a wait for a free lane delays the send, never the intended time, and shows in
                // the latency.
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if limit.is_some_and(|l| seq >= l) {
                    break;
                }
                let Some(at) = pace.at(seq) else {
                    break;
                };
                let Some(action) = traffic.action(seq) else {
                    break;
                };
                let intended = start + Duration::from_secs_f64(at);
                if intended > Instant::now() {
                    tokio::time::sleep_until(intended.into()).await;
                }
                ctx.perform(seq, action, intended).await;
            }
        });
    }
    while lanes.join_next().await.is_some() {}
}

async fn closed(
    ctx: Arc<Context>,
    traffic: Arc<Traffic>,
    buyers: usize,
    duration: Duration,
    limit: Option<u64>,
    start: Instant,
) {
    let next = Arc::new(AtomicU64::new(0));
    let end = start + duration;
    if start > Instant::now() {
        tokio::time::sleep_until(start.into()).await;
    }
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..buyers.max(1) {
        let (ctx, traffic, next) = (ctx.clone(), traffic.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                if Instant::now() >= end {
                    break;
                }
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if limit.is_some_and(|l| seq >= l) {
                    break;
                }
                let Some(action) = traffic.action(seq) else {
                    break;
                };
                ctx.perform(seq, action, Instant::now()).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spike_sends_at_its_rate_then_at_the_rate_after_it() {
        let pace = Pace::Steady {
            rate: 100.0,
            first: 1.0,
            then: 10.0,
            total: 2.0,
        };
        assert_eq!(pace.at(0), Some(0.0));
        assert_eq!(pace.at(99), Some(0.99));
        assert_eq!(pace.at(100), Some(1.0));
        assert_eq!(pace.at(101), Some(1.1));
        let sent = (0..).take_while(|&seq| pace.at(seq).is_some()).count();
        assert_eq!(sent, 110);
    }

    #[test]
    fn a_burst_sends_everything_at_the_start() {
        assert_eq!(Pace::Burst.at(1_000), Some(0.0));
    }
}
