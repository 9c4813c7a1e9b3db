//! The fast path wired into the service, against real PostgreSQL and Redis and against the embedded
//! twins (SQLite, in-process gate, cache and limiter): never overselling through the gate, the
//! group commit, cached reads, rate limits and load shedding.

// Suite helpers are shared by many #[tokio::test]s and are not themselves tests; a test should fail
// loudly all the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod batch;
mod cache;
mod common;
mod gated;
mod limits;
mod shedding;
