//! querydr: ask VNPay for the state of a payment (spec §5).

use std::net::IpAddr;

use time::OffsetDateTime;

use crate::VERSION;
use crate::api_reply::{ApiTransaction, SignedBody, SignedReply};
use crate::codes::QueryDrResponseCode;
use crate::order_info::OrderInfo;
use crate::request_id::RequestId;
use crate::terminal::Terminal;
use crate::time::VnpDateTime;
use crate::txn_ref::TxnRef;
use crate::wire::wire_body;

/// The `vnp_Command` value.
pub const QUERYDR: &str = "querydr";

/// A status query for one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryDrRequest {
    /// The payment's `vnp_TxnRef`.
    pub txn_ref: TxnRef,
    /// The payment's `vnp_CreateDate`: with another date VNPay does not find it.
    pub transaction_date: VnpDateTime,
    /// VNPay's transaction number, if known (sent, not signed).
    pub transaction_no: Option<u64>,
    /// A description of this query.
    pub order_info: OrderInfo,
    /// The merchant server's IP.
    pub ip_addr: IpAddr,
    /// When this query is made.
    pub create_date: VnpDateTime,
}

impl QueryDrRequest {
    /// A query made at `now` for the payment created at `transaction_date`.
    pub fn new(
        txn_ref: TxnRef,
        transaction_date: VnpDateTime,
        order_info: OrderInfo,
        ip_addr: IpAddr,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            txn_ref,
            transaction_date,
            transaction_no: None,
            order_info,
            ip_addr,
            create_date: VnpDateTime::from_instant(now),
        }
    }

    /// The signed JSON body. `request_id` must be fresh for every call.
    pub fn to_body(&self, request_id: &RequestId, terminal: &Terminal) -> QueryDrRequestBody {
        QueryDrRequestBody {
            request_id: Some(request_id.as_str().to_owned()),
            version: Some(VERSION.to_owned()),
            command: Some(QUERYDR.to_owned()),
            tmn_code: Some(terminal.tmn_code.as_str().to_owned()),
            txn_ref: Some(self.txn_ref.as_str().to_owned()),
            order_info: Some(self.order_info.as_str().to_owned()),
            transaction_no: self.transaction_no.map(|n| n.to_string()),
            transaction_date: Some(self.transaction_date.format()),
            create_date: Some(self.create_date.format()),
            ip_addr: Some(self.ip_addr.to_string()),
            secure_hash: None,
        }
        .signed(&terminal.secret)
    }
}

wire_body! {
    /// The querydr request as it travels. Numbers are accepted where strings are expected.
    QueryDrRequestBody {
        request_id => "vnp_RequestId",
        version => "vnp_Version",
        command => "vnp_Command",
        tmn_code => "vnp_TmnCode",
        txn_ref => "vnp_TxnRef",
        order_info => "vnp_OrderInfo",
        transaction_no => "vnp_TransactionNo",
        transaction_date => "vnp_TransactionDate",
        create_date => "vnp_CreateDate",
        ip_addr => "vnp_IpAddr",
        secure_hash => "vnp_SecureHash",
    }
}

impl SignedBody for QueryDrRequestBody {
    /// `RequestId|Version|Command|TmnCode|TxnRef|TransactionDate|CreateDate|IpAddr|OrderInfo`.
    const SIGNED: &'static [&'static str] = &[
        "vnp_RequestId",
        "vnp_Version",
        "vnp_Command",
        "vnp_TmnCode",
        "vnp_TxnRef",
        "vnp_TransactionDate",
        "vnp_CreateDate",
        "vnp_IpAddr",
        "vnp_OrderInfo",
    ];
}

wire_body! {
    /// The querydr reply as it travels, in the JSON key order VNPay uses.
    QueryDrResponseBody {
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
        promotion_code => "vnp_PromotionCode",
        promotion_amount => "vnp_PromotionAmount",
        secure_hash => "vnp_SecureHash",
    }
}

/// A verified, successful querydr reply.
pub type QueryDrResult = ApiTransaction;

/// The values a querydr reply signs: the refund reply's, then the promotion fields.
pub(crate) const REPLY_SIGNED: [&str; 15] = [
    "vnp_ResponseId",
    "vnp_Command",
    "vnp_ResponseCode",
    "vnp_Message",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_Amount",
    "vnp_BankCode",
    "vnp_PayDate",
    "vnp_TransactionNo",
    "vnp_TransactionType",
    "vnp_TransactionStatus",
    "vnp_OrderInfo",
    "vnp_PromotionCode",
    "vnp_PromotionAmount",
];

