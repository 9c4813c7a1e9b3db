//! What a gateway answer says about the buyer's money: the one reading shared by the callbacks (IPN
//! and Return URL) and querydr, so that both paths release a hold on exactly the same words.
//!
//! Spec §4.3: success is ResponseCode `00` **and** TransactionStatus `00`; only a code that says no
//! money moved is a failure; anything else short of a clear success may have debited the buyer and is
//! reviewed. On a callback the ResponseCode is the payment's own (§7.1) and must agree with the
//! status; querydr's ResponseCode is about the query (§7.3: `00` only means it worked), so there the
//! status alone speaks for the payment.

use vnpay::{ResponseCode, TransactionStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyAnswer {
    /// Paid: the status says `00`, and so does the payment's ResponseCode when there is one.
    Paid,
    /// No money moved: the status says so (`02`, `08`, `11`), and the payment's ResponseCode, when
    /// there is one, is a known refusal.
    Unpaid,
    /// The payment is not finished yet (querydr status `01`).
    Pending,
    /// Money may have moved without a clear success: the order is reviewed.
    InDoubt,
    /// A querydr status this table does not know: nothing can be decided from it.
    Unknown,
}

/// Reads `status`, with `payment_code` the payment's own ResponseCode (a callback's), or `None` for a
/// querydr answer.
pub fn read(payment_code: Option<&ResponseCode>, status: &TransactionStatus) -> MoneyAnswer {
    let code_agrees = |says: fn(&ResponseCode) -> bool| payment_code.is_none_or(says);
    if status.is_success() && code_agrees(ResponseCode::is_success) {
        MoneyAnswer::Paid
    } else if status.says_unpaid() && code_agrees(ResponseCode::says_unpaid) {
        MoneyAnswer::Unpaid
    } else if payment_code.is_none() && status.is_pending() {
        MoneyAnswer::Pending
    } else if payment_code.is_none() && !status.is_known() {
        MoneyAnswer::Unknown
    } else {
        // Money may have moved: a debit status (04, 05, 06, 07, 09), or a callback whose code and
        // status disagree or are not known refusals (00 with 02, 07, 99, an unknown code, status 01).
        MoneyAnswer::InDoubt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MoneyAnswer::*;

    fn callback(code: &str, status: &str) -> MoneyAnswer {
        read(
            Some(&ResponseCode::from(code)),
            &TransactionStatus::from(status),
        )
    }

    fn querydr(status: &str) -> MoneyAnswer {
        read(None, &TransactionStatus::from(status))
    }

    #[test]
    fn a_callback_is_paid_only_on_00_and_00() {
        assert_eq!(callback("00", "00"), Paid);
        assert_eq!(callback("07", "00"), InDoubt);
        assert_eq!(callback("42", "00"), InDoubt);
    }

    #[test]
    fn a_callback_fails_only_on_a_known_refusal_with_an_unpaid_status() {
        for code in [
            "24", "11", "15", "51", "12", "13", "79", "09", "10", "65", "75",
        ] {
            for status in ["02", "08", "11"] {
                assert_eq!(callback(code, status), Unpaid, "{code} {status}");
            }
        }
    }

    #[test]
    fn a_callback_whose_code_does_not_say_unpaid_is_reviewed_whatever_the_status() {
        for code in ["00", "07", "99", "01", "42"] {
            for status in ["02", "08", "11"] {
                assert_eq!(callback(code, status), InDoubt, "{code} {status}");
            }
        }
        for status in ["01", "04", "05", "06", "07", "09", "42"] {
            assert_eq!(callback("24", status), InDoubt, "{status}");
        }
    }

    #[test]
    fn querydr_reads_the_status_alone() {
        assert_eq!(querydr("00"), Paid);
        assert_eq!(querydr("01"), Pending);
        for status in ["02", "08", "11"] {
            assert_eq!(querydr(status), Unpaid, "{status}");
        }
        for status in ["04", "05", "06", "07", "09"] {
            assert_eq!(querydr(status), InDoubt, "{status}");
        }
        assert_eq!(querydr("42"), Unknown);
    }
}
