//! Money in whole VND and its `vnp_Amount` wire form (VND × 100, spec §2.2).

use std::fmt;

/// An amount of whole Vietnamese đồng. VND has no minor unit in use, so there are no fractions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Vnd(u64);

/// Errors turning a `vnp_Amount` string into [`Vnd`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not 1–15 ASCII digits, or not a whole number of đồng.
    #[error("{0:?} is not a VND × 100 integer")]
    Malformed(String),
    /// Outside what the payment page accepts.
    #[error("{0} VND is outside the accepted range 5,000 ≤ amount < 1,000,000,000")]
    OutOfRange(Vnd),
    /// Too large for the 12-digit `vnp_Amount`.
    #[error("{0} VND does not fit the 12-digit vnp_Amount")]
    TooLarge(Vnd),
    /// Zero where a positive amount is required.
    #[error("the amount must be positive")]
    Zero,
}

/// The largest VND value whose × 100 form fits 12 digits.
const MAX_WIRE_VND: u64 = 9_999_999_999;

impl Vnd {
    /// An amount in whole đồng.
    pub const fn new(dong: u64) -> Self {
        Self(dong)
    }

    /// The amount in whole đồng.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The `vnp_Amount` form: `10_000` VND → `"1000000"`.
    pub fn to_wire(self) -> String {
        format!("{}00", self.0)
    }

    /// Reads a received `vnp_Amount` (× 100). Verify the signature over the raw string first.
    pub fn from_wire(raw: &str) -> Result<Self, AmountError> {
        let malformed = || AmountError::Malformed(raw.to_owned());
        if raw.is_empty() || raw.len() > 15 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let hundredths: u64 = raw.parse().map_err(|_| malformed())?;
        if !hundredths.is_multiple_of(100) {
            return Err(malformed());
        }
        Ok(Self(hundredths / 100))
    }

    /// Checks the amount fits the wire format and is positive (refunds, partial amounts).
    pub fn for_wire(self) -> Result<Self, AmountError> {
        match self.0 {
            0 => Err(AmountError::Zero),
            n if n > MAX_WIRE_VND => Err(AmountError::TooLarge(self)),
            _ => Ok(self),
        }
    }
}

impl fmt::Display for Vnd {
    /// `1234567` → `1,234,567`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        f.write_str(&out)
    }
}

/// An amount the payment page accepts: 5,000 ≤ amount < 1,000,000,000 VND.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PayAmount(Vnd);

impl PayAmount {
    /// The smallest accepted payment.
    pub const MIN: Vnd = Vnd(5_000);
    /// The first amount that is too large.
    pub const LIMIT: Vnd = Vnd(1_000_000_000);

    /// Checks the gateway's range.
    pub fn parse(amount: Vnd) -> Result<Self, AmountError> {
        if amount >= Self::MIN && amount < Self::LIMIT {
            Ok(Self(amount))
        } else {
            Err(AmountError::OutOfRange(amount))
        }
    }

    /// The amount in VND.
    pub fn vnd(self) -> Vnd {
        self.0
    }
}

impl TryFrom<Vnd> for PayAmount {
    type Error = AmountError;
    fn try_from(amount: Vnd) -> Result<Self, Self::Error> {
        Self::parse(amount)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn ten_thousand_dong_is_sent_as_one_million() {
        assert_eq!(Vnd::new(10_000).to_wire(), "1000000");
    }

    #[test]
    fn a_received_amount_is_divided_by_one_hundred() {
        assert_eq!(Vnd::from_wire("1000000"), Ok(Vnd::new(10_000)));
    }

    #[test]
    fn received_amounts_with_fractions_signs_or_separators_are_malformed() {
        for bad in [
            "",
            "1000001",
            "-100",
            "1,000",
            "100.00",
            "+100",
            "1234567890123456",
        ] {
            assert!(Vnd::from_wire(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn payments_below_five_thousand_or_from_one_billion_are_rejected() {
        assert!(PayAmount::parse(Vnd::new(4_999)).is_err());
        assert!(PayAmount::parse(Vnd::new(5_000)).is_ok());
        assert!(PayAmount::parse(Vnd::new(999_999_999)).is_ok());
        assert!(PayAmount::parse(Vnd::new(1_000_000_000)).is_err());
    }

    #[test]
    fn amounts_display_with_thousands_separators() {
        assert_eq!(Vnd::new(1_234_567).to_string(), "1,234,567");
        assert_eq!(Vnd::new(999).to_string(), "999");
        assert_eq!(Vnd::new(0).to_string(), "0");
    }

    #[test]
    fn wire_amounts_must_be_positive_and_fit_twelve_digits() {
        assert_eq!(Vnd::new(0).for_wire(), Err(AmountError::Zero));
        assert!(Vnd::new(MAX_WIRE_VND).for_wire().is_ok());
        assert!(Vnd::new(MAX_WIRE_VND + 1).for_wire().is_err());
    }

    proptest! {
        #[test]
        fn the_times_one_hundred_form_round_trips(dong in 0u64..=MAX_WIRE_VND) {
            let vnd = Vnd::new(dong);
            prop_assert_eq!(Vnd::from_wire(&vnd.to_wire()), Ok(vnd));
        }
    }
}
