//! querydr and refund on `/merchant_webapi/api/transaction`, through the `vnpay` client and raw.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use vnpay::{
    ClientError, HashSecret, OrderInfo, QueryDrRequest, QueryDrRequestBody, QueryDrResponseCode,
    RefundKind, RefundRequest, RefundResponseCode, RequestId, SignedBody, TransactionStatus,
    TransactionType, TxnRef, Vnd, VnpDateTime,
};
use vnpay_sim::{ManualClock, Outcome, SimHandle};

fn query(txn_ref: &str, created: VnpDateTime) -> QueryDrRequest {
    QueryDrRequest::new(
        TxnRef::parse(txn_ref).unwrap(),
        created,
        OrderInfo::parse(format!("Kiem tra don {txn_ref}")).unwrap(),
        "127.0.0.1".parse().unwrap(),
        now(),
    )
}

fn refund(kind: RefundKind, txn_ref: &str, amount: u64, created: VnpDateTime) -> RefundRequest {
    RefundRequest::new(
        kind,
        TxnRef::parse(txn_ref).unwrap(),
        Vnd::new(amount),
        created,
        "ops_user",
        OrderInfo::parse(format!("Hoan tien {txn_ref}")).unwrap(),
        "127.0.0.1".parse().unwrap(),
        now(),
    )
    .unwrap()
}

/// Begins (and optionally completes) a payment; returns its CreateDate.
fn paid(
    sim: &SimHandle,
    txn_ref: &str,
    amount: u64,
    outcome: Option<Outcome>,
) -> (VnpDateTime, u64) {
    let request = pay_request(txn_ref, amount, now());
    let url = request.to_url(&sim.pay_page_url(), &terminal());
    let id = sim.begin_payment(&url).unwrap();
    let no = outcome.map_or(0, |o| sim.complete(id, o).unwrap().transaction_no);
    (request.create_date(), no)
}

async fn post_raw(sim: &SimHandle, body: &Value) -> Value {
    reqwest::Client::new()
        .post(sim.api_url())
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn signed_query_body(txn_ref: &str, created: VnpDateTime) -> QueryDrRequestBody {
    query(txn_ref, created).to_body(&RequestId::random(), &terminal())
}

#[tokio::test]
async fn querydr_after_a_successful_payment_reports_status_00_verified_by_the_client() {
    let sim = sim(config(None)).await;
    let (created, no) = paid(&sim, "Q-1", 120_000, Some(Outcome::Success));
    let result = client(&sim).query_dr(&query("Q-1", created)).await.unwrap();
    assert_eq!(result.transaction_status, TransactionStatus::Success);
    assert_eq!(result.transaction_type, TransactionType::Payment);
    assert_eq!(result.amount, Vnd::new(120_000));
    assert_eq!(result.transaction_no, Some(no));
    assert_eq!(
        result.order_info.as_deref(),
        Some("Thanh toan don hang Q-1")
    );
    assert!(result.pay_date.is_some());
}

#[tokio::test]
async fn querydr_after_a_cancel_reports_status_11() {
    let sim = sim(config(None)).await;
    let (created, _) = paid(&sim, "Q-2", 50_000, Some(Outcome::Cancel));
    let result = client(&sim).query_dr(&query("Q-2", created)).await.unwrap();
    assert_eq!(result.transaction_status, TransactionStatus::Cancelled);
}

#[tokio::test]
async fn a_flagged_payment_reports_07_or_04_until_the_gateway_decides() {
    let sim = sim(config(None)).await;
    let (suspicious, _) = paid(&sim, "Q-07", 50_000, Some(Outcome::Suspicious));
    let (reversed, _) = paid(&sim, "Q-04", 50_000, Some(Outcome::Reversed));
    let client = client(&sim);
    let status = |r: Result<vnpay::QueryDrResult, _>| r.unwrap().transaction_status;
    assert_eq!(
        status(client.query_dr(&query("Q-07", suspicious)).await),
        TransactionStatus::SuspectedFraud
    );
    assert_eq!(
        status(client.query_dr(&query("Q-04", reversed)).await),
        TransactionStatus::Reversed
    );
    sim.decide("Q-07", Outcome::Success).unwrap();
    sim.decide("Q-04", Outcome::InsufficientFunds).unwrap();
    assert_eq!(
        status(client.query_dr(&query("Q-07", suspicious)).await),
        TransactionStatus::Success
    );
    assert_eq!(
        status(client.query_dr(&query("Q-04", reversed)).await),
        TransactionStatus::Failed
    );
}

#[tokio::test]
async fn an_undecidable_txn_ref_is_answered_99_and_the_others_normally() {
    let sim = sim(config(None)).await;
    let (poisoned, _) = paid(&sim, "Q-99", 50_000, Some(Outcome::Success));
    let (fine, _) = paid(&sim, "Q-OK", 50_000, Some(Outcome::Success));
    sim.set_faults(vnpay_sim::Faults {
        querydr_undecidable: vec!["Q-99".to_owned()],
        ..vnpay_sim::Faults::default()
    })
    .unwrap();
    let client = client(&sim);
    let refused = client.query_dr(&query("Q-99", poisoned)).await;
    assert!(
        matches!(&refused, Err(ClientError::Rejected(r)) if r.code == QueryDrResponseCode::OtherError),
        "{refused:?}"
    );
    let answered = client.query_dr(&query("Q-OK", fine)).await.unwrap();
    assert_eq!(answered.transaction_status, TransactionStatus::Success);
}

#[tokio::test]
async fn querydr_of_a_payment_still_on_the_page_reports_pending_01() {
    let sim = sim(config(None)).await;
    let (created, _) = paid(&sim, "Q-3", 50_000, None);
    let result = client(&sim).query_dr(&query("Q-3", created)).await.unwrap();
    assert_eq!(result.transaction_status, TransactionStatus::Pending);
    assert_eq!(result.transaction_no, None);
}

#[tokio::test]
async fn querydr_of_an_unknown_txn_ref_or_with_the_wrong_transaction_date_is_91() {
    let sim = sim(config(None)).await;
    let (created, _) = paid(&sim, "Q-4", 50_000, Some(Outcome::Success));
    let client = client(&sim);
    let err = client.query_dr(&query("NOPE", created)).await.unwrap_err();
    assert_eq!(err.code(), Some(&QueryDrResponseCode::NotFound));
    let wrong_date = created.plus(time::Duration::seconds(1));
    let err = client
        .query_dr(&query("Q-4", wrong_date))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&QueryDrResponseCode::NotFound));
}

