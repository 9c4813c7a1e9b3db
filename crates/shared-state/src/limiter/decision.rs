//! A rate-limit decision and the IETF `RateLimit-Policy` / `RateLimit` header values
//! (draft-ietf-httpapi-ratelimit-headers, structured-field form) plus `Retry-After`.

use std::time::Duration;

use super::policy::Policy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit: retry after `retry_after`.
    Limited,
    /// In the penalty box: every request is refused until the ban ends.
    Banned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateDecision {
    pub policy: String,
    pub verdict: Verdict,
    /// The policy's burst: the quota of `RateLimit-Policy`.
    pub limit: u32,
    /// The time a full burst takes to come back: the window of `RateLimit-Policy`.
    pub window: Duration,
    /// Requests that would still be admitted right now.
    pub remaining: u32,
    /// Time until the client is back to a full burst (or until its ban ends).
    pub reset_after: Duration,
    /// Set when denied: the earliest time a retry can succeed.
    pub retry_after: Option<Duration>,
}

impl RateDecision {
    pub fn allowed(&self) -> bool {
        self.verdict == Verdict::Allowed
    }

    /// Header name/value pairs for the response; `Retry-After` only when denied.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let name = self.policy.replace(['"', '\\'], "");
        let mut headers = vec![
            (
                "RateLimit-Policy",
                format!("\"{name}\";q={};w={}", self.limit, ceil_secs(self.window)),
            ),
            (
                "RateLimit",
                format!(
                    "\"{name}\";r={};t={}",
                    self.remaining,
                    ceil_secs(self.reset_after)
                ),
            ),
        ];
        if let Some(retry) = self.retry_after {
            // Never 0: a client told to retry at once would spin against the limit.
            headers.push(("Retry-After", ceil_secs(retry).max(1).to_string()));
        }
        headers
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

pub(super) fn micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

/// The answer for a client in the penalty box for another `left_us` microseconds.
pub(super) fn banned(policy: &Policy, left_us: i64) -> RateDecision {
    let left = micros(left_us).max(Duration::from_micros(1));
    RateDecision {
        policy: policy.name.clone(),
        verdict: Verdict::Banned,
        limit: policy.burst,
        window: policy.window(),
        remaining: 0,
        reset_after: left,
        retry_after: Some(left),
    }
}
