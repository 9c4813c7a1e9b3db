//! What the querydr/refund API can answer, before anything may be acted on.
//!
//! A non-`00` reply often carries no hash (spec §5.2), so it is only ever a [`Rejection`]: a
//! code to log or retry on, never data about money. Verified data comes only from a signed `00`.

use std::fmt;

use crate::amount::Vnd;
use crate::codes::{TransactionStatus, TransactionType};
use crate::signature::HashSecret;
use crate::time::VnpDateTime;
use crate::wire::WireFields;

/// Pipe-joins checksum values (spec §5.1, §5.2, §6.1, §6.2); a missing value is an empty string.
pub fn pipe_join<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> String {
    values
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect::<Vec<_>>()
        .join("|")
}

/// A body of the JSON API whose values are signed in a fixed order (spec §5.1, §5.2, §6.1, §6.2).
pub trait SignedBody: WireFields + Sized {
    /// The `vnp_*` names whose values, pipe-joined in this order, are signed.
    const SIGNED: &'static [&'static str];

    /// The pipe-joined values; a missing one is an empty string.
    fn checksum_data(&self) -> String {
        pipe_join(Self::SIGNED.iter().map(|key| self.wire(key)))
    }

    /// Sets `vnp_SecureHash`.
    fn signed(mut self, secret: &HashSecret) -> Self {
        let hash = secret.sign(&self.checksum_data());
        self.set_secure_hash(hash);
        self
    }

    /// Whether `vnp_SecureHash` matches; `None` when it is absent.
    fn hash_matches(&self, secret: &HashSecret) -> Option<bool> {
        self.wire("vnp_SecureHash")
            .map(|hash| secret.verify(&self.checksum_data(), hash))
    }

    /// Whether `vnp_SecureHash` is present and matches.
    fn signature_matches(&self, secret: &HashSecret) -> bool {
        self.hash_matches(secret) == Some(true)
    }
}

/// A reply of the JSON API (querydr, refund), with its own table of response codes.
pub trait SignedReply: SignedBody {
    /// The table of `vnp_ResponseCode` this reply answers with.
    type Code: ApiResponseCode;

    /// The API code (`00` means the request worked, not that the payment did).
    fn response_code(&self) -> Self::Code {
        Self::Code::from(self.wire("vnp_ResponseCode").unwrap_or_default())
    }

    /// Turns the reply into data that may be acted on: only a signed `00` reply qualifies.
    fn verify(&self, secret: &HashSecret) -> Result<ApiTransaction, ReplyError<Self::Code>> {
        verify_reply(self, secret)
    }
}

/// The `vnp_ResponseCode` of an API reply (§7.3, §7.4).
pub trait ApiResponseCode: for<'a> From<&'a str> + fmt::Debug + fmt::Display {
    /// `00`: the request worked (which says nothing yet about the payment).
    fn is_success(&self) -> bool;
}

/// A verified, successful querydr or refund reply: the only form to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTransaction {
    /// `vnp_ResponseId`.
    pub response_id: String,
    /// `vnp_Message`.
    pub message: String,
    /// `vnp_TmnCode`.
    pub tmn_code: String,
    /// `vnp_TxnRef` of the payment.
    pub txn_ref: String,
    /// `vnp_Amount / 100`: the payment's amount (querydr) or the refunded amount (refund).
    pub amount: Vnd,
    /// `vnp_OrderInfo`: the payment's (querydr) or the refund request's (refund).
    pub order_info: Option<String>,
    /// `vnp_BankCode`.
    pub bank_code: Option<String>,
    /// `vnp_PayDate`: when the payment was made (querydr) or the refund registered (refund).
    pub pay_date: Option<VnpDateTime>,
    /// `vnp_TransactionNo`: VNPay's number for the payment (querydr) or the refund (refund).
    pub transaction_no: Option<u64>,
    /// `vnp_TransactionType`: payment, full or partial refund.
    pub transaction_type: TransactionType,
    /// `vnp_TransactionStatus`: the payment's result, or the refund's progress (usually `05`).
    pub transaction_status: TransactionStatus,
    /// `vnp_PromotionCode` (querydr only, rarely present).
    pub promotion_code: Option<String>,
    /// `vnp_PromotionAmount` (querydr only, rarely present).
    pub promotion_amount: Option<String>,
}

