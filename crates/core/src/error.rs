//! The error every storage port returns: either the database is unreachable (a retryable, honest 503) or
//! something unexpected happened (logged, answered with a generic 500).

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached in time: connection refused or lost, pool exhausted.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A bug or a state the schema should have prevented.
    #[error("storage error: {0}")]
    Internal(String),
}
