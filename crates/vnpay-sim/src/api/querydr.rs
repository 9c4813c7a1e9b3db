//! querydr: the state of one payment, addressed by (TxnRef, TransactionDate = its CreateDate).
//!
//! A payment still on the page reports status 01. After a refund, querydr reports the latest
//! refund (TransactionType 02/03, status 05 while VNPay processes it then 06, the refund's
//! TransactionNo, amount and date): the real gateway's behaviour here is unknown.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use vnpay::{
    QueryDrRequestBody, QueryDrResponseBody, SignedBody, TransactionStatus, TransactionType,
    VERSION, VnpDateTime,
};

use super::{reject, require, response_id};
use crate::handle::{SimHandle, lock};
use crate::store::{SimPayment, SimRefund, Store};

const COMMAND: &str = vnpay::querydr::QUERYDR;

pub(super) fn handle(sim: &SimHandle, value: Value) -> Response {
    let Ok(body) = serde_json::from_value::<QueryDrRequestBody>(value) else {
        return reject(COMMAND, "03", "Invalid data format");
    };
    let fields = require(&[
        ("vnp_RequestId", &body.request_id),
        ("vnp_Version", &body.version),
        ("vnp_TmnCode", &body.tmn_code),
        ("vnp_TxnRef", &body.txn_ref),
        ("vnp_OrderInfo", &body.order_info),
        ("vnp_TransactionDate", &body.transaction_date),
        ("vnp_CreateDate", &body.create_date),
        ("vnp_IpAddr", &body.ip_addr),
        ("vnp_SecureHash", &body.secure_hash),
    ]);
    let [
        request_id,
        version,
        tmn_code,
        txn_ref,
        _,
        transaction_date,
        create_date,
        _,
        _,
    ] = match fields.as_deref() {
        Ok(&[a, b, c, d, e, f, g, h, i]) => [a, b, c, d, e, f, g, h, i],
        Ok(_) | Err(_) => return reject(COMMAND, "03", "Missing required field"),
    };
    let config = &sim.0.config;
    let Some(terminal) = config.terminals.get(tmn_code) else {
        return reject(COMMAND, "02", "Invalid TmnCode");
    };
    if !body.signature_matches(&terminal.secret) {
        return reject(COMMAND, "97", "Invalid checksum");
    }
    let Ok(transaction_date) = VnpDateTime::parse(transaction_date) else {
        return reject(COMMAND, "03", "Invalid vnp_TransactionDate");
    };
    if version != VERSION || VnpDateTime::parse(create_date).is_err() {
        return reject(COMMAND, "03", "Invalid data format");
    }
    if sim
        .faults()
        .querydr_undecidable
        .iter()
        .any(|r| r == txn_ref)
    {
        return reject(COMMAND, "99", "Other error");
    }
    let now = sim.now();
    let mut store = lock(&sim.0.store);
    if !store.use_request_id(tmn_code, VnpDateTime::from_instant(now).date(), request_id) {
        return reject(COMMAND, "94", "Duplicate request id");
    }
    if !store.allow_query(tmn_code, txn_ref, now, config.querydr_min_interval) {
        return reject(COMMAND, "94", "Request too frequent");
    }
    let Some(payment) = store.find(tmn_code, txn_ref, transaction_date) else {
        return reject(COMMAND, "91", "Transaction not found");
    };
    let refund_status = |r: &SimRefund| r.status(now, config.refund_processing);
    Json(reply(payment, refund_status).signed(&terminal.secret)).into_response()
}

fn reply(
    payment: &SimPayment,
    refund_status: impl Fn(&SimRefund) -> TransactionStatus,
) -> QueryDrResponseBody {
    let request = &payment.request;
    let mut body = QueryDrResponseBody {
        response_id: Some(response_id()),
        command: Some(COMMAND.to_owned()),
        response_code: Some("00".to_owned()),
        message: Some("QueryDR Success".to_owned()),
        tmn_code: Some(request.tmn_code.clone()),
        txn_ref: Some(request.txn_ref.clone()),
        amount: Some(request.amount.to_wire()),
        order_info: Some(request.order_info.clone()),
        bank_code: request.bank_code.clone(),
        transaction_type: Some(TransactionType::Payment.as_str().to_owned()),
        transaction_status: Some(TransactionStatus::Pending.as_str().to_owned()),
        ..Default::default()
    };
    if let Some(done) = &payment.completion {
        let cb = &done.callback;
        body.bank_code = Some(cb.bank_code.clone());
        body.pay_date = cb.pay_date.map(VnpDateTime::format);
        body.transaction_no = Some(cb.transaction_no.to_string());
        body.transaction_status = Some(done.outcome.querydr_status().as_str().to_owned());
    }
    if let Some(refund) = payment.refunds.last() {
        body.amount = Some(vnpay::Vnd::new(refund.amount).to_wire());
        body.pay_date = Some(refund.pay_date.clone());
        body.transaction_no = Some(refund.transaction_no.to_string());
        body.transaction_type = Some(Store::latest_type(payment).as_str().to_owned());
        body.transaction_status = Some(refund_status(refund).as_str().to_owned());
    }
    body
}