#[tokio::test]
async fn querying_the_same_txn_ref_too_often_is_94_until_the_interval_passes() {
    let clock = Arc::new(ManualClock::new(now()));
    let config = config(None)
        .with_clock(clock.clone())
        .with_querydr_min_interval(Duration::from_secs(30));
    let sim = sim(config).await;
    let (created, _) = paid(&sim, "Q-5", 50_000, Some(Outcome::Success));
    let client = client(&sim);
    assert!(client.query_dr(&query("Q-5", created)).await.is_ok());
    let err = client.query_dr(&query("Q-5", created)).await.unwrap_err();
    assert_eq!(err.code(), Some(&QueryDrResponseCode::DuplicateRequest));
    assert!(matches!(err, ClientError::Rejected(ref r) if !r.authenticated));
    clock.advance(time::Duration::seconds(31));
    assert!(client.query_dr(&query("Q-5", created)).await.is_ok());
}

#[tokio::test]
async fn a_reused_request_id_is_94() {
    let sim = sim(config(None)).await;
    let (created, _) = paid(&sim, "Q-6", 50_000, Some(Outcome::Success));
    let body = serde_json::to_value(signed_query_body("Q-6", created)).unwrap();
    assert_eq!(post_raw(&sim, &body).await["vnp_ResponseCode"], "00");
    assert_eq!(post_raw(&sim, &body).await["vnp_ResponseCode"], "94");
}

#[tokio::test]
async fn bad_checksum_unknown_terminal_and_missing_fields_get_97_02_and_03_without_a_hash() {
    let sim = sim(config(None)).await;
    let (created, _) = paid(&sim, "Q-7", 50_000, Some(Outcome::Success));
    let mut tampered = serde_json::to_value(signed_query_body("Q-7", created)).unwrap();
    tampered["vnp_TxnRef"] = json!("Q-8");
    let mut stranger = signed_query_body("Q-7", created);
    stranger.tmn_code = Some("STRANGER".into());
    let stranger = serde_json::to_value(stranger.signed(&HashSecret::new(SECRET))).unwrap();
    let mut missing = serde_json::to_value(signed_query_body("Q-7", created)).unwrap();
    missing.as_object_mut().unwrap().remove("vnp_IpAddr");
    for (body, code) in [
        (tampered, "97"),
        (stranger, "02"),
        (missing, "03"),
        (json!({"x": 1}), "03"),
    ] {
        let reply = post_raw(&sim, &body).await;
        assert_eq!(reply["vnp_ResponseCode"], code, "{reply}");
        let keys: Vec<&String> = reply.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 4, "{reply}");
        assert!(reply.get("vnp_SecureHash").is_none());
    }
}

