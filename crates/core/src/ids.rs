//! Typed identifiers, each built only by parsing, so an unchecked string never reaches a query.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ParseError {
    pub field: &'static str,
    /// Fixed for most refusals; formatted where it names a bound the caller chose.
    pub reason: Cow<'static, str>,
}

impl ParseError {
    pub fn new(field: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProductId(pub i64);

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Orders are identified by a UUIDv7: time-ordered (index friendly) and unguessable enough that ids
/// leak nothing about sales volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(pub Uuid);

impl OrderId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// The gateway reference for this order: 32 hex characters, inside VNPay's `Alnum[1,100]` rule.
    pub fn txn_ref(&self) -> String {
        self.0.simple().to_string()
    }

    pub fn from_txn_ref(txn_ref: &str) -> Option<Self> {
        Uuid::try_parse(txn_ref).ok().map(Self)
    }
}

impl Default for OrderId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A buyer as the shop knows them (the token's `sub`): 1 to 64 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerId(String);

impl CustomerId {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        visible_ascii(raw, 64, "customer")?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CustomerId {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CustomerId> for String {
    fn from(value: CustomerId) -> Self {
        value.0
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The client's `Idempotency-Key`: 1 to 255 visible ASCII characters (a UUID is the usual choice).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        visible_ascii(raw, 255, "Idempotency-Key")?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stock-keeping unit: 1 to 64 characters of `A-Z a-z 0-9 - _ .`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw.is_empty() || raw.len() > 64 {
            return Err(ParseError::new("sku", "must be 1 to 64 characters"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(ParseError::new("sku", "may only contain A-Z a-z 0-9 - _ ."));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sku {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Sku> for String {
    fn from(value: Sku) -> Self {
        value.0
    }
}

fn visible_ascii(raw: &str, max: usize, field: &'static str) -> Result<(), ParseError> {
    if raw.is_empty() || raw.len() > max {
        return Err(ParseError::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    if !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ParseError::new(
            field,
            "may only contain visible ASCII characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_id_rejects_empty_long_and_blank_values() {
        assert!(CustomerId::parse("").is_err());
        assert!(CustomerId::parse(&"c".repeat(65)).is_err());
        assert!(CustomerId::parse("has space").is_err());
        assert!(CustomerId::parse("cus_42").is_ok());
    }

    #[test]
    fn a_length_refusal_names_the_bounds() {
        let error = CustomerId::parse("").unwrap_err().to_string();
        assert_eq!(error, "customer: must be 1 to 64 characters");
        let error = IdempotencyKey::parse(&"k".repeat(256))
            .unwrap_err()
            .to_string();
        assert_eq!(error, "Idempotency-Key: must be 1 to 255 characters");
    }

    #[test]
    fn an_idempotency_key_allows_255_characters_and_no_more() {
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("tab\tkey").is_err());
    }

    #[test]
    fn a_sku_allows_only_its_safe_alphabet() {
        assert!(Sku::parse("PHONE-X.128_GB").is_ok());
        assert!(Sku::parse("phone x").is_err());
        assert!(Sku::parse("").is_err());
    }

    #[test]
    fn an_order_id_round_trips_through_its_gateway_reference() {
        let id = OrderId::new();
        let txn_ref = id.txn_ref();
        assert_eq!(txn_ref.len(), 32);
        assert_eq!(OrderId::from_txn_ref(&txn_ref), Some(id));
        assert_eq!(OrderId::from_txn_ref("not-a-ref"), None);
    }
}
