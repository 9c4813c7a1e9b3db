//! The gate keeper: watches Redis, says so in metrics when it is degraded, rebuilds every gate from
//! the database once Redis answers again (its state may be lost or stale) and rebuilds the products
//! whose gate is suspected of being off or that it calls sold out while the database has units.

use crate::shared::SharedState;
use flashgate_core::checkout::GateUnavailable;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long the look at customers refused for their limit waits after the first refusal wakes it:
/// the others a crowd's first moment refuses are looked at in the same reads.
const GATHER_REFUSED: Duration = Duration::from_millis(20);
const AFTER_A_FAILED_LOOK: Duration = Duration::from_secs(1);

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
            gate.heal_limits(Instant::now()).await?;
            rebuilt
        };
        Ok(KeeperStep { degraded, rebuilt })
    }

    /// Until `token` is cancelled, looks at the customers the gate's counters refuse for their limit
    /// as they come ([`FencedGate::remember_refused`]), so that a crowd at its limit is answered
    /// from memory a moment after its first refusals instead of at the next step.
    ///
    /// [`FencedGate::remember_refused`]: flashgate_core::checkout::FencedGate::remember_refused
    pub async fn remember_refused(self, token: CancellationToken) {
        let Some(gate) = self.fast.gate.clone() else {
            return;
        };
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                () = gate.refused_at_limit() => {}
            }
            tokio::time::sleep(GATHER_REFUSED).await;
            if let Err(error) = gate.remember_refused(Instant::now()).await {
                // Only a saving is lost: their refusals keep asking the counters, and the keeper's
                // step looks at them too. The next look waits, not to spin on a database that is
                // away.
                tracing::warn!(%error, "could not look at customers refused at their limit");
                tokio::select! {
                    () = token.cancelled() => break,
                    () = tokio::time::sleep(AFTER_A_FAILED_LOOK) => {}
                }
            }
        }
    }
}