fn verify_reply<B: SignedBody, C: ApiResponseCode>(
    body: &B,
    secret: &HashSecret,
) -> Result<ApiTransaction, ReplyError<C>> {
    let present = |key: &str| body.wire(key).filter(|v| !v.is_empty());
    let owned = |key: &str| present(key).map(str::to_owned);
    let required = |key: &'static str| present(key).ok_or_else(|| malformed(key, None));
    let code = C::from(body.wire("vnp_ResponseCode").unwrap_or_default());
    let message = body.wire("vnp_Message").unwrap_or_default().to_owned();
    if !code.is_success() {
        return Err(ReplyError::Rejected(Rejection {
            code,
            message,
            authenticated: body.signature_matches(secret),
        }));
    }
    match body.hash_matches(secret) {
        None => return Err(ReplyError::MissingSignature),
        Some(false) => return Err(ReplyError::BadSignature),
        Some(true) => {}
    }
    let amount = body.wire("vnp_Amount");
    let pay_date = present("vnp_PayDate")
        .map(|v| VnpDateTime::parse(v).map_err(|_| malformed("vnp_PayDate", Some(v))))
        .transpose()?;
    let transaction_no = present("vnp_TransactionNo")
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| malformed("vnp_TransactionNo", Some(v)))
        })
        .transpose()?;
    Ok(ApiTransaction {
        response_id: body.wire("vnp_ResponseId").unwrap_or_default().to_owned(),
        message,
        tmn_code: body.wire("vnp_TmnCode").unwrap_or_default().to_owned(),
        txn_ref: required("vnp_TxnRef")?.to_owned(),
        amount: amount
            .and_then(|a| Vnd::from_wire(a).ok())
            .ok_or_else(|| malformed("vnp_Amount", amount))?,
        order_info: owned("vnp_OrderInfo"),
        bank_code: owned("vnp_BankCode"),
        pay_date,
        transaction_no,
        transaction_type: TransactionType::from(required("vnp_TransactionType")?),
        transaction_status: TransactionStatus::from(required("vnp_TransactionStatus")?),
        promotion_code: owned("vnp_PromotionCode"),
        promotion_amount: owned("vnp_PromotionAmount"),
    })
}

/// A non-`00` answer from the gateway. Not necessarily authentic: act on it only as a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection<C> {
    /// The API response code.
    pub code: C,
    /// `vnp_Message`, as sent.
    pub message: String,
    /// Whether the reply carried a hash that verified.
    pub authenticated: bool,
}

impl<C: fmt::Display> fmt::Display for Rejection<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "code {}: {}", self.code, self.message)
    }
}

/// Why a reply cannot be turned into verified data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError<C: fmt::Debug + fmt::Display> {
    /// The gateway answered with a non-`00` code.
    #[error("gateway rejected the request with {0}")]
    Rejected(Rejection<C>),
    /// A `00` reply without `vnp_SecureHash`.
    #[error("the success reply carries no vnp_SecureHash")]
    MissingSignature,
    /// A `00` reply whose hash does not match.
    #[error("the success reply's vnp_SecureHash does not match")]
    BadSignature,
    /// A signed `00` reply with a missing or unusable field.
    #[error("field {field} is missing or malformed: {value:?}")]
    Malformed {
        /// The `vnp_*` name.
        field: &'static str,
        /// The value as received (empty when missing).
        value: String,
    },
}

pub(crate) fn malformed<C: fmt::Debug + fmt::Display>(
    field: &'static str,
    value: Option<&str>,
) -> ReplyError<C> {
    ReplyError::Malformed {
        field,
        value: value.unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_join_as_empty_strings() {
        assert_eq!(
            pipe_join([Some("a"), None, Some("c"), None, None]),
            "a||c||"
        );
    }
}
