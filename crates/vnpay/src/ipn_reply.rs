//! The merchant's answer to an IPN call (spec §4.3, §4.4): HTTP 200 with
//! `{"RspCode":"00","Message":"Confirm Success"}`. VNPay retries on anything but 00 and 02.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::callback::CallbackError;

/// `RspCode` in the IPN reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RspCode {
    /// `00`: the result was recorded. VNPay stops.
    ConfirmSuccess,
    /// `01`: no such order. VNPay retries.
    OrderNotFound,
    /// `02`: the order was already finalised. VNPay stops.
    AlreadyConfirmed,
    /// `04`: the amount does not match the order. VNPay retries.
    InvalidAmount,
    /// `97`: the checksum is wrong. VNPay retries.
    InvalidSignature,
    /// `99`: anything else went wrong. VNPay retries.
    UnknownError,
}

/// An `RspCode` outside the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IPN RspCode")]
pub struct UnknownRspCode(pub String);

impl RspCode {
    /// The wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConfirmSuccess => "00",
            Self::OrderNotFound => "01",
            Self::AlreadyConfirmed => "02",
            Self::InvalidAmount => "04",
            Self::InvalidSignature => "97",
            Self::UnknownError => "99",
        }
    }

    /// The message sent with the code by default.
    pub fn default_message(self) -> &'static str {
        match self {
            Self::ConfirmSuccess => "Confirm Success",
            Self::OrderNotFound => "Order not found",
            Self::AlreadyConfirmed => "Order already confirmed",
            Self::InvalidAmount => "Invalid amount",
            Self::InvalidSignature => "Invalid signature",
            Self::UnknownError => "Unknown error",
        }
    }

    /// Whether VNPay stops calling after this reply (00 and 02).
    pub fn ends_delivery(self) -> bool {
        matches!(self, Self::ConfirmSuccess | Self::AlreadyConfirmed)
    }
}

impl FromStr for RspCode {
    type Err = UnknownRspCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "00" => Self::ConfirmSuccess,
            "01" => Self::OrderNotFound,
            "02" => Self::AlreadyConfirmed,
            "04" => Self::InvalidAmount,
            "97" => Self::InvalidSignature,
            "99" => Self::UnknownError,
            other => return Err(UnknownRspCode(other.to_owned())),
        })
    }
}

impl fmt::Display for RspCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RspCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RspCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl From<&CallbackError> for RspCode {
    /// A bad signature is `97`; a well-signed callback with unusable data is `99`.
    fn from(err: &CallbackError) -> Self {
        if err.is_bad_signature() {
            Self::InvalidSignature
        } else {
            Self::UnknownError
        }
    }
}

/// The JSON body of the IPN reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpnReply {
    /// The outcome.
    #[serde(rename = "RspCode")]
    pub rsp_code: RspCode,
    /// Free text; VNPay is not known to read it.
    #[serde(rename = "Message")]
    pub message: String,
}

impl IpnReply {
    /// A reply with the code's default message.
    pub fn new(rsp_code: RspCode) -> Self {
        Self {
            rsp_code,
            message: rsp_code.default_message().to_owned(),
        }
    }

    /// `00 Confirm Success`.
    pub fn confirm_success() -> Self {
        Self::new(RspCode::ConfirmSuccess)
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"RspCode\":\"{}\",\"Message\":{}}}",
            self.rsp_code.as_str(),
            serde_json::Value::String(self.message.clone())
        )
    }
}

impl From<RspCode> for IpnReply {
    fn from(code: RspCode) -> Self {
        Self::new(code)
    }
}

impl From<&CallbackError> for IpnReply {
    fn from(err: &CallbackError) -> Self {
        Self::new(RspCode::from(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signed_query::SignatureError;

    #[test]
    fn a_success_reply_is_the_documented_json() {
        let json = serde_json::to_string(&IpnReply::confirm_success()).unwrap();
        assert_eq!(json, r#"{"RspCode":"00","Message":"Confirm Success"}"#);
        assert_eq!(IpnReply::confirm_success().to_json(), json);
    }

    #[test]
    fn every_code_round_trips_through_json() {
        for code in [
            RspCode::ConfirmSuccess,
            RspCode::OrderNotFound,
            RspCode::AlreadyConfirmed,
            RspCode::InvalidAmount,
            RspCode::InvalidSignature,
            RspCode::UnknownError,
        ] {
            let json = serde_json::to_string(&IpnReply::new(code)).unwrap();
            let back: IpnReply = serde_json::from_str(&json).unwrap();
            assert_eq!(back.rsp_code, code);
        }
    }

    #[test]
    fn only_00_and_02_end_delivery() {
        assert!(RspCode::ConfirmSuccess.ends_delivery());
        assert!(RspCode::AlreadyConfirmed.ends_delivery());
        assert!(!RspCode::OrderNotFound.ends_delivery());
        assert!(!RspCode::UnknownError.ends_delivery());
    }

    #[test]
    fn a_bad_signature_is_answered_with_97_and_bad_data_with_99() {
        let bad_sig = CallbackError::BadSignature(SignatureError::Mismatch);
        assert_eq!(IpnReply::from(&bad_sig).rsp_code, RspCode::InvalidSignature);
        let missing = CallbackError::MissingField("vnp_TxnRef");
        assert_eq!(RspCode::from(&missing), RspCode::UnknownError);
    }

    #[test]
    fn unknown_codes_do_not_parse() {
        assert_eq!("03".parse::<RspCode>(), Err(UnknownRspCode("03".into())));
    }
}
