//! Why the payment page refuses a request: the `code` of `/paymentv2/Payment/Error.html` (spec §2.3).

use serde::Serialize;

/// A refused payment request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum PageError {
    /// `70`: the signature does not match.
    #[error("wrong signature")]
    InvalidSignature,
    /// `03`: a field is missing or breaks its rule.
    #[error("invalid data format: {detail}")]
    InvalidFormat {
        /// Which field and why.
        detail: String,
    },
    /// `01`: the TxnRef was already used by this terminal on this GMT+7 day.
    #[error("transaction already exists")]
    AlreadyExists,
    /// `02`: the TmnCode is unknown.
    #[error("invalid merchant")]
    InvalidMerchant,
    /// `15`: the payment page was opened after the request's `vnp_ExpireDate` (or, without one,
    /// 15 minutes after its CreateDate), as with dates made in the wrong zone (spec §2.2, §2.3).
    #[error("payment session timed out: the request expired at {expired_at} (GMT+7), now is {now}")]
    SessionTimeout {
        /// The expiry, `yyyyMMddHHmmss` GMT+7.
        expired_at: String,
        /// The gateway's time, `yyyyMMddHHmmss` GMT+7.
        now: String,
    },
    /// The transaction cannot take this step (already completed, or unknown id).
    #[error("transaction not found or already completed")]
    NotPayable,
}

impl PageError {
    /// The error page code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidSignature => "70",
            Self::InvalidFormat { .. } => "03",
            Self::AlreadyExists => "01",
            Self::InvalidMerchant => "02",
            Self::SessionTimeout { .. } => "15",
            Self::NotPayable => "99",
        }
    }

    pub(crate) fn format(detail: impl Into<String>) -> Self {
        Self::InvalidFormat {
            detail: detail.into(),
        }
    }
}

/// The human text for an error page code.
pub fn describe(code: &str) -> &'static str {
    match code {
        "70" => "Sai chữ ký — the request signature is wrong.",
        "03" => "Dữ liệu gửi sang không đúng định dạng — a field is missing or malformed.",
        "01" => "Giao dịch đã tồn tại — this TxnRef was already used today.",
        "02" => "Merchant không hợp lệ — unknown terminal (TmnCode).",
        "15" => "Giao dịch quá thời gian chờ thanh toán — the payment session timed out.",
        _ => "Giao dịch không thành công — the transaction could not be processed.",
    }
}
