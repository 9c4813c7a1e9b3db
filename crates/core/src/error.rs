//! The error every storage port returns: either the database is unreachable (a retryable, honest 503) or
//! something unexpected happened (logged, answered with a generic 500). Either way it keeps its cause:
//! the driver's error itself is the `source()`, so whoever logs it sees the whole chain.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum StoreError {
    /// The database could not be reached in time: connection refused or lost, pool exhausted.
    Unavailable(Cause),
    /// A bug or a state the schema should have prevented.
    Internal(Cause),
}

impl StoreError {
    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        Self::Unavailable(cause.into())
    }

    pub fn internal(cause: impl Into<Cause>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn cause(&self) -> &Cause {
        match self {
            Self::Unavailable(cause) | Self::Internal(cause) => cause,
        }
    }
}

// The whole chain is in the text, because the service logs errors as `%error`.
impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(cause) => write!(f, "database unavailable: {cause}"),
            Self::Internal(cause) => write!(f, "storage error: {cause}"),
        }
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.cause().error()
    }
}

/// Why a storage call failed: an error (a driver's, shared so that the `StoreError` can be cloned to
/// every waiter of a batch) or, where storage found something wrong on its own, a sentence.
#[derive(Debug, Clone)]
pub struct Cause(Inner);

#[derive(Debug, Clone)]
enum Inner {
    Error(Arc<dyn Error + Send + Sync + 'static>),
    Message(Arc<str>),
}

impl Cause {
    pub fn new(error: impl Error + Send + Sync + 'static) -> Self {
        Self(Inner::Error(Arc::new(error)))
    }

    /// The error itself, to downcast to the driver's type; `None` for a sentence.
    pub fn error(&self) -> Option<&(dyn Error + 'static)> {
        match &self.0 {
            Inner::Error(error) => Some(&**error),
            Inner::Message(_) => None,
        }
    }
}

/// The error's text followed by each source's, skipping a source whose text its error already ends
/// with (many drivers repeat their cause in their own message).
impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Message(text) => f.write_str(text),
            Inner::Error(error) => {
                let mut text = error.to_string();
                let mut next = error.source();
                while let Some(source) = next {
                    let said = source.to_string();
                    if !text.ends_with(&said) {
                        text.push_str(": ");
                        text.push_str(&said);
                    }
                    next = source.source();
                }
                f.write_str(&text)
            }
        }
    }
}

impl From<String> for Cause {
    fn from(text: String) -> Self {
        Self(Inner::Message(text.into()))
    }
}

impl From<&str> for Cause {
    fn from(text: &str) -> Self {
        Self(Inner::Message(text.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("cannot talk to the database")
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_cause_is_the_source_and_its_chain_is_in_the_text() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let error = StoreError::unavailable(Cause::new(Outer(refused)));
        assert_eq!(
            error.to_string(),
            "database unavailable: cannot talk to the database: refused"
        );
        let source = error.source().map(|s| s.downcast_ref::<Outer>().is_some());
        assert_eq!(source, Some(true));
        let copy = error.clone();
        assert!(matches!(copy, StoreError::Unavailable(_)));
    }

    #[test]
    fn a_sentence_has_no_source() {
        let error = StoreError::internal(format!("stored status {}", "lost"));
        assert_eq!(error.to_string(), "storage error: stored status lost");
        assert!(error.source().is_none());
    }
}
