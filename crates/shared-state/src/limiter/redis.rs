//! The limiter on Redis: one Lua script does the ban check, the GCRA step, and the strike count
//! that sends a client to the penalty box. Bans are cached locally once seen.
//!
//! Keys (`P` is the backend's key prefix; one hash tag per client key, so a check touches one
//! cluster slot): `P{rl:<key>}:tat:<policy>` (theoretical arrival time, µs),
//! `P{rl:<key>}:strikes` (hash `count`, `since`), `P{rl:<key>}:ban` (ban deadline, µs). Deadlines
//! are values read against the caller's clock; key TTLs only collect garbage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;

use super::RateLimiter;
use super::decision::{RateDecision, Verdict, banned, micros};
use super::penalty::LocalBans;
use super::policy::{Penalty, Policy, duration_us};
use crate::error::SharedStateError;
use crate::redis_backend::RedisBackend;
use flashgate_core::Clock;

static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/penalty.lua"),
        include_str!("lua/gcra.lua")
    ))
});
static STRIKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/penalty.lua"),
        include_str!("lua/strike.lua")
    ))
});

/// Expired local bans are swept every this many checks.
const SWEEP_EVERY: u64 = 4096;

pub struct RedisLimiter {
    backend: RedisBackend,
    policies: HashMap<String, Policy>,
    clock: Arc<dyn Clock>,
    bans: LocalBans,
    checks: AtomicU64,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("policies", &self.policies.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    pub fn new(
        backend: RedisBackend,
        policies: Vec<Policy>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SharedStateError> {
        let mut by_name = HashMap::new();
        for policy in policies {
            policy.validate()?;
            by_name.insert(policy.name.clone(), policy);
        }
        Ok(Self {
            backend,
            policies: by_name,
            clock,
            bans: LocalBans::default(),
            checks: AtomicU64::new(0),
        })
    }

    fn key(&self, client: &str, suffix: &str) -> String {
        format!("{}{{rl:{client}}}:{suffix}", self.backend.key_prefix())
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, policy: &str, key: &str) -> Result<RateDecision, SharedStateError> {
        let policy = self
            .policies
            .get(policy)
            .ok_or_else(|| SharedStateError::UnknownPolicy(policy.to_owned()))?;
        let now_us = self.clock.now_ms().saturating_mul(1000);
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.bans.sweep(now_us);
        }
        if let Some(until) = self.bans.banned_until(key, now_us) {
            return Ok(banned(policy, until - now_us));
        }
        let keys = [
            self.key(key, &format!("tat:{}", policy.name)),
            self.key(key, "strikes"),
            self.key(key, "ban"),
        ];
        let (strikes, window, ban) = policy.penalty.map_or((0, 0, 0), |p| {
            (p.strikes, duration_us(p.window), duration_us(p.ban))
        });
        let (verdict, remaining, reset_us, retry_us): (i64, i64, i64, i64) = self
            .backend
            .run(|mut conn| async move {
                GCRA.key(&keys[..])
                    .arg(now_us)
                    .arg(duration_us(policy.emission_interval()))
                    .arg(policy.burst)
                    .arg(strikes)
                    .arg(window)
                    .arg(ban)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        let decision = match verdict {
            0 => RateDecision {
                policy: policy.name.clone(),
                verdict: Verdict::Allowed,
                limit: policy.burst,
                window: policy.window(),
                remaining: u32::try_from(remaining).unwrap_or(0),
                reset_after: micros(reset_us),
                retry_after: None,
            },
            1 => RateDecision {
                policy: policy.name.clone(),
                verdict: Verdict::Limited,
                limit: policy.burst,
                window: policy.window(),
                remaining: 0,
                reset_after: micros(reset_us),
                retry_after: Some(micros(retry_us).max(Duration::from_micros(1))),
            },
            2 => {
                self.bans.ban(key, now_us + retry_us);
                banned(policy, retry_us)
            }
            other => {
                return Err(SharedStateError::Protocol(format!(
                    "rate-limit script returned verdict {other}"
                )));
            }
        };
        Ok(decision)
    }

    async fn strike(&self, key: &str, penalty: &Penalty) -> Result<bool, SharedStateError> {
        let now_us = self.clock.now_ms().saturating_mul(1000);
        let keys = [self.key(key, "strikes"), self.key(key, "ban")];
        let banned: i64 = self
            .backend
            .run(|mut conn| async move {
                STRIKE
                    .key(&keys[..])
                    .arg(now_us)
                    .arg(penalty.strikes)
                    .arg(duration_us(penalty.window))
                    .arg(duration_us(penalty.ban))
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        if banned == 1 {
            self.bans.ban(key, now_us + duration_us(penalty.ban));
        }
        Ok(banned == 1)
    }
}
