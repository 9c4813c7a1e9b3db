//! The querydr/refund client against a scripted gateway over loopback HTTP, and over HTTPS with a
//! private CA (`tls`).

// Helpers outside #[test] functions are test code too: failing loudly is what they should do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod tls;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use time::macros::datetime;
use vnpay::{
    ClientConfig, ClientError, HashSecret, NoAnswer, OrderInfo, QueryDrRequest, QueryDrRequestBody,
    QueryDrResponseBody, QueryDrResponseCode, RefundKind, RefundRequest, RefundRequestBody,
    RefundResponseBody, SignedBody, Terminal, TmnCode, TransactionStatus, TransactionType, TxnRef,
    Vnd, VnpDateTime, VnpayClient,
};

#[derive(Clone, Copy)]
enum Script {
    Success,
    SuccessForOtherTxnRef,
    SuccessWithWrongHash,
    Rejected94,
    NotJson,
    Unavailable,
    Slow,
}

#[derive(Clone)]
struct Gateway {
    script: Script,
    secret: HashSecret,
    seen: Arc<Mutex<Vec<serde_json::Value>>>,
}

fn terminal() -> Terminal {
    Terminal::new(
        TmnCode::parse("TEST0001").unwrap(),
        HashSecret::new("client-test-secret"),
    )
}

async fn handle(State(gw): State<Gateway>, Json(body): Json<serde_json::Value>) -> Response {
    gw.seen.lock().unwrap().push(body.clone());
    let command = body["vnp_Command"].as_str().unwrap_or_default().to_owned();
    let txn_ref = match gw.script {
        Script::SuccessForOtherTxnRef => "someone-else".to_owned(),
        _ => body["vnp_TxnRef"].as_str().unwrap_or_default().to_owned(),
    };
    match gw.script {
        Script::Rejected94 => {
            return Json(serde_json::json!({
                "vnp_ResponseId": "r", "vnp_Command": command,
                "vnp_ResponseCode": "94", "vnp_Message": "Duplicate request"
            }))
            .into_response();
        }
        Script::NotJson => return "<html>maintenance</html>".into_response(),
        Script::Unavailable => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Script::Slow => tokio::time::sleep(Duration::from_secs(5)).await,
        _ => {}
    }
    let mut reply = if command == "refund" {
        let req: RefundRequestBody = serde_json::from_value(body).unwrap();
        assert!(req.signature_matches(&gw.secret), "refund request checksum");
        serde_json::to_value(
            RefundResponseBody {
                response_id: Some("fa14474280ea49b9b5987308e35ccb06".into()),
                command: Some("refund".into()),
                response_code: Some("00".into()),
                message: Some("Refund success".into()),
                tmn_code: req.tmn_code,
                txn_ref: Some(txn_ref),
                amount: req.amount,
                order_info: req.order_info,
                bank_code: Some("NCB".into()),
                pay_date: Some("20250308184331".into()),
                transaction_no: Some("14836054".into()),
                transaction_type: req.transaction_type,
                transaction_status: Some("05".into()),
                secure_hash: None,
            }
            .signed(&gw.secret),
        )
        .unwrap()
    } else {
        let req: QueryDrRequestBody = serde_json::from_value(body).unwrap();
        assert!(
            req.signature_matches(&gw.secret),
            "querydr request checksum"
        );
        serde_json::to_value(
            QueryDrResponseBody {
                response_id: Some("282a3735".into()),
                command: Some("querydr".into()),
                response_code: Some("00".into()),
                message: Some("QueryDR Success".into()),
                tmn_code: req.tmn_code,
                txn_ref: Some(txn_ref),
                amount: Some("1000000".into()),
                order_info: Some("Thanh toan don hang".into()),
                bank_code: Some("NCB".into()),
                pay_date: Some("20250308183518".into()),
                transaction_no: Some("14836051".into()),
                transaction_type: Some("01".into()),
                transaction_status: Some("00".into()),
                ..Default::default()
            }
            .signed(&gw.secret),
        )
        .unwrap()
    };
    if let Script::SuccessWithWrongHash = gw.script {
        reply["vnp_Amount"] = serde_json::json!("99900");
    }
    Json(reply).into_response()
}

type Seen = Arc<Mutex<Vec<serde_json::Value>>>;

/// The scripted gateway's routes, and what it was sent.
fn gateway_app(script: Script) -> (Router, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Gateway {
        script,
        secret: terminal().secret,
        seen: seen.clone(),
    };
    let app = Router::new()
        .route("/merchant_webapi/api/transaction", post(handle))
        .with_state(state);
    (app, seen)
}

