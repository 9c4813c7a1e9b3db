//! Money and quantities. VND has no minor unit, so amounts are whole integers; floats never appear.

use crate::ids::ParseError;
use serde::{Deserialize, Serialize};

/// An amount of Vietnamese dong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Vnd(i64);

impl Vnd {
    /// The largest price a product may carry: VNPay refuses payments of 1,000,000,000 VND or more, so a
    /// price above it could never be paid.
    pub const MAX_PRICE: i64 = 999_999_999;

    pub fn price(value: i64) -> Result<Self, ParseError> {
        if value <= 0 || value > Self::MAX_PRICE {
            return Err(ParseError::new(
                "price_vnd",
                "must be between 1 and 999999999",
            ));
        }
        Ok(Self(value))
    }

    /// An amount read back from storage, where the schema already enforced its range.
    pub fn from_stored(value: i64) -> Self {
        Self(value)
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// The amount for `quantity` units; `None` when it would overflow.
    pub fn times(self, quantity: Quantity) -> Option<Vnd> {
        self.0.checked_mul(quantity.get()).map(Vnd)
    }
}

/// How many units one order takes: at least 1 and at most [`Quantity::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Quantity(i64);

impl Quantity {
    /// A single order is for a shopper, not a warehouse; bigger numbers are a client bug or an attack.
    pub const MAX: i64 = 1_000;

    pub fn parse(value: i64) -> Result<Self, ParseError> {
        if !(1..=Self::MAX).contains(&value) {
            return Err(ParseError::new("quantity", "must be between 1 and 1000"));
        }
        Ok(Self(value))
    }

    pub fn from_stored(value: i64) -> Self {
        Self(value)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Quantity {
    type Error = ParseError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<Quantity> for i64 {
    fn from(value: Quantity) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_must_be_positive_and_payable() {
        assert!(Vnd::price(0).is_err());
        assert!(Vnd::price(-1).is_err());
        assert!(Vnd::price(1_000_000_000).is_err());
        assert_eq!(Vnd::price(150_000).map(Vnd::get), Ok(150_000));
    }

    #[test]
    fn a_quantity_is_between_one_and_a_thousand() {
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(-3).is_err());
        assert!(Quantity::parse(1_001).is_err());
        assert!(Quantity::parse(i64::MAX).is_err());
        assert_eq!(Quantity::parse(2).map(Quantity::get), Ok(2));
    }

    #[test]
    fn an_amount_is_price_times_quantity() {
        let price = Vnd::price(150_000).unwrap();
        assert_eq!(price.times(Quantity::parse(3).unwrap()), Some(Vnd(450_000)));
    }
}
