//! Behavioural tests of the fast path. Every suite runs against the in-process twin and against a
//! real Redis (`FLASHGATE_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`); a missing Redis fails
//! the Redis tests loudly instead of skipping them.

// Suite helpers are shared by many #[tokio::test]s and are not themselves tests, so clippy's
// allow-unwrap-in-tests does not reach them; a test should fail loudly all the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cache;
mod common;
mod gate;
mod gate_redis;
mod health;
mod limiter;
mod outage;
