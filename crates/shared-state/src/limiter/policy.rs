//! Rate-limit policies: how many requests per period, how many at once, and when to ban.

use std::time::Duration;

use crate::error::SharedStateError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    /// Requests per `period` in the long run.
    pub rate: u32,
    pub period: Duration,
    /// Requests admitted at once from a rested state.
    pub burst: u32,
    pub penalty: Option<Penalty>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Penalty {
    /// Denials tolerated within `window`; one more bans the client.
    pub strikes: u32,
    pub window: Duration,
    pub ban: Duration,
}

impl Policy {
    /// `rate` per `period`, with a burst of `rate`.
    pub fn new(name: impl Into<String>, rate: u32, period: Duration) -> Self {
        Self {
            name: name.into(),
            rate,
            period,
            burst: rate,
            penalty: None,
        }
    }

    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    pub fn with_penalty(mut self, penalty: Penalty) -> Self {
        self.penalty = Some(penalty);
        self
    }

    /// `T` in GCRA: the time one request costs.
    pub fn emission_interval(&self) -> Duration {
        self.period / self.rate.max(1)
    }

    /// The window of `RateLimit-Policy`: the time a full burst takes to come back.
    pub fn window(&self) -> Duration {
        self.emission_interval() * self.burst
    }

    pub(crate) fn validate(&self) -> Result<(), SharedStateError> {
        let invalid = |why: &str| {
            Err(SharedStateError::Invalid(format!(
                "rate-limit policy `{}`: {why}",
                self.name
            )))
        };
        if self.rate == 0 || self.burst == 0 {
            return invalid("rate and burst must be positive");
        }
        if self.emission_interval() < Duration::from_micros(1) {
            return invalid("emission interval below one microsecond");
        }
        if let Some(p) = self.penalty
            && (p.strikes == 0 || p.window.is_zero() || p.ban.is_zero())
        {
            return invalid("penalty strikes, window and ban must be positive");
        }
        Ok(())
    }
}

pub(crate) fn duration_us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
