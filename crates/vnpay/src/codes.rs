//! The code tables of spec §7 as typed enums. Unknown codes survive as `Other(String)`.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::wire::StringOrNumber;

macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $meaning:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* #[doc = $meaning] $variant, )+
            /// A code this table does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The two-digit wire code.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $code, )+
                    Self::Other(code) => code,
                }
            }

            /// What the code means, in English.
            pub fn meaning(&self) -> &'static str {
                match self {
                    $( Self::$variant => $meaning, )+
                    Self::Other(_) => "Unknown code",
                }
            }

            /// Whether the code is one this table knows.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl From<&str> for $name {
            fn from(code: &str) -> Self {
                match code {
                    $( $code => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(code: String) -> Self {
                Self::from(code.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Infallible;
            fn from_str(code: &str) -> Result<Self, Self::Err> {
                Ok(Self::from(code))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                StringOrNumber::deserialize(d).map(|v| Self::from(v.into_code()))
            }
        }
    };
}

code_enum! {
    /// `vnp_ResponseCode` on Return and IPN callbacks (§7.1), including older and observed codes.
    ResponseCode {
        Success = "00" => "Transaction succeeded",
        AlreadyExists = "01" => "Transaction already exists (older table)",
        InvalidMerchant = "02" => "Invalid merchant (older table)",
        InvalidFormat = "03" => "Invalid data format (older table)",
        WebsiteLocked = "04" => "Merchant website locked (older table)",
        TooManyWrongPasswords = "05" => "Too many wrong passwords (older table)",
        WrongOtpLegacy = "06" => "Wrong OTP (older table)",
        Suspicious = "07" => "Money taken, but the transaction is flagged as suspicious",
        BankMaintenanceLegacy = "08" => "Bank under maintenance (older table)",
        NotRegisteredForInternetBanking = "09" => "Card or account not registered for Internet Banking",
        VerificationFailedTooOften = "10" => "Card or account verification failed more than 3 times",
        PaymentWindowExpired = "11" => "Payment window expired",
        CardLocked = "12" => "Card or account locked",
        WrongOtp = "13" => "Wrong OTP",
        SessionTimeout = "15" => "Payment session timed out",
        Cancelled = "24" => "Customer cancelled the transaction",
        InsufficientBalance = "51" => "Insufficient balance",
        DailyLimitExceeded = "65" => "Daily limit exceeded",
        BankMaintenance = "75" => "Bank under maintenance",
        WrongPasswordTooOften = "79" => "Wrong payment password too many times",
        OtherError = "99" => "Other error",
    }
}

impl ResponseCode {
    /// `00`.
    pub fn is_success(&self) -> bool {
        *self == Self::Success
    }

    /// `07`: money was taken, but the transaction is flagged as suspicious and the merchant must
    /// review it (§4.3). Never a failure: the buyer's money may be gone.
    pub fn may_have_debited(&self) -> bool {
        *self == Self::Suspicious
    }

    /// The code says the payment was refused or abandoned before any money left the buyer (§4.3,
    /// §7.1): 09, 10, 11, 12, 13, 15, 24, 51, 65, 75 and 79. Not 07 (money taken), not 99 ("other
    /// error" says nothing about the money), not the older table's codes (uncertain) and never an
    /// unknown code: those may have debited the buyer.
    pub fn says_unpaid(&self) -> bool {
        matches!(
            self,
            Self::NotRegisteredForInternetBanking
                | Self::VerificationFailedTooOften
                | Self::PaymentWindowExpired
                | Self::CardLocked
                | Self::WrongOtp
                | Self::SessionTimeout
                | Self::Cancelled
                | Self::InsufficientBalance
                | Self::DailyLimitExceeded
                | Self::BankMaintenance
                | Self::WrongPasswordTooOften
        )
    }

    /// The buyer gave up or ran out of time (24, 11, 15): nothing was charged.
    pub fn is_abandoned(&self) -> bool {
        matches!(
            self,
            Self::Cancelled | Self::PaymentWindowExpired | Self::SessionTimeout
        )
    }
}

code_enum! {
    /// `vnp_TransactionStatus` (§7.2): the state of the transaction at VNPay.
    TransactionStatus {
        Success = "00" => "Transaction succeeded",
        Pending = "01" => "Transaction not finished yet",
        Failed = "02" => "Transaction failed",
        Reversed = "04" => "Reversed: the customer was debited, but the transaction did not succeed at VNPay",
        RefundProcessing = "05" => "VNPay is processing the refund",
        RefundSentToBank = "06" => "VNPay has sent the refund request to the bank",
        SuspectedFraud = "07" => "Suspected fraud",
        TimedOut = "08" => "Transaction timed out",
        RefundRejected = "09" => "Refund rejected",
        Cancelled = "11" => "Transaction cancelled",
    }
}

impl TransactionStatus {
    /// `00`.
    pub fn is_success(&self) -> bool {
        *self == Self::Success
    }

    /// `01`: the buyer may still pay; ask again later.
    pub fn is_pending(&self) -> bool {
        *self == Self::Pending
    }

    /// Money may have left the buyer's account without a clear success (§4.3): `04` (debited at the
    /// bank, not completed at VNPay), `07` (suspected fraud), and the refund states `05`, `06` and
    /// `09`, which exist only for money that was taken.
    pub fn may_have_debited(&self) -> bool {
        matches!(
            self,
            Self::Reversed
                | Self::SuspectedFraud
                | Self::RefundProcessing
                | Self::RefundSentToBank
                | Self::RefundRejected
        )
    }

    /// The transaction ended without money moving: `02` failed, `08` timed out, `11` cancelled.
    pub fn says_unpaid(&self) -> bool {
        matches!(self, Self::Failed | Self::TimedOut | Self::Cancelled)
    }

    /// A refund is under way or done (05, 06).
    pub fn is_refund_in_progress(&self) -> bool {
        matches!(self, Self::RefundProcessing | Self::RefundSentToBank)
    }
}

code_enum! {
    /// querydr `vnp_ResponseCode` (§7.3). `00` only means the query worked.
    QueryDrResponseCode {
        Success = "00" => "Request succeeded",
        InvalidTmnCode = "02" => "Invalid TmnCode",
        InvalidFormat = "03" => "Invalid data format",
        NotFound = "91" => "Transaction not found",
        DuplicateRequest = "94" => "Duplicate request within the API's time limit",
        InvalidChecksum = "97" => "Invalid checksum",
        OtherError = "99" => "Other error",
    }
}

impl QueryDrResponseCode {
    /// `00`.
    pub fn is_success(&self) -> bool {
        *self == Self::Success
    }

    /// Worth asking again later unchanged (94 rate limit, 99 other error).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::DuplicateRequest | Self::OtherError)
    }
}

code_enum! {
    /// refund `vnp_ResponseCode` (§7.4).
    RefundResponseCode {
        Success = "00" => "Request succeeded",
        InvalidTmnCode = "02" => "Invalid TmnCode",
        InvalidFormat = "03" => "Invalid data format",
        NotFound = "91" => "Transaction to refund not found",
        AlreadyInProgress = "94" => "A refund request for this transaction is already being processed",
        OriginalNotSuccessful = "95" => "The original transaction did not succeed, so the refund is refused",
        InvalidChecksum = "97" => "Invalid checksum",
        OtherError = "99" => "Other error",
    }
}

impl crate::api_reply::ApiResponseCode for QueryDrResponseCode {
    fn is_success(&self) -> bool {
        QueryDrResponseCode::is_success(self)
    }
}

impl crate::api_reply::ApiResponseCode for RefundResponseCode {
    fn is_success(&self) -> bool {
        RefundResponseCode::is_success(self)
    }
}

impl RefundResponseCode {
    /// `00`.
    pub fn is_success(&self) -> bool {
        *self == Self::Success
    }
}

code_enum! {
    /// `vnp_TransactionType`: payment or refund.
    TransactionType {
        Payment = "01" => "Payment",
        FullRefund = "02" => "Full refund",
        PartialRefund = "03" => "Partial refund",
    }
}

impl TransactionType {
    /// `02` or `03`.
    pub fn is_refund(&self) -> bool {
        matches!(self, Self::FullRefund | Self::PartialRefund)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_parse_to_their_variant_and_print_back() {
        assert_eq!(ResponseCode::from("24"), ResponseCode::Cancelled);
        assert_eq!(ResponseCode::Cancelled.as_str(), "24");
        assert_eq!(TransactionStatus::from("11"), TransactionStatus::Cancelled);
        assert_eq!(QueryDrResponseCode::from("94").to_string(), "94");
        assert_eq!(
            RefundResponseCode::from("95"),
            RefundResponseCode::OriginalNotSuccessful
        );
        assert_eq!("03".parse(), Ok(TransactionType::PartialRefund));
    }

    #[test]
    fn unknown_codes_are_kept_verbatim() {
        let code = ResponseCode::from("42");
        assert_eq!(code, ResponseCode::Other("42".into()));
        assert_eq!(code.as_str(), "42");
        assert!(!code.is_known());
        assert_eq!(code.meaning(), "Unknown code");
    }

    #[test]
    fn every_code_has_a_human_meaning() {
        assert_eq!(
            ResponseCode::InsufficientBalance.meaning(),
            "Insufficient balance"
        );
        assert!(
            TransactionStatus::RefundProcessing
                .meaning()
                .contains("refund")
        );
    }

    #[test]
    fn success_helpers_match_only_code_00() {
        assert!(ResponseCode::Success.is_success());
        assert!(!ResponseCode::Suspicious.is_success());
        assert!(TransactionStatus::Success.is_success());
        assert!(QueryDrResponseCode::Success.is_success());
        assert!(!RefundResponseCode::OtherError.is_success());
        assert!(ResponseCode::SessionTimeout.is_abandoned());
    }

    #[test]
    fn the_codes_that_may_mean_a_debit_are_never_read_as_unpaid() {
        assert!(ResponseCode::Suspicious.may_have_debited());
        assert!(!ResponseCode::Cancelled.may_have_debited());
        for code in ["04", "05", "06", "07", "09"] {
            let status = TransactionStatus::from(code);
            assert!(status.may_have_debited() && !status.says_unpaid(), "{code}");
        }
        for code in ["02", "08", "11"] {
            let status = TransactionStatus::from(code);
            assert!(status.says_unpaid() && !status.may_have_debited(), "{code}");
        }
        for code in ["00", "01", "42"] {
            let status = TransactionStatus::from(code);
            assert!(
                !status.says_unpaid() && !status.may_have_debited(),
                "{code}"
            );
        }
    }

    #[test]
    fn only_known_refusals_say_no_money_moved() {
        for code in [
            "09", "10", "11", "12", "13", "15", "24", "51", "65", "75", "79",
        ] {
            assert!(ResponseCode::from(code).says_unpaid(), "{code}");
        }
        for code in ["00", "01", "02", "05", "07", "08", "99", "42"] {
            assert!(!ResponseCode::from(code).says_unpaid(), "{code}");
        }
    }

    #[test]
    fn codes_serialize_as_strings_and_accept_numbers_on_input() {
        assert_eq!(
            serde_json::to_string(&ResponseCode::Success)
                .ok()
                .as_deref(),
            Some("\"00\"")
        );
        let parsed: Result<QueryDrResponseCode, _> = serde_json::from_str("94");
        assert_eq!(parsed.ok(), Some(QueryDrResponseCode::DuplicateRequest));
        let zero: Result<ResponseCode, _> = serde_json::from_str("0");
        assert_eq!(zero.ok(), Some(ResponseCode::Success));
    }
}
