//! The rate limiter as the service runs it: the policies from the settings, shared through Redis when
//! it answers and kept in process when it does not (or when there is no Redis).

use crate::config::within;
use flashgate_core::Clock;
use flashgate_shared_state::{
    InProcessLimiter, Penalty, Policy, RateDecision, RateLimiter, RedisBackend, RedisHealth,
    RedisLimiter,
};
use serde::Deserialize;
use serde_with::{DurationMilliSeconds, serde_as};
use std::sync::Arc;
use std::time::Duration;

pub const READS: &str = "reads";
pub const PURCHASES: &str = "purchases";
pub const CALLBACKS: &str = "callbacks";
/// `POST /sessions` and `DELETE /sessions/current`, per client address.
pub const SESSIONS: &str = "sessions";
/// Sessions one customer may start, whatever address they come from.
pub const CUSTOMER_SESSIONS: &str = "customer_sessions";
/// Every `/admin/*` route, the dashboard and its sign-in included, per client address.
pub const ADMIN: &str = "admin";

pub struct Limits {
    shared: Option<(RedisLimiter, Arc<RedisHealth>)>,
    local: InProcessLimiter,
    /// The penalty box of `limits.penalty`, for strikes the limit itself does not see.
    penalty: Penalty,
    /// The stricter box of `limits.admin_penalty`, for wrong admin credentials.
    admin_penalty: Penalty,
}

impl Limits {
    pub fn new(
        settings: &LimitSettings,
        redis: Option<&RedisBackend>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let (penalty, admin_penalty) = (settings.penalty.into(), settings.admin_penalty.into());
        let policies = policies(settings, penalty, admin_penalty);
        let local = InProcessLimiter::new(policies.clone(), Arc::clone(&clock))?;
        let shared = match redis {
            Some(backend) => Some((
                RedisLimiter::new(backend.clone(), policies, clock)?,
                backend.health(),
            )),
            None => None,
        };
        Ok(Self {
            shared,
            local,
            penalty,
            admin_penalty,
        })
    }

    /// Counts one strike against `key` in the penalty box (a callback that failed verification).
    pub async fn strike(&self, key: &str) {
        self.strike_under(key, &self.penalty).await;
    }

    /// Counts a wrong admin credential against `key` in the admin penalty box, so a guesser is
    /// blocked after a handful of misses on every instance.
    pub async fn admin_miss(&self, key: &str) {
        self.strike_under(key, &self.admin_penalty).await;
    }

    /// Counts one strike where the key's requests are counted: Redis when it answers, else this
    /// instance.
    async fn strike_under(&self, key: &str, penalty: &Penalty) {
        if let Some((shared, health)) = &self.shared
            && !health.is_degraded()
        {
            match shared.strike(key, penalty).await {
                Ok(_) => return,
                Err(error) => {
                    tracing::debug!(%error, "shared penalty box unavailable; striking in process");
                }
            }
        }
        if let Err(error) = self.local.strike(key, penalty).await {
            tracing::error!(%error, "cannot count a strike");
        }
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

impl From<PenaltySettings> for Penalty {
    fn from(p: PenaltySettings) -> Self {
        Self {
            strikes: p.strikes,
            window: p.window,
            ban: p.ban,
        }
    }
}

fn policies(settings: &LimitSettings, penalty: Penalty, admin_penalty: Penalty) -> Vec<Policy> {
    let policy =
        |name: &str, r: RatePolicy| Policy::new(name, r.rate, r.period).with_burst(r.burst);
    vec![
        policy(READS, settings.reads).with_penalty(penalty),
        policy(PURCHASES, settings.purchases).with_penalty(penalty),
        // Callbacks over the limit are never struck: a retried IPN from the gateway must get through.
        // Only callbacks that fail verification are (see `strike`).
        policy(CALLBACKS, settings.callbacks),
        policy(SESSIONS, settings.sessions).with_penalty(penalty),
        policy(CUSTOMER_SESSIONS, settings.customer_sessions).with_penalty(penalty),
        // An admin client over the limit is struck as hard as one with a wrong token: both are what
        // a guesser does.
        policy(ADMIN, settings.admin).with_penalty(admin_penalty),
    ]
}

/// `[limits]`: GCRA policies per client and the penalty box.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub enabled: bool,
    pub reads: RatePolicy,
    pub purchases: RatePolicy,
    pub callbacks: RatePolicy,
    pub sessions: RatePolicy,
    pub customer_sessions: RatePolicy,
    pub admin: RatePolicy,
    pub penalty: PenaltySettings,
    pub admin_penalty: PenaltySettings,
}

#[serde_as]
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatePolicy {
    pub rate: u32,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "period_ms")]
    pub period: Duration,
    pub burst: u32,
}

#[serde_as]
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PenaltySettings {
    pub strikes: u32,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "window_ms")]
    pub window: Duration,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "ban_ms")]
    pub ban: Duration,
}

impl LimitSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        let (ms, day) = (Duration::from_millis(1), Duration::from_secs(24 * 3600));
        for (name, policy) in [
            ("reads", &self.reads),
            ("purchases", &self.purchases),
            ("callbacks", &self.callbacks),
            ("sessions", &self.sessions),
            ("customer_sessions", &self.customer_sessions),
            ("admin", &self.admin),
        ] {
            within(&format!("limits.{name}.rate"), policy.rate, 1, 1_000_000)?;
            within(&format!("limits.{name}.burst"), policy.burst, 1, 1_000_000)?;
            within(&format!("limits.{name}.period_ms"), policy.period, ms, day)?;
        }
        for (name, p) in [
            ("penalty", &self.penalty),
            ("admin_penalty", &self.admin_penalty),
        ] {
            within(&format!("limits.{name}.strikes"), p.strikes, 1, 1_000_000)?;
            within(&format!("limits.{name}.window_ms"), p.window, ms, day)?;
            within(&format!("limits.{name}.ban_ms"), p.ban, ms, 30 * day)?;
        }
        Ok(())
    }
}