async fn gateway(script: Script) -> (String, Seen) {
    let (app, seen) = gateway_app(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (
        format!("http://{addr}/merchant_webapi/api/transaction"),
        seen,
    )
}

fn client(url: String) -> VnpayClient {
    let mut config = ClientConfig::new(url, terminal());
    config.timeout = Duration::from_millis(500);
    VnpayClient::new(config).unwrap()
}

fn query() -> QueryDrRequest {
    QueryDrRequest::new(
        TxnRef::parse("ORDER-1").unwrap(),
        VnpDateTime::parse("20250308183000").unwrap(),
        OrderInfo::parse("Kiem tra don ORDER-1").unwrap(),
        "127.0.0.1".parse().unwrap(),
        datetime!(2025-03-08 12:00:00 UTC),
    )
}

#[tokio::test]
async fn a_signed_success_reply_becomes_a_verified_result() {
    let (url, seen) = gateway(Script::Success).await;
    let result = client(url).query_dr(&query()).await.unwrap();
    assert_eq!(result.amount, Vnd::new(10_000));
    assert_eq!(result.transaction_status, TransactionStatus::Success);
    let body = &seen.lock().unwrap()[0];
    assert_eq!(body["vnp_TransactionDate"], "20250308183000");
    assert_eq!(body["vnp_CreateDate"], "20250308190000");
}

#[tokio::test]
async fn every_call_uses_a_fresh_32_hex_request_id() {
    let (url, seen) = gateway(Script::Success).await;
    let client = client(url);
    client.query_dr(&query()).await.unwrap();
    client.query_dr(&query()).await.unwrap();
    let ids: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["vnp_RequestId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert!(
        ids.iter()
            .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    );
}

fn refund_request() -> RefundRequest {
    RefundRequest::new(
        RefundKind::Partial,
        TxnRef::parse("ORDER-1").unwrap(),
        Vnd::new(4_000),
        VnpDateTime::parse("20250308183000").unwrap(),
        "ops",
        OrderInfo::parse("Hoan tien ORDER-1").unwrap(),
        "127.0.0.1".parse().unwrap(),
        datetime!(2025-03-08 12:00:00 UTC),
    )
    .unwrap()
    .transaction_no(14_836_051)
}

#[tokio::test]
async fn a_refund_reply_is_verified_and_typed() {
    let (url, _) = gateway(Script::Success).await;
    let result = client(url).refund(&refund_request()).await.unwrap();
    assert_eq!(result.amount, Vnd::new(4_000));
    assert_eq!(result.transaction_type, TransactionType::PartialRefund);
    assert_eq!(
        result.transaction_status,
        TransactionStatus::RefundProcessing
    );
}

#[tokio::test]
async fn a_coded_error_reply_is_reported_as_the_gateways_answer() {
    let (url, _) = gateway(Script::Rejected94).await;
    let err = client(url).query_dr(&query()).await.unwrap_err();
    assert_eq!(err.code(), Some(&QueryDrResponseCode::DuplicateRequest));
    assert!(matches!(err, ClientError::Rejected(ref r) if !r.authenticated));
}

#[tokio::test]
async fn a_success_reply_with_a_wrong_checksum_is_no_usable_answer() {
    let (url, _) = gateway(Script::SuccessWithWrongHash).await;
    let err = client(url).query_dr(&query()).await.unwrap_err();
    assert!(
        matches!(err, ClientError::NoAnswer(NoAnswer::Untrusted(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_signed_reply_about_another_transaction_is_no_usable_answer() {
    let (url, _) = gateway(Script::SuccessForOtherTxnRef).await;
    let err = client(url).query_dr(&query()).await.unwrap_err();
    assert!(
        matches!(err, ClientError::NoAnswer(NoAnswer::Untrusted(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_html_page_instead_of_json_is_no_usable_answer() {
    let (url, _) = gateway(Script::NotJson).await;
    let err = client(url).query_dr(&query()).await.unwrap_err();
    assert!(
        matches!(err, ClientError::NoAnswer(NoAnswer::NotJson(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_http_503_is_no_usable_answer() {
    let (url, _) = gateway(Script::Unavailable).await;
    let err = client(url).query_dr(&query()).await.unwrap_err();
    assert_eq!(err, ClientError::NoAnswer(NoAnswer::HttpStatus(503)));
}

#[tokio::test]
async fn a_slow_gateway_times_out() {
    let (url, _) = gateway(Script::Slow).await;
    let err = client(url).query_dr(&query()).await.unwrap_err();
    assert_eq!(err, ClientError::NoAnswer(NoAnswer::Timeout));
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = client(format!("http://{addr}/x"))
        .query_dr(&query())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::NoAnswer(NoAnswer::Connect(_))),
        "{err:?}"
    );
}
