//! Return URL and IPN callbacks (spec §4.2): verified first, over the raw values, then typed.

use crate::amount::Vnd;
use crate::canonical::EmptyValues;
use crate::codes::{ResponseCode, TransactionStatus};
use crate::signature::HashSecret;
use crate::signed_query::{ReceivedQuery, SignatureError, SignedQuery};
use crate::terminal::TmnCode;
use crate::time::VnpDateTime;
use crate::txn_ref::TxnRef;

/// Why a callback cannot be acted upon.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The signature is missing, wrong or ambiguous: the query may not come from VNPay.
    #[error("bad signature: {0}")]
    BadSignature(#[from] SignatureError),
    /// A required field is absent or empty.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// Signed, but a payment request (it carries `vnp_Command`), not a callback: the merchant signs
    /// its requests with the same secret, so a buyer holds a signed query of their own order.
    #[error("a payment request, not a callback (it carries vnp_Command)")]
    NotACallback,
    /// A field is present but unusable.
    #[error("malformed field {field}: {value:?}")]
    MalformedField {
        /// The `vnp_*` name.
        field: &'static str,
        /// The value as received.
        value: String,
    },
}

impl CallbackError {
    /// Whether the query failed signature checks (as opposed to carrying bad data under a
    /// good signature).
    pub fn is_bad_signature(&self) -> bool {
        matches!(self, Self::BadSignature(_) | Self::NotACallback)
    }
}

/// A verified Return or IPN callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// `vnp_TmnCode`.
    pub tmn_code: TmnCode,
    /// `vnp_Amount / 100`.
    pub amount: Vnd,
    /// `vnp_BankCode` (`VNPAY` on cancel).
    pub bank_code: String,
    /// `vnp_BankTranNo`, absent on failures.
    pub bank_tran_no: Option<String>,
    /// `vnp_CardType` (`ATM`, `QRCODE`, …).
    pub card_type: Option<String>,
    /// `vnp_PayDate`, GMT+7.
    pub pay_date: Option<VnpDateTime>,
    /// `vnp_OrderInfo`, echoed.
    pub order_info: String,
    /// `vnp_TransactionNo`; `0` when the buyer cancelled or timed out.
    pub transaction_no: u64,
    /// `vnp_ResponseCode`.
    pub response_code: ResponseCode,
    /// `vnp_TransactionStatus`.
    pub transaction_status: TransactionStatus,
    /// `vnp_TxnRef`, echoed.
    pub txn_ref: TxnRef,
}

impl Callback {
    /// Verifies and parses a raw query string (`vnp_Amount=…&…&vnp_SecureHash=…`), as received
    /// on the Return URL or IPN URL. Prefer this over [`Callback::verify_params`]: it can also
    /// accept senders that encode a space as `%20`.
    pub fn verify(raw_query: &str, secret: &HashSecret) -> Result<Self, CallbackError> {
        let query = ReceivedQuery::parse(raw_query)?;
        Self::verify_received(&query, secret)
    }

