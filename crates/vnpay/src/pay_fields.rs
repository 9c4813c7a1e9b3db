//! Typed values of the payment request fields that have their own rules (spec §2.1).

use std::fmt;

/// `vnp_Locale`: the language of the payment page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    /// Vietnamese (`vn`).
    #[default]
    Vn,
    /// English (`en`).
    En,
}

impl Locale {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vn => "vn",
            Self::En => "en",
        }
    }

    /// Parses `vn` or `en`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "vn" => Some(Self::Vn),
            "en" => Some(Self::En),
            _ => None,
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field value that breaks its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {value:?} {rule}")]
pub struct InvalidField {
    /// The `vnp_*` name.
    pub field: &'static str,
    /// The rejected value.
    pub value: String,
    /// The rule it breaks.
    pub rule: &'static str,
}

fn check(
    field: &'static str,
    value: String,
    len: std::ops::RangeInclusive<usize>,
    byte_ok: fn(u8) -> bool,
    rule: &'static str,
) -> Result<String, InvalidField> {
    if len.contains(&value.len()) && value.bytes().all(byte_ok) {
        Ok(value)
    } else {
        Err(InvalidField { field, value, rule })
    }
}

/// `vnp_BankCode`: preselects a bank or method (`NCB`, `VNPAYQR`, `VNBANK`, `INTCARD`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BankCode(String);

impl BankCode {
    /// Pay by VNPAY QR.
    pub fn vnpay_qr() -> Self {
        Self("VNPAYQR".into())
    }
    /// Domestic ATM card or account.
    pub fn vnbank() -> Self {
        Self("VNBANK".into())
    }
    /// International card.
    pub fn intcard() -> Self {
        Self("INTCARD".into())
    }

    /// 3–20 alphanumerics.
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidField> {
        check(
            "vnp_BankCode",
            s.into(),
            3..=20,
            |b| b.is_ascii_alphanumeric(),
            "is not 3-20 alphanumerics",
        )
        .map(Self)
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `vnp_OrderType`: the goods category, `other` unless the merchant has a reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderType(String);

impl Default for OrderType {
    fn default() -> Self {
        Self("other".into())
    }
}

impl OrderType {
    /// 1–100 alphanumerics or `_` (`other`, `billpayment`, `topup`, `250000`, …).
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidField> {
        check(
            "vnp_OrderType",
            s.into(),
            1..=100,
            |b| b.is_ascii_alphanumeric() || b == b'_',
            "is not 1-100 alphanumerics",
        )
        .map(Self)
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `vnp_ReturnUrl`: an absolute `http(s)` URL of 10–255 characters without spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReturnUrl(String);

impl ReturnUrl {
    /// Validates the shape; the URL itself is the merchant's business.
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidField> {
        let s = s.into();
        let ok = (10..=255).contains(&s.len())
            && (s.starts_with("https://") || s.starts_with("http://"))
            && s.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(s))
        } else {
            Err(InvalidField {
                field: "vnp_ReturnUrl",
                value: s,
                rule: "is not an absolute http(s) URL of 10-255 characters",
            })
        }
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The optional billing and invoice fields of the official demos, signed like every other field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum BillingField {
    BillMobile,
    BillEmail,
    BillFirstName,
    BillLastName,
    BillAddress,
    BillCity,
    BillCountry,
    BillState,
    InvPhone,
    InvEmail,
    InvCustomer,
    InvAddress,
    InvCompany,
    InvTaxcode,
    InvType,
}

impl BillingField {
    /// The `vnp_*` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::BillMobile => "vnp_Bill_Mobile",
            Self::BillEmail => "vnp_Bill_Email",
            Self::BillFirstName => "vnp_Bill_FirstName",
            Self::BillLastName => "vnp_Bill_LastName",
            Self::BillAddress => "vnp_Bill_Address",
            Self::BillCity => "vnp_Bill_City",
            Self::BillCountry => "vnp_Bill_Country",
            Self::BillState => "vnp_Bill_State",
            Self::InvPhone => "vnp_Inv_Phone",
            Self::InvEmail => "vnp_Inv_Email",
            Self::InvCustomer => "vnp_Inv_Customer",
            Self::InvAddress => "vnp_Inv_Address",
            Self::InvCompany => "vnp_Inv_Company",
            Self::InvTaxcode => "vnp_Inv_Taxcode",
            Self::InvType => "vnp_Inv_Type",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_print_as_vn_and_en() {
        assert_eq!(Locale::Vn.as_str(), "vn");
        assert_eq!(Locale::parse("en"), Some(Locale::En));
        assert_eq!(Locale::parse("fr"), None);
    }

    #[test]
    fn order_type_defaults_to_other() {
        assert_eq!(OrderType::default().as_str(), "other");
        assert!(OrderType::parse("250000").is_ok());
        assert!(OrderType::parse("").is_err());
    }

    #[test]
    fn bank_codes_are_three_to_twenty_alphanumerics() {
        assert!(BankCode::parse("NCB").is_ok());
        assert!(BankCode::parse("NC").is_err());
        assert!(BankCode::parse("N C B").is_err());
        assert_eq!(BankCode::vnpay_qr().as_str(), "VNPAYQR");
    }

    #[test]
    fn return_urls_must_be_absolute_http_urls() {
        assert!(ReturnUrl::parse("https://example.com/return").is_ok());
        assert!(ReturnUrl::parse("ftp://example.com/return").is_err());
        assert!(ReturnUrl::parse("https://a b.com/").is_err());
        assert!(ReturnUrl::parse("http://a").is_err());
    }
}
