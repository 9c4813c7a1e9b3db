//! The gate keeper: watches Redis, says so in metrics when it is degraded, rebuilds every gate from
//! the database once Redis answers again (its state may be lost or stale) and rebuilds the products
//! whose gate is suspected of being off or that it calls sold out while the database has units.

use crate::shared::SharedState;
use flashgate_core::checkout::GateUnavailable;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone)]
pub struct GateKeeper {
    fast: Arc<SharedState>,
    /// Whether Redis was degraded at the previous step: the next healthy step rebuilds every gate.
    was_degraded: Arc<AtomicBool>,
}

/// What one step did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KeeperStep {
    pub degraded: bool,
    pub rebuilt: usize,
}

impl GateKeeper {
    /// Gates were built at start unless Redis was already degraded then.
    pub fn new(fast: Arc<SharedState>) -> Self {
        let degraded = fast.gate.as_ref().is_some_and(|g| g.is_degraded());
        Self {
            fast,
            was_degraded: Arc::new(AtomicBool::new(degraded)),
        }
    }

    pub async fn run_once(&self) -> Result<KeeperStep, GateUnavailable> {
        let degraded = match &self.fast.redis {
            // A failed ping is what marks Redis degraded; a good one brings it back.
            Some(redis) => redis.ping().await.is_err(),
            None => false,
        };
        metrics::gauge!("flashgate_redis_degraded").set(if degraded { 1.0 } else { 0.0 });
        let Some(gate) = &self.fast.gate else {
            self.was_degraded.store(degraded, Ordering::Relaxed);
            return Ok(KeeperStep {
                degraded,
                rebuilt: 0,
            });
        };
        if degraded {
            self.was_degraded.store(true, Ordering::Relaxed);
            return Ok(KeeperStep {
                degraded,
                rebuilt: 0,
            });
        }
        let rebuilt = if self.was_degraded.load(Ordering::Relaxed) {
            let rebuilt = gate.rebuild_all().await?;
            tracing::info!(products = rebuilt, "redis answers; every gate rebuilt");
            self.was_degraded.store(false, Ordering::Relaxed);
            rebuilt
        } else {
            let rebuilt = gate.rebuild_suspects().await? + gate.heal_sold_out().await?;
            gate.heal_limits(std::time::Instant::now()).await?;
            rebuilt
        };
        Ok(KeeperStep { degraded, rebuilt })
    }
}
