//! Test support: the shared per-test Redis slice and polling.

pub use flashgate_fastpath::testing::{TestRedis, eventually, redis_url};
