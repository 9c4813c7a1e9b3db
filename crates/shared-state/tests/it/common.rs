//! Test support: the shared per-test Redis slice and polling.

pub use flashgate_shared_state::testing::{TestRedis, eventually, redis_url};