#[tokio::test]
async fn numeric_json_values_are_accepted_and_signed_as_their_decimal_strings() {
    let sim = sim(config(None)).await;
    let (created, _) = paid(&sim, "777", 50_000, Some(Outcome::Success));
    let mut body = signed_query_body("777", created);
    body.request_id = Some("12345678".into());
    let mut json = serde_json::to_value(body.signed(&HashSecret::new(SECRET))).unwrap();
    json["vnp_RequestId"] = json!(12345678);
    json["vnp_TxnRef"] = json!(777);
    let reply = post_raw(&sim, &json).await;
    assert_eq!(reply["vnp_ResponseCode"], "00", "{reply}");
}

#[tokio::test]
async fn a_full_refund_is_accepted_and_a_later_querydr_reports_it() {
    let sim = sim(config(None)).await;
    let (created, no) = paid(&sim, "R-1", 80_000, Some(Outcome::Success));
    let client = client(&sim);
    let result = client
        .refund(&refund(RefundKind::Full, "R-1", 80_000, created).transaction_no(no))
        .await
        .unwrap();
    assert_eq!(result.amount, Vnd::new(80_000));
    assert_eq!(result.transaction_type, TransactionType::FullRefund);
    assert_eq!(
        result.transaction_status,
        TransactionStatus::RefundProcessing
    );
    let refund_no = result.transaction_no.unwrap();
    assert_ne!(refund_no, no);

    let after = client.query_dr(&query("R-1", created)).await.unwrap();
    assert_eq!(after.transaction_type, TransactionType::FullRefund);
    assert_eq!(
        after.transaction_status,
        TransactionStatus::RefundProcessing
    );
    assert_eq!(after.transaction_no, Some(refund_no));
}

/// A simulator on a clock the test moves, so refunds leave VNPay's processing (05) when told.
async fn sim_on_manual_clock() -> (SimHandle, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(now()));
    let sim = sim(config(None).with_clock(clock.clone())).await;
    (sim, clock)
}

/// Past the simulator's refund processing time: the last refund has gone to the bank (06).
fn past_processing(sim: &SimHandle) -> time::Duration {
    time::Duration::try_from(sim.config().refund_processing).unwrap() + time::Duration::seconds(1)
}

#[tokio::test]
async fn partial_refunds_add_up_to_the_payment_and_no_further() {
    let (sim, clock) = sim_on_manual_clock().await;
    let (created, _) = paid(&sim, "R-2", 100_000, Some(Outcome::Success));
    let client = client(&sim);
    let first = client
        .refund(&refund(RefundKind::Partial, "R-2", 30_000, created))
        .await
        .unwrap();
    assert_eq!(first.transaction_type, TransactionType::PartialRefund);
    clock.advance(past_processing(&sim));
    let too_much = client
        .refund(&refund(RefundKind::Partial, "R-2", 70_001, created))
        .await
        .unwrap_err();
    assert_eq!(too_much.code(), Some(&RefundResponseCode::InvalidFormat));
    let full_after_partial = client
        .refund(&refund(RefundKind::Full, "R-2", 100_000, created))
        .await
        .unwrap_err();
    assert_eq!(
        full_after_partial.code(),
        Some(&RefundResponseCode::InvalidFormat)
    );
    assert!(
        client
            .refund(&refund(RefundKind::Partial, "R-2", 70_000, created))
            .await
            .is_ok()
    );
    clock.advance(past_processing(&sim));
    let nothing_left = client
        .refund(&refund(RefundKind::Partial, "R-2", 1, created))
        .await
        .unwrap_err();
    assert_eq!(
        nothing_left.code(),
        Some(&RefundResponseCode::InvalidFormat)
    );
    let after = client.query_dr(&query("R-2", created)).await.unwrap();
    assert_eq!(after.transaction_type, TransactionType::PartialRefund);
    assert_eq!(after.amount, Vnd::new(70_000));
    assert_eq!(
        after.transaction_status,
        TransactionStatus::RefundSentToBank
    );
}

