//! Callback retention: every gateway callback is stored before it is acted on, so a forger could fill
//! the disk with unverifiable ones. Verified callbacks stay as long as their orders; unverified ones
//! are deleted once older than `callbacks.unverified_retention_seconds`.

use crate::config::within;
use flashgate_core::ports::PaymentLog;
use flashgate_core::{Clock, StoreError};
use serde::Deserialize;
use serde_with::{DurationMilliSeconds, DurationSeconds, serde_as};
use std::sync::Arc;
use std::time::Duration;

/// `[callbacks]`: what is kept of the gateway's messages that could not be verified.
#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackSettings {
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "unverified_retention_seconds")]
    pub unverified_retention: Duration,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "prune_interval_ms")]
    pub prune_interval: Duration,
    pub prune_batch: i64,
}

impl CallbackSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        let day = Duration::from_secs(24 * 3600);
        within(
            "callbacks.unverified_retention_seconds",
            self.unverified_retention,
            Duration::from_secs(1),
            365 * day,
        )?;
        within(
            "callbacks.prune_interval_ms",
            self.prune_interval,
            Duration::from_millis(1),
            day,
        )?;
        within("callbacks.prune_batch", self.prune_batch, 1, 100_000)
    }
}

#[derive(Clone)]
pub struct CallbackPruner {
    pub log: Arc<dyn PaymentLog>,
    pub clock: Arc<dyn Clock>,
    pub retention: time::Duration,
    /// Rows per DELETE, so one pass never holds a long transaction.
    pub batch: i64,
}

impl CallbackPruner {
    /// Deletes every unverified callback past its retention, a batch at a time; how many went.
    pub async fn run_once(&self) -> Result<u64, StoreError> {
        let before = self.clock.now() - self.retention;
        let mut pruned = 0;
        loop {
            let deleted = self
                .log
                .prune_unverified_callbacks(before, self.batch)
                .await?;
            pruned += deleted;
            if deleted < u64::try_from(self.batch).unwrap_or(u64::MAX) {
                break;
            }
        }
        if pruned > 0 {
            tracing::info!(pruned, "unverified callbacks past their retention deleted");
        }
        Ok(pruned)
    }
}
