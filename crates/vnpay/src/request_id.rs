//! `vnp_RequestId`: unique per querydr/refund call (a reuse within the day is answered with 94).

use std::fmt;

/// 1–32 alphanumerics; [`RequestId::random`] gives 32 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

/// A request id outside `[A-Za-z0-9]{1,32}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a request id (1–32 alphanumerics)")]
pub struct InvalidRequestId(pub String);

impl RequestId {
    /// A fresh random id: 32 hex characters from a v4 UUID.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Validates an id chosen by the caller.
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidRequestId> {
        let s = s.into();
        let ok = (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if ok {
            Ok(Self(s))
        } else {
            Err(InvalidRequestId(s))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_32_hex_characters_and_differ() {
        let a = RequestId::random();
        let b = RequestId::random();
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn caller_ids_must_be_short_alphanumerics() {
        assert!(RequestId::parse("REQUEST123456").is_ok());
        assert!(RequestId::parse("").is_err());
        assert!(RequestId::parse("a-b").is_err());
        assert!(RequestId::parse("a".repeat(33)).is_err());
    }
}
