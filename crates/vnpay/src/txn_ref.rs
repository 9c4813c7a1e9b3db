//! `vnp_TxnRef`: the merchant's order reference, unique per terminal and GMT+7 day.

use std::fmt;

/// 1–100 characters of `[A-Za-z0-9_-]` (UUIDs and `_` refs work in practice, spec §2.1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxnRef(String);

/// A TxnRef that is empty, too long or has a character outside `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a TxnRef (1–100 characters of A-Z a-z 0-9 - _)")]
pub struct InvalidTxnRef(pub String);

impl TxnRef {
    /// Validates a reference.
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidTxnRef> {
        let s = s.into();
        let ok = (1..=100).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s))
        } else {
            Err(InvalidTxnRef(s))
        }
    }

    /// The reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TxnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TxnRef {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_and_underscored_refs_are_accepted() {
        assert!(TxnRef::parse("0f8fad5b-d9cb-469f-a165-70867728950e").is_ok());
        assert!(TxnRef::parse("order_42").is_ok());
        assert!(TxnRef::parse("x".repeat(100)).is_ok());
    }

    #[test]
    fn empty_long_spaced_or_accented_refs_are_rejected() {
        for bad in [
            String::new(),
            "x".repeat(101),
            "a b".into(),
            "đơn".into(),
            "a#1".into(),
        ] {
            assert!(TxnRef::parse(bad.clone()).is_err(), "{bad}");
        }
    }
}
