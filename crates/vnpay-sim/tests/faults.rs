//! Fault injection: IPNs dropped, duplicated, delayed, reordered or failing; API slow or down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use vnpay::{ClientError, NoAnswer, OrderInfo, QueryDrRequest, TxnRef, VnpDateTime};
use vnpay_sim::{ApiOutage, AttemptResult, Faults, Outcome};

#[tokio::test]
async fn dropping_all_ipns_means_the_merchant_never_hears() {
    let (merchant, ipn_url) = Merchant::start(vec![], Answer::Rsp("00")).await;
    let faults = Faults {
        ipn_drop_rate: 1.0,
        ..Faults::default()
    };
    let sim = sim(config(Some(ipn_url)).with_faults(faults)).await;
    for i in 0..3 {
        sim.pay(
            &pay_url(&sim, &format!("DROP-{i}"), 50_000),
            Outcome::Success,
        )
        .unwrap();
    }
    sim.ipn_idle().await;
    assert!(merchant.received().is_empty());
    assert!(
        sim.ipn_deliveries()
            .iter()
            .all(|d| d.dropped && d.attempts.is_empty())
    );
}

#[tokio::test]
async fn partial_drops_follow_the_seed_so_runs_repeat() {
    let pattern = |seed| async move {
        let (_, ipn_url) = Merchant::start(vec![], Answer::Rsp("00")).await;
        let faults = Faults {
            ipn_drop_rate: 0.5,
            ..Faults::default()
        };
        let sim = sim(config(Some(ipn_url)).with_faults(faults).with_seed(seed)).await;
        for i in 0..16 {
            sim.pay(
                &pay_url(&sim, &format!("SEED-{i}"), 50_000),
                Outcome::Success,
            )
            .unwrap();
        }
        sim.ipn_idle().await;
        sim.ipn_deliveries()
            .iter()
            .map(|d| d.dropped)
            .collect::<Vec<_>>()
    };
    let a = pattern(7).await;
    assert_eq!(a, pattern(7).await);
    assert!(a.contains(&true) && a.contains(&false), "{a:?}");
}

#[tokio::test]
async fn a_duplicated_ipn_reaches_the_merchant_twice_with_the_same_query() {
    let (merchant, ipn_url) = Merchant::start(vec![], Answer::Rsp("00")).await;
    let faults = Faults {
        ipn_duplicate_rate: 1.0,
        ..Faults::default()
    };
    let sim = sim(config(Some(ipn_url)).with_faults(faults)).await;
    sim.pay(&pay_url(&sim, "DUP-1", 50_000), Outcome::Success)
        .unwrap();
    sim.ipn_idle().await;
    let got = merchant.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], got[1]);
    assert_eq!(sim.ipn_deliveries()[1].duplicate_of, Some(1));
}

#[tokio::test]
async fn the_first_n_calls_fail_as_network_errors_and_are_retried() {
    let (merchant, ipn_url) = Merchant::start(vec![], Answer::Rsp("00")).await;
    let faults = Faults {
        ipn_fail_first: 2,
        ..Faults::default()
    };
    let sim = sim(config(Some(ipn_url)).with_faults(faults)).await;
    sim.pay(&pay_url(&sim, "FAIL-1", 50_000), Outcome::Success)
        .unwrap();
    sim.ipn_idle().await;
    assert_eq!(merchant.received().len(), 1);
    let attempts = &sim.ipn_deliveries()[0].attempts;
    assert_eq!(attempts.len(), 3);
    assert_eq!(
        attempts[..2],
        [AttemptResult::Injected, AttemptResult::Injected]
    );
    assert_eq!(sim.faults().ipn_fail_first, 0);
}

#[tokio::test]
async fn a_delayed_ipn_arrives_only_after_the_delay() {
    let (merchant, ipn_url) = Merchant::start(vec![], Answer::Rsp("00")).await;
    let sim = sim(config(Some(ipn_url))).await;
    sim.set_faults(Faults {
        ipn_delay_ms: 400,
        ..Faults::default()
    })
    .unwrap();
    sim.pay(&pay_url(&sim, "LATE-1", 50_000), Outcome::Success)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(merchant.received().is_empty());
    sim.ipn_idle().await;
    assert_eq!(merchant.received().len(), 1);
}

