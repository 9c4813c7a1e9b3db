//! refund: return money for a successful payment, fully or partly (spec §6).

use std::net::IpAddr;

use time::OffsetDateTime;

use crate::VERSION;
use crate::amount::{AmountError, Vnd};
use crate::api_reply::{ApiTransaction, SignedBody, SignedReply};
use crate::codes::{RefundResponseCode, TransactionType};
use crate::order_info::OrderInfo;
use crate::pay_fields::InvalidField;
use crate::querydr::REPLY_SIGNED;
use crate::request_id::RequestId;
use crate::terminal::Terminal;
use crate::time::VnpDateTime;
use crate::txn_ref::TxnRef;
use crate::wire::wire_body;

/// The `vnp_Command` value.
pub const REFUND: &str = "refund";

/// Full (`02`) or partial (`03`) refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundKind {
    /// The whole payment.
    Full,
    /// Part of it.
    Partial,
}

impl RefundKind {
    /// The matching `vnp_TransactionType`.
    pub fn transaction_type(self) -> TransactionType {
        match self {
            Self::Full => TransactionType::FullRefund,
            Self::Partial => TransactionType::PartialRefund,
        }
    }
}

/// A refund request for one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// Full or partial.
    pub kind: RefundKind,
    /// The payment's `vnp_TxnRef`.
    pub txn_ref: TxnRef,
    /// The amount to refund.
    pub amount: Vnd,
    /// VNPay's number for the payment, if known. When absent it is left out of the body and
    /// signed as an empty string (both forms were accepted by the sandbox).
    pub transaction_no: Option<u64>,
    /// The payment's `vnp_CreateDate`.
    pub transaction_date: VnpDateTime,
    /// Who asked for the refund.
    pub create_by: String,
    /// A description of this refund.
    pub order_info: OrderInfo,
    /// The merchant server's IP.
    pub ip_addr: IpAddr,
    /// When this request is made.
    pub create_date: VnpDateTime,
}

/// Errors building a refund request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRefund {
    /// The amount is zero or too large for the wire format.
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// `create_by` is empty or too long.
    #[error(transparent)]
    Field(#[from] InvalidField),
}

impl RefundRequest {
    /// A refund made at `now` by `create_by` for the payment created at `transaction_date`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: RefundKind,
        txn_ref: TxnRef,
        amount: Vnd,
        transaction_date: VnpDateTime,
        create_by: impl Into<String>,
        order_info: OrderInfo,
        ip_addr: IpAddr,
        now: OffsetDateTime,
    ) -> Result<Self, InvalidRefund> {
        let create_by = create_by.into();
        if create_by.trim().is_empty() || create_by.len() > 255 || create_by.contains('|') {
            return Err(InvalidField {
                field: "vnp_CreateBy",
                value: create_by,
                rule: "is not 1-255 characters without '|'",
            }
            .into());
        }
        Ok(Self {
            kind,
            txn_ref,
            amount: amount.for_wire()?,
            transaction_no: None,
            transaction_date,
            create_by,
            order_info,
            ip_addr,
            create_date: VnpDateTime::from_instant(now),
        })
    }

    /// Sets VNPay's transaction number of the payment.
    pub fn transaction_no(mut self, transaction_no: u64) -> Self {
        self.transaction_no = Some(transaction_no);
        self
    }

    /// The signed JSON body. `request_id` must be fresh for every call.
    pub fn to_body(&self, request_id: &RequestId, terminal: &Terminal) -> RefundRequestBody {
        RefundRequestBody {
            request_id: Some(request_id.as_str().to_owned()),
            version: Some(VERSION.to_owned()),
            command: Some(REFUND.to_owned()),
            tmn_code: Some(terminal.tmn_code.as_str().to_owned()),
            transaction_type: Some(self.kind.transaction_type().as_str().to_owned()),
            txn_ref: Some(self.txn_ref.as_str().to_owned()),
            amount: Some(self.amount.to_wire()),
            order_info: Some(self.order_info.as_str().to_owned()),
            transaction_no: self.transaction_no.map(|n| n.to_string()),
            transaction_date: Some(self.transaction_date.format()),
            create_by: Some(self.create_by.clone()),
            create_date: Some(self.create_date.format()),
            ip_addr: Some(self.ip_addr.to_string()),
            secure_hash: None,
        }
        .signed(&terminal.secret)
    }
}

wire_body! {
    /// The refund request as it travels. Numbers are accepted where strings are expected.
    RefundRequestBody {
        request_id => "vnp_RequestId",
        version => "vnp_Version",
        command => "vnp_Command",
        tmn_code => "vnp_TmnCode",
        transaction_type => "vnp_TransactionType",
        txn_ref => "vnp_TxnRef",
        amount => "vnp_Amount",
        order_info => "vnp_OrderInfo",
        transaction_no => "vnp_TransactionNo",
        transaction_date => "vnp_TransactionDate",
        create_by => "vnp_CreateBy",
        create_date => "vnp_CreateDate",
        ip_addr => "vnp_IpAddr",
        secure_hash => "vnp_SecureHash",
    }
}

