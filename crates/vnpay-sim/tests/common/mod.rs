//! Test support: a simulator on port 0, a scripted merchant that records IPNs, and signed
//! payment URLs built with the `vnpay` crate.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use time::OffsetDateTime;
use vnpay::{
    ClientConfig, HashSecret, OrderInfo, PayAmount, PayRequest, ReturnUrl, Terminal, TmnCode,
    TxnRef, Vnd, VnpayClient,
};
use vnpay_sim::{SimConfig, SimHandle, SimServer};

pub const TMN: &str = "FLASHGT1";
pub const SECRET: &str = "sim-test-secret";

pub fn terminal() -> Terminal {
    Terminal::new(TmnCode::parse(TMN).unwrap(), HashSecret::new(SECRET))
}

/// How the merchant answers one IPN call.
#[derive(Debug, Clone)]
pub enum Answer {
    Rsp(&'static str),
    Status(u16),
    Body(&'static str),
    Sleep(Duration, &'static str),
}

#[derive(Clone, Default)]
pub struct Merchant {
    pub received: Arc<Mutex<Vec<String>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
    default: Arc<Mutex<Option<Answer>>>,
}

impl Merchant {
    /// Answers in `script` order, then `then` forever.
    pub async fn start(script: Vec<Answer>, then: Answer) -> (Self, String) {
        let merchant = Merchant {
            received: Arc::default(),
            script: Arc::new(Mutex::new(script.into())),
            default: Arc::new(Mutex::new(Some(then))),
        };
        let app = Router::new()
            .route("/vnpay/ipn", get(ipn))
            .with_state(merchant.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (merchant, format!("http://{addr}/vnpay/ipn"))
    }

    pub fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

async fn ipn(State(m): State<Merchant>, RawQuery(q): RawQuery) -> Response {
    m.received.lock().unwrap().push(q.unwrap_or_default());
    let answer = m
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| m.default.lock().unwrap().clone().unwrap());
    match answer {
        Answer::Rsp(code) => {
            axum::Json(serde_json::json!({"RspCode": code, "Message": "ok"})).into_response()
        }
        Answer::Status(s) => StatusCode::from_u16(s).unwrap().into_response(),
        Answer::Body(b) => b.into_response(),
        Answer::Sleep(d, code) => {
            tokio::time::sleep(d).await;
            axum::Json(serde_json::json!({"RspCode": code, "Message": "late"})).into_response()
        }
    }
}

/// Test defaults: millisecond retries, short IPN timeout, no querydr rate limit.
pub fn config(ipn_url: Option<String>) -> SimConfig {
    SimConfig::default()
        .terminal(TMN, SECRET, ipn_url)
        .with_ipn_retry_interval(Duration::from_millis(20))
        .with_ipn_timeout(Duration::from_millis(300))
        .with_querydr_min_interval(Duration::ZERO)
}

pub async fn sim(config: SimConfig) -> SimHandle {
    SimServer::spawn(config).await.unwrap()
}

pub fn pay_request(txn_ref: &str, amount: u64, created_at: OffsetDateTime) -> PayRequest {
    pay_request_to(
        txn_ref,
        amount,
        created_at,
        "https://shop.example/vnpay/return",
    )
}

pub fn pay_request_to(
    txn_ref: &str,
    amount: u64,
    created_at: OffsetDateTime,
    return_url: &str,
) -> PayRequest {
    PayRequest::new(
        TxnRef::parse(txn_ref).unwrap(),
        PayAmount::parse(Vnd::new(amount)).unwrap(),
        OrderInfo::parse(format!("Thanh toan don hang {txn_ref}")).unwrap(),
        ReturnUrl::parse(return_url).unwrap(),
        "203.0.113.7".parse().unwrap(),
        created_at,
    )
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub fn pay_url(sim: &SimHandle, txn_ref: &str, amount: u64) -> String {
    pay_request(txn_ref, amount, now()).to_url(&sim.pay_page_url(), &terminal())
}

pub fn client(sim: &SimHandle) -> VnpayClient {
    let mut config = ClientConfig::new(sim.api_url(), terminal());
    config.timeout = Duration::from_secs(2);
    VnpayClient::new(config).unwrap()
}

/// An HTTP client that does not follow redirects, like a test looking at the 302 itself.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn query_of(url: &str) -> &str {
    url.split_once('?').map(|(_, q)| q).unwrap()
}
