//! The limiter in process: `governor` keyed GCRA limiters, one per policy, read through the
//! injected [`Clock`] so tests drive them, plus a local penalty box.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter as Governor};

use super::RateLimiter;
use super::decision::{RateDecision, Verdict, banned};
use super::penalty::{LocalBans, Strikes};
use super::policy::{Penalty, Policy, duration_us};
use crate::error::SharedStateError;
use flashgate_core::Clock;

/// Idle keys, expired bans and strikes are swept every this many checks.
const SWEEP_EVERY: u64 = 4096;

/// Feeds our clock to governor, so one driven clock moves both implementations.
#[derive(Clone)]
struct GovernorClock(Arc<dyn Clock>);

impl governor::clock::Clock for GovernorClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let ms = u64::try_from(self.0.now_ms()).unwrap_or(0);
        Nanos::from(ms.saturating_mul(1_000_000))
    }
}

type Keyed = Governor<String, DashMapStateStore<String>, GovernorClock, StateInformationMiddleware>;

pub struct InProcessLimiter {
    policies: HashMap<String, (Policy, Keyed)>,
    clock: Arc<dyn Clock>,
    bans: LocalBans,
    strikes: Strikes,
    checks: AtomicU64,
}

impl std::fmt::Debug for InProcessLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessLimiter")
            .field("policies", &self.policies.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl InProcessLimiter {
    pub fn new(policies: Vec<Policy>, clock: Arc<dyn Clock>) -> Result<Self, SharedStateError> {
        let mut by_name = HashMap::new();
        for policy in policies {
            policy.validate()?;
            let burst = NonZeroU32::new(policy.burst)
                .ok_or_else(|| SharedStateError::Invalid("burst must be positive".to_owned()))?;
            let quota = Quota::with_period(policy.emission_interval())
                .ok_or_else(|| SharedStateError::Invalid("zero emission interval".to_owned()))?
                .allow_burst(burst);
            let limiter = Keyed::new(
                quota,
                DashMapStateStore::default(),
                GovernorClock(Arc::clone(&clock)),
            );
            by_name.insert(policy.name.clone(), (policy, limiter));
        }
        Ok(Self {
            policies: by_name,
            clock,
            bans: LocalBans::default(),
            strikes: Strikes::default(),
            checks: AtomicU64::new(0),
        })
    }

    fn sweep(&self, now_us: i64) {
        let mut longest_window = 0;
        for (policy, limiter) in self.policies.values() {
            limiter.retain_recent();
            if let Some(p) = policy.penalty {
                longest_window = longest_window.max(duration_us(p.window));
            }
        }
        self.bans.sweep(now_us);
        self.strikes.sweep(now_us, longest_window);
    }
}

#[async_trait]
impl RateLimiter for InProcessLimiter {
    async fn check(&self, policy: &str, key: &str) -> Result<RateDecision, SharedStateError> {
        let (policy, limiter) = self
            .policies
            .get(policy)
            .ok_or_else(|| SharedStateError::UnknownPolicy(policy.to_owned()))?;
        let now_us = self.clock.now_ms().saturating_mul(1000);
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(now_us);
        }
        if let Some(until) = self.bans.banned_until(key, now_us) {
            return Ok(banned(policy, until - now_us));
        }
        let t = policy.emission_interval();
        match limiter.check_key(&key.to_owned()) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity().min(policy.burst);
                Ok(RateDecision {
                    policy: policy.name.clone(),
                    verdict: Verdict::Allowed,
                    limit: policy.burst,
                    window: policy.window(),
                    remaining,
                    reset_after: t * (policy.burst - remaining),
                    retry_after: None,
                })
            }
            Err(not_until) => {
                if let Some(penalty) = policy.penalty
                    && self.strike(key, &penalty).await?
                {
                    return Ok(banned(policy, duration_us(penalty.ban)));
                }
                let now = governor::clock::Clock::now(&GovernorClock(Arc::clone(&self.clock)));
                let retry = not_until.wait_time_from(now);
                Ok(RateDecision {
                    policy: policy.name.clone(),
                    verdict: Verdict::Limited,
                    limit: policy.burst,
                    window: policy.window(),
                    remaining: 0,
                    reset_after: retry + t * (policy.burst - 1),
                    retry_after: Some(retry.max(Duration::from_micros(1))),
                })
            }
        }
    }

    async fn strike(&self, key: &str, penalty: &Penalty) -> Result<bool, SharedStateError> {
        let now_us = self.clock.now_ms().saturating_mul(1000);
        if self.strikes.strike(key, now_us, penalty) {
            self.bans.ban(key, now_us + duration_us(penalty.ban));
            return Ok(true);
        }
        Ok(false)
    }
}
