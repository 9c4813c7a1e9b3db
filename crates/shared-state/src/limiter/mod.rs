//! Rate limiting: GCRA per policy (`reads`, `purchases`, `callbacks`, ...) and client key (IP or
//! customer), with a penalty box for clients that keep hitting their limit. Decisions carry what
//! the HTTP layer needs for `RateLimit-Policy`, `RateLimit` and `Retry-After`.
//!
//! GCRA semantics, shared by both implementations: with emission interval `T = period / rate`, a
//! fresh client gets exactly `burst` requests at once, then one more every `T`.
//!
//! Penalty box: under a policy with a [`Penalty`], a client denied more than `strikes` times
//! within `window` is banned for `ban`. A ban is per client key, across all policies, and is
//! answered from local memory without a Redis round trip until it ends. [`RateLimiter::strike`]
//! counts a strike for misbehaviour the limit itself cannot see (a forged callback).

mod decision;
mod memory;
mod penalty;
mod policy;
mod redis;

use async_trait::async_trait;

use crate::error::SharedStateError;

pub use decision::{RateDecision, Verdict};
pub use memory::InProcessLimiter;
pub use policy::{Penalty, Policy};
pub use redis::RedisLimiter;

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request of `key` against `policy` and says whether it may proceed.
    async fn check(&self, policy: &str, key: &str) -> Result<RateDecision, SharedStateError>;

    /// Counts one strike against `key` under `penalty`; true when it sent the client to the
    /// penalty box.
    async fn strike(&self, key: &str, penalty: &Penalty) -> Result<bool, SharedStateError>;
}
