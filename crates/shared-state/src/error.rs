//! The one error type of the fast path. `Unavailable` is the signal to fall back to the database
//! path; everything else is a bug or a bad input.

use std::sync::Arc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum SharedStateError {
    /// Redis could not be reached or did not answer in time.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// Redis answered with an error (script error, wrong type, ...).
    #[error("redis error: {0}")]
    Backend(String),
    /// Redis answered something the adapter does not understand.
    #[error("unexpected reply from redis: {0}")]
    Protocol(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("unknown rate-limit policy `{0}`")]
    UnknownPolicy(String),
    /// A cache loader (the database query behind the cache) failed.
    #[error("cache loader failed: {0}")]
    Loader(Arc<dyn std::error::Error + Send + Sync>),
    #[error("cached value could not be (de)serialised: {0}")]
    Codec(String),
}

impl SharedStateError {
    /// True when the caller should fall back to the database path and report `degraded`.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, SharedStateError::Unavailable(_))
    }
}

impl From<redis::RedisError> for SharedStateError {
    fn from(e: redis::RedisError) -> Self {
        use redis::{ErrorKind, ServerErrorKind};
        // A cluster mid-failover answers for a moment that a slot has no master (CLUSTERDOWN,
        // TRYAGAIN, a redirection still unsettled, a write that reached a demoted master): Redis is
        // not there for this key, exactly as when it is down.
        let failing_over = e.is_cluster_error()
            || matches!(
                e.kind(),
                ErrorKind::ClusterConnectionNotFound
                    | ErrorKind::Server(ServerErrorKind::MasterDown | ServerErrorKind::ReadOnly)
            );
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_refusal()
            || e.is_connection_dropped()
            || e.is_unrecoverable_error()
            || failing_over
        {
            SharedStateError::Unavailable(e.to_string())
        } else {
            SharedStateError::Backend(e.to_string())
        }
    }
}