    /// Verifies and parses parameters a web framework already decoded.
    pub fn verify_params<K, V>(
        params: impl IntoIterator<Item = (K, V)>,
        secret: &HashSecret,
    ) -> Result<Self, CallbackError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let query = ReceivedQuery::from_params(params)?;
        Self::verify_received(&query, secret)
    }

    /// Verifies an already parsed query, then reads its fields.
    pub fn verify_received(
        query: &ReceivedQuery,
        secret: &HashSecret,
    ) -> Result<Self, CallbackError> {
        query.verify_with(secret, EmptyValues::Drop)?;
        Self::read(query)
    }

    fn read(q: &ReceivedQuery) -> Result<Self, CallbackError> {
        if q.get("vnp_Command").is_some() {
            return Err(CallbackError::NotACallback);
        }
        let required = |field: &'static str| {
            q.get(field)
                .filter(|v| !v.is_empty())
                .ok_or(CallbackError::MissingField(field))
        };
        let optional =
            |field: &'static str| q.get(field).filter(|v| !v.is_empty()).map(str::to_owned);
        let malformed = |field: &'static str, value: &str| CallbackError::MalformedField {
            field,
            value: value.to_owned(),
        };

        let tmn = required("vnp_TmnCode")?;
        let amount = required("vnp_Amount")?;
        let txn_ref = required("vnp_TxnRef")?;
        let transaction_no = required("vnp_TransactionNo")?;
        let pay_date = match q.get("vnp_PayDate").filter(|v| !v.is_empty()) {
            Some(v) => Some(VnpDateTime::parse(v).map_err(|_| malformed("vnp_PayDate", v))?),
            None => None,
        };
        Ok(Self {
            tmn_code: TmnCode::parse(tmn).map_err(|_| malformed("vnp_TmnCode", tmn))?,
            amount: Vnd::from_wire(amount).map_err(|_| malformed("vnp_Amount", amount))?,
            bank_code: required("vnp_BankCode")?.to_owned(),
            bank_tran_no: optional("vnp_BankTranNo"),
            card_type: optional("vnp_CardType"),
            pay_date,
            order_info: required("vnp_OrderInfo")?.to_owned(),
            transaction_no: parse_transaction_no(transaction_no)
                .ok_or_else(|| malformed("vnp_TransactionNo", transaction_no))?,
            response_code: ResponseCode::from(required("vnp_ResponseCode")?),
            transaction_status: TransactionStatus::from(required("vnp_TransactionStatus")?),
            txn_ref: TxnRef::parse(txn_ref).map_err(|_| malformed("vnp_TxnRef", txn_ref))?,
        })
    }

    /// The payment went through: `vnp_ResponseCode == 00` **and** `vnp_TransactionStatus == 00`.
    pub fn is_paid(&self) -> bool {
        self.response_code.is_success() && self.transaction_status.is_success()
    }

    /// The callback's parameters, absent optional fields left out (as VNPay omits them).
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("vnp_Amount", self.amount.to_wire()),
            ("vnp_BankCode", self.bank_code.clone()),
            ("vnp_OrderInfo", self.order_info.clone()),
            ("vnp_ResponseCode", self.response_code.as_str().to_owned()),
            ("vnp_TmnCode", self.tmn_code.as_str().to_owned()),
            ("vnp_TransactionNo", self.transaction_no.to_string()),
            (
                "vnp_TransactionStatus",
                self.transaction_status.as_str().to_owned(),
            ),
            ("vnp_TxnRef", self.txn_ref.as_str().to_owned()),
        ];
        if let Some(v) = &self.bank_tran_no {
            fields.push(("vnp_BankTranNo", v.clone()));
        }
        if let Some(v) = &self.card_type {
            fields.push(("vnp_CardType", v.clone()));
        }
        if let Some(v) = self.pay_date {
            fields.push(("vnp_PayDate", v.format()));
        }
        fields
    }

    /// Signs the callback as VNPay does (for simulators and tests).
    pub fn sign(&self, secret: &HashSecret) -> SignedQuery {
        SignedQuery::sign(self.fields(), secret)
    }
}

