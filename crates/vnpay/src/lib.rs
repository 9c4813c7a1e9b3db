//! VNPay payment gateway, API 2.1.0: signed payment URLs, Return/IPN verification, the IPN reply,
//! and the querydr/refund API.
//!
//! Everything follows the protocol as VNPay's demos and sandbox implement it: HMAC-SHA512 over
//! the form-encoded, byte-sorted `vnp_*` parameters; amounts × 100; timestamps in GMT+7;
//! pipe-joined checksums for querydr and refund. Nothing reads a clock: instants are passed in.
//!
//! ```
//! use time::macros::datetime;
//! use vnpay::{
//!     Callback, HashSecret, IpnReply, OrderInfo, PayAmount, PayRequest, ReturnUrl, RspCode,
//!     Terminal, TmnCode, TxnRef, Vnd, SANDBOX_PAY_URL,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let terminal = Terminal::new(TmnCode::parse("DEMOV210")?, HashSecret::new("my secret"));
//!
//! // 1. Send the buyer to VNPay.
//! let request = PayRequest::new(
//!     TxnRef::parse("order-42")?,
//!     PayAmount::parse(Vnd::new(150_000))?,
//!     OrderInfo::sanitize("Thanh toán đơn hàng #42")?,
//!     ReturnUrl::parse("https://shop.example/vnpay/return")?,
//!     "203.0.113.7".parse()?,
//!     datetime!(2026-03-01 10:00:00 UTC),
//! )
//! .expire_after(vnpay::DEFAULT_EXPIRY)?;
//! let url = request.to_url(SANDBOX_PAY_URL, &terminal);
//! assert!(url.contains("vnp_Amount=15000000"));
//! assert!(url.contains("vnp_CreateDate=20260301170000"));
//!
//! // 2. VNPay calls the IPN URL with a signed query; verify it over the raw query string.
//! # let raw_query = vnpay::Callback {
//! #     tmn_code: TmnCode::parse("DEMOV210")?, amount: Vnd::new(150_000), bank_code: "NCB".into(),
//! #     bank_tran_no: Some("VNP14422574".into()), card_type: Some("ATM".into()), pay_date: None,
//! #     order_info: "Thanh toan don hang #42".into(), transaction_no: 14422574,
//! #     response_code: vnpay::ResponseCode::Success,
//! #     transaction_status: vnpay::TransactionStatus::Success, txn_ref: TxnRef::parse("order-42")?,
//! # }.sign(&terminal.secret).to_query();
//! let reply = match Callback::verify(&raw_query, &terminal.secret) {
//!     Ok(cb) if cb.amount != Vnd::new(150_000) => IpnReply::new(RspCode::InvalidAmount),
//!     Ok(cb) => {
//!         // record cb.is_paid() for cb.txn_ref, idempotently
//!         IpnReply::confirm_success()
//!     }
//!     Err(e) => IpnReply::from(&e),
//! };
//! assert_eq!(reply.to_json(), r#"{"RspCode":"00","Message":"Confirm Success"}"#);
//! # Ok(())
//! # }
//! ```
//!
//! For querydr and refund, see [`VnpayClient`]: it returns verified results only, and tells a
//! gateway answer ([`ClientError::Rejected`]) from no usable answer ([`ClientError::NoAnswer`]).

pub mod amount;
pub mod api_reply;
pub mod callback;
pub mod canonical;
pub mod client;
pub mod codes;
pub mod ipn_reply;
pub mod order_info;
pub mod pay_fields;
pub mod pay_url;
pub mod querydr;
pub mod refund;
pub mod request_id;
pub mod signature;
pub mod signed_query;
pub mod terminal;
pub mod time;
pub mod txn_ref;
pub mod wire;

/// The protocol version this crate speaks.
pub const VERSION: &str = "2.1.0";

pub use amount::{AmountError, PayAmount, Vnd};
pub use api_reply::{
    ApiResponseCode, ApiTransaction, Rejection, ReplyError, SignedBody, SignedReply,
};
pub use callback::{Callback, CallbackError};
pub use canonical::{EmptyValues, canonical_query, canonical_query_with};
pub use client::{
    BuildError, ClientConfig, ClientError, NoAnswer, PRODUCTION_API_URL, QueryDrError, RefundError,
    SANDBOX_API_URL, VnpayClient,
};
pub use codes::{
    QueryDrResponseCode, RefundResponseCode, ResponseCode, TransactionStatus, TransactionType,
};
pub use ipn_reply::{IpnReply, RspCode};
pub use order_info::{InvalidOrderInfo, OrderInfo};
pub use pay_fields::{BankCode, BillingField, InvalidField, Locale, OrderType, ReturnUrl};
pub use pay_url::{DEFAULT_EXPIRY, PRODUCTION_PAY_URL, PayRequest, SANDBOX_PAY_URL};
pub use querydr::{QueryDrRequest, QueryDrRequestBody, QueryDrResponseBody, QueryDrResult};
pub use refund::{
    InvalidRefund, RefundKind, RefundRequest, RefundRequestBody, RefundResponseBody, RefundResult,
};
pub use request_id::RequestId;
pub use signature::HashSecret;
pub use signed_query::{ReceivedQuery, SignatureError, SignedQuery};
pub use terminal::{Terminal, TmnCode};
pub use time::{GMT7, VnpDateTime};
pub use txn_ref::TxnRef;
pub use wire::WireFields;
