//! The rate limiter as the service runs it: the three policies from the settings, shared through
//! Redis when it answers and kept in process when it does not (or when there is no Redis).

use crate::config::{LimitSettings, RatePolicy};
use flashgate_shared_state::{
    Clock, InProcessLimiter, Penalty, Policy, RateDecision, RateLimiter, RedisBackend, RedisHealth,
    RedisLimiter,
};
use std::sync::Arc;
use std::time::Duration;

pub const READS: &str = "reads";
pub const PURCHASES: &str = "purchases";
pub const CALLBACKS: &str = "callbacks";

pub struct Limits {
    shared: Option<(RedisLimiter, Arc<RedisHealth>)>,
    local: InProcessLimiter,
}

impl Limits {
    pub fn new(
        settings: &LimitSettings,
        redis: Option<&RedisBackend>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let policies = policies(settings);
        let local = InProcessLimiter::new(policies.clone(), Arc::clone(&clock))?;
        let shared = match redis {
            Some(backend) => Some((
                RedisLimiter::new(backend.clone(), policies, clock)?,
                backend.health(),
            )),
            None => None,
        };
        Ok(Self { shared, local })
    }

    /// Counts one request of `key` against `policy`. `None` only if the policy is unknown (a bug:
    /// such requests are let through and logged).
    pub async fn check(&self, policy: &str, key: &str) -> Option<RateDecision> {
        if let Some((shared, health)) = &self.shared
            && !health.is_degraded()
        {
            match shared.check(policy, key).await {
                Ok(decision) => return Some(decision),
                Err(error) => {
                    tracing::debug!(%error, "shared rate limit unavailable; limiting in process");
                }
            }
        }
        match self.local.check(policy, key).await {
            Ok(decision) => Some(decision),
            Err(error) => {
                tracing::error!(%error, policy, "rate limit check failed; letting the request through");
                None
            }
        }
    }
}

fn policies(settings: &LimitSettings) -> Vec<Policy> {
    let p = settings.penalty;
    let penalty = Penalty {
        strikes: p.strikes,
        window: Duration::from_millis(p.window_ms),
        ban: Duration::from_millis(p.ban_ms),
    };
    let policy = |name: &str, r: RatePolicy| {
        Policy::new(name, r.rate, Duration::from_millis(r.period_ms)).with_burst(r.burst)
    };
    vec![
        policy(READS, settings.reads).with_penalty(penalty),
        policy(PURCHASES, settings.purchases).with_penalty(penalty),
        // The gateway's callbacks are limited but never banned: a retried IPN must get through.
        policy(CALLBACKS, settings.callbacks),
    ]
}