fn parse_transaction_no(s: &str) -> Option<u64> {
    if s.len() <= 15 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> HashSecret {
        HashSecret::new("k")
    }

    /// A buyer's own payment URL query: signed with the merchant's secret, as every request is.
    fn payment_request() -> String {
        SignedQuery::sign(
            [
                ("vnp_Amount", "1000000"),
                ("vnp_Command", "pay"),
                ("vnp_OrderInfo", "Thanh toan don hang"),
                ("vnp_TmnCode", "TMN00001"),
                ("vnp_TxnRef", "ORDER-1"),
                ("vnp_Version", "2.1.0"),
            ],
            &secret(),
        )
        .to_query()
    }

    #[test]
    fn parameters_with_encoded_names_cannot_ride_on_a_signed_query() {
        // Read as `vnp_ResponseCode` and so on, but not in what the secret signed.
        for forged in [
            "&vnp%5FResponseCode=00&vnp%5FTransactionStatus=00&vnp%5FTransactionNo=1&vnp%5FBankCode=NCB",
            "&%76np_ResponseCode=00&%76np_TransactionStatus=00&%76np_TransactionNo=1&%76np_BankCode=NCB",
        ] {
            let query = format!("{}{forged}", payment_request());
            let refused = Callback::verify(&query, &secret()).unwrap_err();
            assert!(refused.is_bad_signature(), "{forged}: {refused}");
        }
    }

    #[test]
    fn a_signed_payment_request_is_not_a_callback() {
        let signed = SignedQuery::sign(
            sample()
                .fields()
                .into_iter()
                .chain([("vnp_Command", "pay".to_owned())]),
            &secret(),
        );
        let refused = Callback::verify(&signed.to_query(), &secret()).unwrap_err();
        assert_eq!(refused, CallbackError::NotACallback);
        assert!(refused.is_bad_signature());
    }

    fn sample() -> Callback {
        Callback {
            tmn_code: TmnCode::parse("TMN00001").unwrap(),
            amount: Vnd::new(10_000),
            bank_code: "NCB".into(),
            bank_tran_no: Some("VNP14422574".into()),
            card_type: Some("ATM".into()),
            pay_date: VnpDateTime::parse("20240521091806").ok(),
            order_info: "Thanh toan don hang".into(),
            transaction_no: 14_422_574,
            response_code: ResponseCode::Success,
            transaction_status: TransactionStatus::Success,
            txn_ref: TxnRef::parse("ORDER-1").unwrap(),
        }
    }

    #[test]
    fn a_signed_callback_verifies_into_the_same_values() {
        let query = sample().sign(&secret()).to_query();
        assert_eq!(Callback::verify(&query, &secret()), Ok(sample()));
        assert!(sample().is_paid());
    }

    #[test]
    fn a_tampered_amount_is_a_bad_signature() {
        let query = sample()
            .sign(&secret())
            .to_query()
            .replace("vnp_Amount=1000000", "vnp_Amount=100");
        let err = Callback::verify(&query, &secret());
        assert_eq!(
            err,
            Err(CallbackError::BadSignature(SignatureError::Mismatch))
        );
    }

    #[test]
    fn a_well_signed_callback_without_a_required_field_is_reported_as_missing() {
        let mut cb = sample();
        cb.order_info = String::new();
        let query = cb.sign(&secret()).to_query();
        assert_eq!(
            Callback::verify(&query, &secret()),
            Err(CallbackError::MissingField("vnp_OrderInfo"))
        );
    }

    #[test]
    fn a_well_signed_amount_that_is_not_times_one_hundred_is_malformed() {
        let signed = SignedQuery::sign(
            sample().fields().into_iter().map(|(k, v)| {
                (
                    k,
                    if k == "vnp_Amount" {
                        "1001".to_owned()
                    } else {
                        v
                    },
                )
            }),
            &secret(),
        );
        let err = Callback::verify(&signed.to_query(), &secret());
        assert!(matches!(
            err,
            Err(CallbackError::MalformedField {
                field: "vnp_Amount",
                ..
            })
        ));
    }

    #[test]
    fn a_cancelled_payment_has_transaction_no_zero_and_is_not_paid() {
        let mut cb = sample();
        cb.response_code = ResponseCode::Cancelled;
        cb.transaction_status = TransactionStatus::Failed;
        cb.transaction_no = 0;
        cb.bank_tran_no = None;
        let query = cb.sign(&secret()).to_query();
        assert!(!query.contains("vnp_BankTranNo"));
        let parsed = Callback::verify(&query, &secret());
        assert_eq!(parsed.as_ref().map(Callback::is_paid), Ok(false));
        assert_eq!(parsed.map(|c| c.transaction_no), Ok(0));
    }

    #[test]
    fn success_needs_both_codes() {
        let mut cb = sample();
        cb.transaction_status = TransactionStatus::Pending;
        assert!(!cb.is_paid());
    }
}