impl SignedBody for RefundRequestBody {
    /// `RequestId|Version|Command|TmnCode|TransactionType|TxnRef|Amount|TransactionNo|TransactionDate|CreateBy|CreateDate|IpAddr|OrderInfo`.
    const SIGNED: &'static [&'static str] = &[
        "vnp_RequestId",
        "vnp_Version",
        "vnp_Command",
        "vnp_TmnCode",
        "vnp_TransactionType",
        "vnp_TxnRef",
        "vnp_Amount",
        "vnp_TransactionNo",
        "vnp_TransactionDate",
        "vnp_CreateBy",
        "vnp_CreateDate",
        "vnp_IpAddr",
        "vnp_OrderInfo",
    ];
}

wire_body! {
    /// The refund reply as it travels, in the JSON key order VNPay uses.
    RefundResponseBody {
        response_id => "vnp_ResponseId",
        command => "vnp_Command",
        response_code => "vnp_ResponseCode",
        message => "vnp_Message",
        tmn_code => "vnp_TmnCode",
        txn_ref => "vnp_TxnRef",
        amount => "vnp_Amount",
        order_info => "vnp_OrderInfo",
        bank_code => "vnp_BankCode",
        pay_date => "vnp_PayDate",
        transaction_no => "vnp_TransactionNo",
        transaction_type => "vnp_TransactionType",
        transaction_status => "vnp_TransactionStatus",
        secure_hash => "vnp_SecureHash",
    }
}

/// A verified, successful refund reply: `transaction_no` is VNPay's new number for the refund,
/// `transaction_status` usually `05` (processing).
pub type RefundResult = ApiTransaction;

impl SignedBody for RefundResponseBody {
    /// The 13 values of spec §6.2: querydr's without the promotion fields, over the raw × 100 amount.
    const SIGNED: &'static [&'static str] = REPLY_SIGNED.split_at(13).0;
}

impl SignedReply for RefundResponseBody {
    type Code = RefundResponseCode;
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::api_reply::{Rejection, ReplyError};

    fn terminal() -> Terminal {
        Terminal::spec_fixture()
    }

    fn request() -> RefundRequest {
        RefundRequest::new(
            RefundKind::Full,
            TxnRef::parse("TXN123456789").unwrap(),
            Vnd::new(10_000),
            VnpDateTime::parse("20231221103000").unwrap(),
            "merchant_user",
            OrderInfo::parse("Test refund order").unwrap(),
            "127.0.0.1".parse().unwrap(),
            datetime!(2023-12-21 03:30:00 UTC),
        )
        .unwrap()
    }

    #[test]
    fn a_refund_without_transaction_no_omits_it_and_signs_it_empty() {
        let body = request().to_body(&RequestId::parse("R1").unwrap(), &terminal());
        assert!(body.transaction_no.is_none());
        assert!(body.checksum_data().contains("|1000000||20231221103000|"));
        assert!(body.signature_matches(&terminal().secret));
    }

    #[test]
    fn zero_amounts_and_empty_operators_are_refused() {
        let info = OrderInfo::parse("x").unwrap();
        let date = VnpDateTime::parse("20231221103000").unwrap();
        let txn = TxnRef::parse("T").unwrap();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let now = datetime!(2023-12-21 03:30:00 UTC);
        assert!(
            RefundRequest::new(
                RefundKind::Partial,
                txn.clone(),
                Vnd::new(0),
                date,
                "op",
                info.clone(),
                ip,
                now
            )
            .is_err()
        );
        assert!(
            RefundRequest::new(
                RefundKind::Partial,
                txn,
                Vnd::new(1),
                date,
                " ",
                info,
                ip,
                now
            )
            .is_err()
        );
    }

    #[test]
    fn partial_refunds_are_type_03() {
        let mut req = request();
        req.kind = RefundKind::Partial;
        let body = req.to_body(&RequestId::random(), &terminal());
        assert_eq!(body.transaction_type.as_deref(), Some("03"));
    }

    #[test]
    fn an_error_reply_is_a_rejection_and_never_a_result() {
        let body = RefundResponseBody {
            response_code: Some("95".into()),
            message: Some("Original not successful".into()),
            ..Default::default()
        };
        let err = body.verify(&terminal().secret);
        assert!(matches!(
            err,
            Err(ReplyError::Rejected(Rejection {
                code: RefundResponseCode::OriginalNotSuccessful,
                authenticated: false,
                ..
            }))
        ));
    }
}