#[tokio::test]
async fn reordered_ipns_are_held_back_and_delivered_newest_first() {
    let (merchant, ipn_url) = Merchant::start(vec![], Answer::Rsp("00")).await;
    let faults = Faults {
        ipn_reorder_window: 3,
        ..Faults::default()
    };
    let sim = sim(config(Some(ipn_url)).with_faults(faults)).await;
    for i in 1..=3 {
        sim.pay(
            &pay_url(&sim, &format!("ORD-{i}"), 50_000),
            Outcome::Success,
        )
        .unwrap();
    }
    sim.ipn_idle().await;
    let refs: Vec<String> = merchant
        .received()
        .iter()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "vnp_TxnRef")
                .unwrap()
                .1
                .into_owned()
        })
        .collect();
    assert_eq!(refs.len(), 3);
    assert_eq!(refs, ["ORD-3", "ORD-2", "ORD-1"]);
}

#[tokio::test]
async fn a_lone_held_back_ipn_is_released_after_the_maximum_hold() {
    let (merchant, ipn_url) = Merchant::start(vec![], Answer::Rsp("00")).await;
    let faults = Faults {
        ipn_reorder_window: 5,
        ipn_reorder_max_hold_ms: 100,
        ..Faults::default()
    };
    let sim = sim(config(Some(ipn_url)).with_faults(faults)).await;
    sim.pay(&pay_url(&sim, "HOLD-1", 50_000), Outcome::Success)
        .unwrap();
    sim.ipn_idle().await;
    assert_eq!(merchant.received().len(), 1);
}

#[tokio::test]
async fn faults_are_read_and_replaced_over_http_and_bad_rates_refused() {
    let sim = sim(config(None)).await;
    let http = reqwest::Client::new();
    let url = format!("{}/sim/faults", sim.config().base_url);
    let body =
        serde_json::json!({"ipn_drop_rate": 0.25, "api_outage": "http503", "api_delay_ms": 5});
    let resp = http.put(&url).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let read: Faults = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(read.ipn_drop_rate, 0.25);
    assert_eq!(read.api_outage, Some(ApiOutage::Http503));
    assert_eq!(sim.faults(), read);
    let bad = http
        .put(&url)
        .json(&serde_json::json!({"ipn_drop_rate": 1.5}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert_eq!(sim.faults(), read);
}

fn query(txn_ref: &str) -> QueryDrRequest {
    QueryDrRequest::new(
        TxnRef::parse(txn_ref).unwrap(),
        VnpDateTime::from_instant(now()),
        OrderInfo::parse("Kiem tra").unwrap(),
        "127.0.0.1".parse().unwrap(),
        now(),
    )
}

#[tokio::test]
async fn an_api_outage_is_no_answer_for_the_client_not_a_gateway_code() {
    let sim = sim(config(None)).await;
    let client = client(&sim);
    sim.set_faults(Faults {
        api_outage: Some(ApiOutage::Http503),
        ..Faults::default()
    })
    .unwrap();
    let err = client.query_dr(&query("X")).await.unwrap_err();
    assert_eq!(err, ClientError::NoAnswer(NoAnswer::HttpStatus(503)));
    sim.set_faults(Faults {
        api_outage: Some(ApiOutage::ConnectionReset),
        ..Faults::default()
    })
    .unwrap();
    let err = client.query_dr(&query("X")).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::NoAnswer(NoAnswer::Transport(_) | NoAnswer::Connect(_))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_slow_api_makes_the_client_time_out() {
    let sim = sim(config(None)).await;
    sim.set_faults(Faults {
        api_delay_ms: 3_000,
        ..Faults::default()
    })
    .unwrap();
    let err = client(&sim).query_dr(&query("X")).await.unwrap_err();
    assert_eq!(err, ClientError::NoAnswer(NoAnswer::Timeout));
}
