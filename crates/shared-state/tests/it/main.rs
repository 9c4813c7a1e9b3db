//! Behavioural tests of the fast path. Every suite runs against the in-process twin, against a real
//! Redis (`FLASHGATE_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`) and against a real Redis Cluster
//! (`FLASHGATE_TEST_REDIS_CLUSTER_URL`, default the local one on ports 57001-57006 that
//! `scripts/services.sh` starts); a missing Redis fails the Redis tests loudly instead of skipping them.

// Suite helpers are shared by many #[tokio::test]s and are not themselves tests, so clippy's
// allow-unwrap-in-tests does not reach them; a test should fail loudly all the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
extern crate flashgate_shared_state;

mod cache;
mod common;
mod gate;
mod gate_redis;
mod health;
mod limiter;
mod outage;
mod sessions;
