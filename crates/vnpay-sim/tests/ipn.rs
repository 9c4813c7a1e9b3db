//! IPN delivery and its retry policy against a scripted merchant over loopback HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use vnpay::{Callback, HashSecret};
use vnpay_sim::{AttemptResult, Outcome};

async fn pay_and_wait(script: Vec<Answer>, then: Answer) -> (Merchant, vnpay_sim::SimHandle) {
    let (merchant, ipn_url) = Merchant::start(script, then).await;
    let sim = sim(config(Some(ipn_url))).await;
    sim.pay(&pay_url(&sim, "IPN-1", 50_000), Outcome::Success)
        .unwrap();
    sim.ipn_idle().await;
    (merchant, sim)
}

#[tokio::test]
async fn the_ipn_is_retried_until_the_merchant_confirms_with_00() {
    let (merchant, sim) = pay_and_wait(
        vec![Answer::Rsp("99"), Answer::Rsp("99")],
        Answer::Rsp("00"),
    )
    .await;
    assert_eq!(merchant.received().len(), 3);
    let delivery = &sim.ipn_deliveries()[0];
    assert_eq!(delivery.attempts.len(), 3);
    assert!(delivery.acknowledged() && delivery.finished);
    let calls = merchant.received();
    assert!(
        calls.windows(2).all(|w| w[0] == w[1]),
        "every retry sends the same signed query"
    );
    assert!(Callback::verify(&calls[0], &HashSecret::new(SECRET)).is_ok());
}

#[tokio::test]
async fn the_ipn_stops_when_the_merchant_says_already_confirmed_02() {
    let (merchant, sim) = pay_and_wait(vec![], Answer::Rsp("02")).await;
    assert_eq!(merchant.received().len(), 1);
    assert!(sim.ipn_deliveries()[0].acknowledged());
}

#[tokio::test]
async fn the_ipn_gives_up_after_ten_calls_in_total() {
    let (merchant, sim) = pay_and_wait(vec![], Answer::Rsp("99")).await;
    assert_eq!(merchant.received().len(), 10);
    let delivery = &sim.ipn_deliveries()[0];
    assert!(delivery.finished && !delivery.acknowledged());
}

#[tokio::test]
async fn codes_01_04_and_97_are_retried_like_99() {
    let (merchant, _) = pay_and_wait(
        vec![Answer::Rsp("01"), Answer::Rsp("04"), Answer::Rsp("97")],
        Answer::Rsp("00"),
    )
    .await;
    assert_eq!(merchant.received().len(), 4);
}

#[tokio::test]
async fn non_200_non_json_and_replies_without_rsp_code_are_retried() {
    let (merchant, sim) = pay_and_wait(
        vec![
            Answer::Status(500),
            Answer::Body("OK"),
            Answer::Body(r#"{"status":"ok"}"#),
        ],
        Answer::Rsp("00"),
    )
    .await;
    assert_eq!(merchant.received().len(), 4);
    let attempts = &sim.ipn_deliveries()[0].attempts;
    assert!(matches!(
        attempts[0],
        AttemptResult::Answered { status: 500, .. }
    ));
    assert!(matches!(
        attempts[1],
        AttemptResult::Answered {
            status: 200,
            rsp_code: None,
            ..
        }
    ));
}

#[tokio::test]
async fn a_merchant_slower_than_the_ipn_timeout_is_called_again() {
    let (merchant, sim) = pay_and_wait(
        vec![Answer::Sleep(Duration::from_millis(800), "00")],
        Answer::Rsp("00"),
    )
    .await;
    assert_eq!(merchant.received().len(), 2);
    let attempts = &sim.ipn_deliveries()[0].attempts;
    assert!(
        matches!(attempts[0], AttemptResult::Failed { .. }),
        "{attempts:?}"
    );
}

#[tokio::test]
async fn failed_payments_are_notified_too() {
    let (merchant, ipn_url) = Merchant::start(vec![], Answer::Rsp("00")).await;
    let sim = sim(config(Some(ipn_url))).await;
    sim.pay(&pay_url(&sim, "IPN-2", 50_000), Outcome::Cancel)
        .unwrap();
    sim.ipn_idle().await;
    let cb = Callback::verify(&merchant.received()[0], &HashSecret::new(SECRET)).unwrap();
    assert_eq!(cb.response_code.as_str(), "24");
}

#[tokio::test]
async fn an_unreachable_ipn_url_is_retried_and_recorded_as_failed_calls() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}/ipn", listener.local_addr().unwrap());
    drop(listener);
    let sim = sim(config(Some(dead)).with_ipn_max_calls(3)).await;
    sim.pay(&pay_url(&sim, "IPN-3", 50_000), Outcome::Success)
        .unwrap();
    sim.ipn_idle().await;
    let attempts = &sim.ipn_deliveries()[0].attempts;
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts
            .iter()
            .all(|a| matches!(a, AttemptResult::Failed { .. }))
    );
}
