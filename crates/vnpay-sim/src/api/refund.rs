//! refund: full (02) or partial (03) refund of a successful payment.
//!
//! Codes per spec §7.4: a reused RequestId (the same request again) and any refund of a payment
//! while an earlier refund of it is still being processed (status 05, for
//! [`crate::SimConfig::refund_processing`]) are answered 94, "a refund request for this transaction
//! is already being processed"; a payment that did not succeed gives 95. Amounts above what is
//! still refundable, and "full" refunds that are not exactly the whole untouched payment, are
//! answered 03 (invalid data). A success registers the refund with status 05 and a new
//! TransactionNo.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use vnpay::{
    RefundRequestBody, RefundResponseBody, SignedBody, TransactionStatus, VERSION, Vnd, VnpDateTime,
};

use super::{reject, require, response_id};
use crate::handle::{SimHandle, lock};
use crate::store::SimRefund;

const COMMAND: &str = vnpay::refund::REFUND;

pub(super) fn handle(sim: &SimHandle, value: Value) -> Response {
    let Ok(body) = serde_json::from_value::<RefundRequestBody>(value) else {
        return reject(COMMAND, "03", "Invalid data format");
    };
    let fields = require(&[
        ("vnp_RequestId", &body.request_id),
        ("vnp_Version", &body.version),
        ("vnp_TmnCode", &body.tmn_code),
        ("vnp_TransactionType", &body.transaction_type),
        ("vnp_TxnRef", &body.txn_ref),
        ("vnp_Amount", &body.amount),
        ("vnp_OrderInfo", &body.order_info),
        ("vnp_TransactionDate", &body.transaction_date),
        ("vnp_CreateBy", &body.create_by),
        ("vnp_CreateDate", &body.create_date),
        ("vnp_IpAddr", &body.ip_addr),
        ("vnp_SecureHash", &body.secure_hash),
    ]);
    let Ok(
        &[
            request_id,
            version,
            tmn_code,
            kind,
            txn_ref,
            amount,
            order_info,
            transaction_date,
            create_by,
            create_date,
            _,
            _,
        ],
    ) = fields.as_deref()
    else {
        return reject(COMMAND, "03", "Missing required field");
    };
    let config = &sim.0.config;
    let Some(terminal) = config.terminals.get(tmn_code) else {
        return reject(COMMAND, "02", "Invalid TmnCode");
    };
    if !body.signature_matches(&terminal.secret) {
        return reject(COMMAND, "97", "Invalid checksum");
    }
    let amount = match Vnd::from_wire(amount) {
        Ok(a) if a.get() > 0 && amount.len() <= 12 => a,
        _ => return reject(COMMAND, "03", "Invalid vnp_Amount"),
    };
    let (Ok(transaction_date), Ok(_)) = (
        VnpDateTime::parse(transaction_date),
        VnpDateTime::parse(create_date),
    ) else {
        return reject(COMMAND, "03", "Invalid date");
    };
    if version != VERSION || (kind != "02" && kind != "03") {
        return reject(COMMAND, "03", "Invalid data format");
    }
    if let Some(code) = sim.faults().refund_refused_with {
        let meaning = vnpay::RefundResponseCode::from(code.as_str()).meaning();
        return reject(COMMAND, &code, meaning);
    }
    let instant = sim.now();
    let now = VnpDateTime::from_instant(instant);
    let mut store = lock(&sim.0.store);
    if !store.use_request_id(tmn_code, now.date(), request_id) {
        return reject(COMMAND, "94", "Duplicate request id");
    }
    let refund_no = store.next_transaction_no();
    let Some(payment) = store.find(tmn_code, txn_ref, transaction_date) else {
        return reject(COMMAND, "91", "Transaction not found");
    };
    let original_no = payment
        .completion
        .as_ref()
        .map(|c| c.callback.transaction_no);
    let given_no = body
        .transaction_no
        .as_deref()
        .filter(|n| !n.is_empty() && *n != "0");
    if given_no.is_some_and(|n| Some(n) != original_no.map(|o| o.to_string()).as_deref()) {
        return reject(COMMAND, "91", "Transaction not found");
    }
    if !payment.is_paid() {
        return reject(COMMAND, "95", "Original transaction was not successful");
    }
    if payment
        .refunds
        .iter()
        .any(|r| r.is_processing(instant, config.refund_processing))
    {
        return reject(
            COMMAND,
            "94",
            "A refund request for this transaction is already being processed",
        );
    }
    if amount > payment.refundable() {
        return reject(COMMAND, "03", "Refund amount exceeds the refundable amount");
    }
    if kind == "02" && (amount != payment.request.amount || !payment.refunds.is_empty()) {
        return reject(COMMAND, "03", "A full refund must cover the whole payment");
    }
    payment.refunds.push(SimRefund {
        transaction_no: refund_no,
        amount: amount.get(),
        transaction_type: kind.to_owned(),
        pay_date: now.format(),
        order_info: order_info.to_owned(),
        create_by: create_by.to_owned(),
    });
    let reply = RefundResponseBody {
        response_id: Some(response_id()),
        command: Some(COMMAND.to_owned()),
        response_code: Some("00".to_owned()),
        message: Some("Refund success".to_owned()),
        tmn_code: Some(tmn_code.to_owned()),
        txn_ref: Some(txn_ref.to_owned()),
        amount: Some(amount.to_wire()),
        order_info: Some(order_info.to_owned()),
        bank_code: payment
            .completion
            .as_ref()
            .map(|c| c.callback.bank_code.clone()),
        pay_date: Some(now.format()),
        transaction_no: Some(refund_no.to_string()),
        transaction_type: Some(kind.to_owned()),
        transaction_status: Some(TransactionStatus::RefundProcessing.as_str().to_owned()),
        secure_hash: None,
    };
    Json(reply.signed(&terminal.secret)).into_response()
}