impl SignedBody for QueryDrResponseBody {
    /// The 15 values of spec §5.2; absent ones are empty, so the usual string ends in `||`.
    const SIGNED: &'static [&'static str] = &REPLY_SIGNED;
}

impl SignedReply for QueryDrResponseBody {
    type Code = QueryDrResponseCode;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amount::Vnd;
    use crate::api_reply::{Rejection, ReplyError};
    use crate::codes::{TransactionStatus, TransactionType};
    use crate::signature::HashSecret;

    fn secret() -> HashSecret {
        HashSecret::new("k")
    }

    fn success() -> QueryDrResponseBody {
        QueryDrResponseBody {
            response_id: Some("282a3735".into()),
            command: Some("querydr".into()),
            response_code: Some("00".into()),
            message: Some("QueryDR Success".into()),
            tmn_code: Some("E32QASX8".into()),
            txn_ref: Some("34428014".into()),
            amount: Some("1000000".into()),
            order_info: Some("Thanh toan don hang:34428014".into()),
            bank_code: Some("VISA".into()),
            pay_date: Some("20250308183518".into()),
            transaction_no: Some("14836051".into()),
            transaction_type: Some("01".into()),
            transaction_status: Some("00".into()),
            ..Default::default()
        }
        .signed(&secret())
    }

    #[test]
    fn a_signed_success_reply_verifies_into_typed_values() {
        let result = success().verify(&secret()).unwrap();
        assert_eq!(result.amount, Vnd::new(10_000));
        assert_eq!(result.transaction_status, TransactionStatus::Success);
        assert_eq!(result.transaction_type, TransactionType::Payment);
        assert_eq!(result.transaction_no, Some(14_836_051));
    }

    #[test]
    fn the_checksum_ends_in_two_pipes_when_promotion_fields_are_absent() {
        assert!(
            success()
                .checksum_data()
                .ends_with("|Thanh toan don hang:34428014||")
        );
    }

    #[test]
    fn an_error_reply_without_hash_is_only_a_rejection() {
        let body: QueryDrResponseBody = serde_json::from_str(
            r#"{"vnp_ResponseId":"x","vnp_Command":"querydr","vnp_ResponseCode":"94","vnp_Message":"Duplicate"}"#,
        )
        .unwrap();
        let err = body.verify(&secret()).unwrap_err();
        assert_eq!(
            err,
            ReplyError::Rejected(Rejection {
                code: QueryDrResponseCode::DuplicateRequest,
                message: "Duplicate".into(),
                authenticated: false,
            })
        );
    }

    #[test]
    fn a_success_reply_without_hash_or_with_a_wrong_one_is_refused() {
        let mut body = success();
        body.secure_hash = None;
        assert_eq!(body.verify(&secret()), Err(ReplyError::MissingSignature));
        let mut body = success();
        body.amount = Some("2000000".into());
        assert_eq!(body.verify(&secret()), Err(ReplyError::BadSignature));
    }

    #[test]
    fn numeric_json_values_are_read_as_their_decimal_strings() {
        let json = serde_json::to_value(success()).unwrap();
        let mut obj = json.as_object().unwrap().clone();
        obj.insert("vnp_Amount".into(), serde_json::json!(1000000));
        obj.insert("vnp_TransactionNo".into(), serde_json::json!(14836051));
        let body: QueryDrResponseBody = serde_json::from_value(obj.into()).unwrap();
        assert!(body.verify(&secret()).is_ok());
    }

    #[test]
    fn requests_are_emitted_with_string_values() {
        let req = QueryDrRequest::new(
            TxnRef::parse("reference").unwrap(),
            VnpDateTime::parse("20261005093000").unwrap(),
            OrderInfo::parse("Kiem tra don 1").unwrap(),
            "127.0.0.1".parse().unwrap(),
            VnpDateTime::parse("20261005100000").unwrap().instant(),
        );
        let terminal = Terminal::new(
            crate::terminal::TmnCode::parse("TEST0001").unwrap(),
            HashSecret::new("test-secret-not-a-credential"),
        );
        let body = req.to_body(&RequestId::parse("request").unwrap(), &terminal);
        let json = serde_json::to_value(&body).unwrap();
        assert!(
            json.as_object()
                .unwrap()
                .values()
                .all(serde_json::Value::is_string)
        );
        assert!(json.get("vnp_TransactionNo").is_none());
        assert_eq!(
            body.secure_hash.as_deref(),
            Some(
                "3fb58fe73a4d0d358900c25a4f08c129f25b428d81a82bf21033a93562c87b07ecc0f822a0a9045b66cc72e149d40d858cd4f21ccb46ee37eaae67b23c52a55f"
            )
        );
    }
}