#[tokio::test]
async fn a_refund_while_an_earlier_one_is_still_processing_is_94_and_moves_no_money() {
    // Spec §7.4: 94 = "a refund request for this transaction is already being processed".
    let (sim, clock) = sim_on_manual_clock().await;
    let (created, no) = paid(&sim, "R-7", 100_000, Some(Outcome::Success));
    let client = client(&sim);
    let full = refund(RefundKind::Full, "R-7", 100_000, created).transaction_no(no);
    let accepted = client.refund(&full).await.unwrap();
    assert_eq!(
        accepted.transaction_status,
        TransactionStatus::RefundProcessing
    );
    // The same full refund again (a fresh RequestId), and a partial one, while VNPay processes it.
    for again in [
        full.clone(),
        refund(RefundKind::Partial, "R-7", 10_000, created),
    ] {
        let err = client.refund(&again).await.unwrap_err();
        assert_eq!(err.code(), Some(&RefundResponseCode::AlreadyInProgress));
        assert!(matches!(err, ClientError::Rejected(ref r) if !r.authenticated));
    }
    let payment = sim
        .payments()
        .into_iter()
        .find(|p| p.request.txn_ref == "R-7")
        .unwrap();
    assert_eq!(payment.refunds.len(), 1, "one refund registered");

    let (created, _) = paid(&sim, "R-8", 100_000, Some(Outcome::Success));
    assert!(
        client
            .refund(&refund(RefundKind::Partial, "R-8", 30_000, created))
            .await
            .is_ok()
    );
    let err = client
        .refund(&refund(RefundKind::Partial, "R-8", 30_000, created))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&RefundResponseCode::AlreadyInProgress));
    clock.advance(past_processing(&sim));
    assert!(
        client
            .refund(&refund(RefundKind::Partial, "R-8", 30_000, created))
            .await
            .is_ok(),
        "once the first went to the bank"
    );
}

#[tokio::test]
async fn a_refund_request_sent_twice_with_the_same_request_id_is_94() {
    let sim = sim(config(None)).await;
    let (created, no) = paid(&sim, "R-10", 100_000, Some(Outcome::Success));
    let body = refund(RefundKind::Full, "R-10", 100_000, created)
        .transaction_no(no)
        .to_body(&RequestId::random(), &terminal());
    let body = serde_json::to_value(body).unwrap();
    assert_eq!(post_raw(&sim, &body).await["vnp_ResponseCode"], "00");
    assert_eq!(post_raw(&sim, &body).await["vnp_ResponseCode"], "94");
}

#[tokio::test]
async fn refunding_a_payment_that_did_not_succeed_is_95_and_an_unknown_one_91() {
    let sim = sim(config(None)).await;
    let (cancelled, _) = paid(&sim, "R-3", 50_000, Some(Outcome::Cancel));
    let (pending, _) = paid(&sim, "R-4", 50_000, None);
    let client = client(&sim);
    for (txn, created) in [("R-3", cancelled), ("R-4", pending)] {
        let err = client
            .refund(&refund(RefundKind::Full, txn, 50_000, created))
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Some(&RefundResponseCode::OriginalNotSuccessful),
            "{txn}"
        );
    }
    let err = client
        .refund(&refund(RefundKind::Full, "R-5", 50_000, cancelled))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&RefundResponseCode::NotFound));
}

#[tokio::test]
async fn a_refund_naming_another_transaction_no_is_91() {
    let sim = sim(config(None)).await;
    let (created, no) = paid(&sim, "R-6", 50_000, Some(Outcome::Success));
    let err = client(&sim)
        .refund(&refund(RefundKind::Full, "R-6", 50_000, created).transaction_no(no + 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&RefundResponseCode::NotFound));
}

#[tokio::test]
async fn a_refund_refusal_fault_refuses_every_refund_with_its_code_and_moves_no_money() {
    let sim = sim(config(None)).await;
    let (created, no) = paid(&sim, "R-9", 80_000, Some(Outcome::Success));
    sim.set_faults(vnpay_sim::Faults {
        refund_refused_with: Some("95".to_owned()),
        ..vnpay_sim::Faults::default()
    })
    .unwrap();
    let client = client(&sim);
    let request = refund(RefundKind::Full, "R-9", 80_000, created).transaction_no(no);
    for _ in 0..2 {
        let refused = client.refund(&request).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Some(&RefundResponseCode::OriginalNotSuccessful)
        );
    }
    // Nothing was refunded: with the fault gone the whole payment can be.
    sim.set_faults(vnpay_sim::Faults::default()).unwrap();
    assert!(client.refund(&request).await.is_ok());
    for code in ["00", "42"] {
        let refused = sim.set_faults(vnpay_sim::Faults {
            refund_refused_with: Some(code.to_owned()),
            ..vnpay_sim::Faults::default()
        });
        assert!(refused.is_err(), "{code} is not a refund failure");
    }
}
