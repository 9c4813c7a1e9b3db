//! Background workers. Each exposes a `run_once()` that tests drive and a loop that stops on the
//! cancellation token, backing off with jitter after errors.

pub mod callback_pruner;
pub mod expirer;
pub mod gate_keeper;
pub mod monitor;
pub mod reconciler;
pub mod refunder;

use crate::config::within;
use serde::Deserialize;
use serde_with::{DurationMilliSeconds, DurationSeconds, serde_as};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs `step` every `interval` until `token` is cancelled; after an error the wait doubles (up to a
/// minute) with jitter, so that many instances do not retry in lockstep.
pub async fn run_every<F, Fut, E>(
    name: &'static str,
    interval: Duration,
    token: CancellationToken,
    mut step: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut wait = interval;
    loop {
        tokio::select! {
            () = token.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
        match step().await {
            Ok(()) => wait = interval,
            Err(error) => {
                wait = (wait * 2).min(Duration::from_secs(60));
                let jitter = wait.mul_f64(jitter_fraction());
                wait = wait.saturating_sub(jitter / 2) + jitter / 2;
                tracing::warn!(worker = name, %error, retry_in_ms = wait.as_millis() as u64, "worker step failed");
            }
        }
    }
    tracing::info!(worker = name, "worker stopped");
}

/// A fraction in [0, 0.5) from the clock's nanoseconds: enough to spread retries, no RNG needed.
fn jitter_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1_000) / 2_000.0
}

/// `[expirer]`: releasing holds that ran out.
#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpirerSettings {
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "interval_ms")]
    pub interval: Duration,
    pub batch: i64,
    /// How long a claim keeps other instances' workers off an order.
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "lease_seconds")]
    pub lease: Duration,
}

impl ExpirerSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        within("expirer.batch", self.batch, 1, 100_000)?;
        within("expirer.interval_ms", self.interval, MS, DAY)?;
        within("expirer.lease_seconds", self.lease, SECOND, DAY)
    }
}

/// `[reconciler]`: asking the gateway about orders whose IPN may be lost.
#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcilerSettings {
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "tick_ms")]
    pub tick: Duration,
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "first_poll_after_seconds")]
    pub first_poll_after: Duration,
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "poll_interval_seconds")]
    pub poll_interval: Duration,
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "min_poll_interval_seconds")]
    pub min_poll_interval: Duration,
    pub batch: i64,
}

impl ReconcilerSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        within("reconciler.batch", self.batch, 1, 100_000)?;
        within("reconciler.tick_ms", self.tick, MS, DAY)?;
        within(
            "reconciler.first_poll_after_seconds",
            self.first_poll_after,
            Duration::ZERO,
            DAY,
        )?;
        within(
            "reconciler.poll_interval_seconds",
            self.poll_interval,
            SECOND,
            DAY,
        )?;
        within(
            "reconciler.min_poll_interval_seconds",
            self.min_poll_interval,
            SECOND,
            self.poll_interval,
        )
    }
}

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(24 * 3600);
