//! How a buyer ends a payment on the simulated page, and what each ending looks like on the wire.

use serde::{Deserialize, Serialize};
use vnpay::{ResponseCode, TransactionStatus};

/// The buyer's choice on the payment page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Paid: response 00, status 00.
    Success,
    /// Cancelled on the page: response 24, TransactionNo 0, BankCode VNPAY, CardType QRCODE.
    Cancel,
    /// The bank declined for lack of funds: response 51.
    InsufficientFunds,
    /// The payment window expired: response 11, TransactionNo 0.
    Timeout,
    /// The gateway session timed out: response 15, TransactionNo 0.
    SessionTimeout,
    /// Money taken, but flagged as suspicious: response 07, status 07 (the merchant reviews it).
    Suspicious,
    /// Debited at the bank, but not completed at VNPay: response 99, status 04.
    Reversed,
}

impl Outcome {
    /// All outcomes, in page order.
    pub const ALL: [Outcome; 7] = [
        Self::Success,
        Self::Cancel,
        Self::InsufficientFunds,
        Self::Timeout,
        Self::SessionTimeout,
        Self::Suspicious,
        Self::Reversed,
    ];

    /// `vnp_ResponseCode` on the callbacks.
    pub fn response_code(self) -> ResponseCode {
        match self {
            Self::Success => ResponseCode::Success,
            Self::Cancel => ResponseCode::Cancelled,
            Self::InsufficientFunds => ResponseCode::InsufficientBalance,
            Self::Timeout => ResponseCode::PaymentWindowExpired,
            Self::SessionTimeout => ResponseCode::SessionTimeout,
            Self::Suspicious => ResponseCode::Suspicious,
            Self::Reversed => ResponseCode::OtherError,
        }
    }

    /// `vnp_TransactionStatus` on the callbacks: 00 on success, 07 and 04 when money may have moved,
    /// 02 on every failure (as observed).
    pub fn callback_status(self) -> TransactionStatus {
        match self {
            Self::Success => TransactionStatus::Success,
            Self::Suspicious => TransactionStatus::SuspectedFraud,
            Self::Reversed => TransactionStatus::Reversed,
            _ => TransactionStatus::Failed,
        }
    }

    /// `vnp_TransactionStatus` reported later by querydr. Observed in the sandbox: 11 after a
    /// cancel; the technical spec lists 08 for timeouts. Other failures stay 02.
    pub fn querydr_status(self) -> TransactionStatus {
        match self {
            Self::Success => TransactionStatus::Success,
            Self::Cancel => TransactionStatus::Cancelled,
            Self::Timeout | Self::SessionTimeout => TransactionStatus::TimedOut,
            Self::InsufficientFunds => TransactionStatus::Failed,
            Self::Suspicious => TransactionStatus::SuspectedFraud,
            Self::Reversed => TransactionStatus::Reversed,
        }
    }

    /// Whether VNPay holds the buyer's money, so that it can be refunded (success, or taken and
    /// flagged as suspicious).
    pub fn holds_money(self) -> bool {
        matches!(self, Self::Success | Self::Suspicious)
    }

    /// Whether VNPay allocates a transaction number (not for cancel or timeout).
    pub fn has_transaction_no(self) -> bool {
        matches!(
            self,
            Self::Success | Self::InsufficientFunds | Self::Suspicious | Self::Reversed
        )
    }

    /// The label on the page's button.
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "Pay (success)",
            Self::Cancel => "Cancel (24)",
            Self::InsufficientFunds => "Insufficient funds (51)",
            Self::Timeout => "Payment window expired (11)",
            Self::SessionTimeout => "Session timed out (15)",
            Self::Suspicious => "Taken, flagged as suspicious (07)",
            Self::Reversed => "Debited at the bank, not completed (04)",
        }
    }

    /// The form value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Cancel => "cancel",
            Self::InsufficientFunds => "insufficient_funds",
            Self::Timeout => "timeout",
            Self::SessionTimeout => "session_timeout",
            Self::Suspicious => "suspicious",
            Self::Reversed => "reversed",
        }
    }

    /// Parses a form value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}
