//! `vnp_ExpireDate` as the gateway enforces it (spec §2.2, §2.3, §7): a page opened too late is the
//! timeout page (code 15), a payment finished too late ends timed out, and dates made in the wrong
//! zone are already too late. Time is the simulator's clock (moved by the clock-skew fault).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use reqwest::header::LOCATION;
use time::{Duration, OffsetDateTime};
use vnpay::{
    Callback, DEFAULT_EXPIRY, HashSecret, OrderInfo, QueryDrRequest, ResponseCode,
    TransactionStatus, TxnRef, VnpDateTime,
};
use vnpay_sim::{Clock, Faults, ManualClock, Outcome, PageError, SimHandle};

/// A simulator on a clock the test moves, starting now, whose IPNs go to `ipn_url`.
async fn on_manual_clock(ipn_url: Option<String>) -> (SimHandle, Arc<ManualClock>, OffsetDateTime) {
    let start = now();
    let clock = Arc::new(ManualClock::new(start));
    let sim = sim(config(ipn_url).with_clock(clock.clone())).await;
    (sim, clock, start)
}

/// A signed payment URL created at `created` and expiring 15 minutes later.
fn expiring_url(sim: &SimHandle, txn_ref: &str, created: OffsetDateTime) -> String {
    pay_request(txn_ref, 50_000, created)
        .expire_after(DEFAULT_EXPIRY)
        .unwrap()
        .to_url(&sim.pay_page_url(), &terminal())
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()[LOCATION].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_page_opened_after_its_expire_date_is_the_timeout_page_code_15_and_nothing_is_recorded() {
    let (merchant, ipn_url) = Merchant::start(vec![], Answer::Rsp("00")).await;
    let (sim, clock, start) = on_manual_clock(Some(ipn_url)).await;
    let url = expiring_url(&sim, "EXP-1", start);
    clock.advance(Duration::minutes(15) + Duration::seconds(1));

    let resp = browser().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    assert!(
        location(&resp).ends_with("/paymentv2/Payment/Error.html?code=15"),
        "{}",
        location(&resp)
    );
    let page = browser().get(location(&resp)).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("timed out"));
    assert!(matches!(
        sim.begin_payment(&url),
        Err(PageError::SessionTimeout { .. })
    ));
    assert!(sim.payments().is_empty(), "nothing recorded");
    sim.ipn_idle().await;
    assert!(merchant.received().is_empty(), "no IPN");
}

#[tokio::test]
async fn the_second_of_the_expire_date_is_still_in_time() {
    let (sim, clock, start) = on_manual_clock(None).await;
    let start = VnpDateTime::from_instant(start).instant();
    clock.set(start);
    let url = expiring_url(&sim, "EXP-2", start);
    clock.advance(Duration::minutes(15) + Duration::milliseconds(999));
    let done = sim.pay(&url, Outcome::Success).unwrap();
    assert_eq!(done.response_code, "00");
}

#[tokio::test]
async fn dates_made_in_utc_instead_of_gmt7_are_already_timed_out() {
    // A server running in UTC formats its wall clock as if it were GMT+7: every date is 7 hours
    // early, and the gateway reports the transaction as already timed out (spec §2.2).
    let sim = sim(config(None)).await;
    let utc_wall_clock_read_as_gmt7 = now() - Duration::hours(7);
    let url = expiring_url(&sim, "EXP-3", utc_wall_clock_read_as_gmt7);
    let resp = browser().get(&url).send().await.unwrap();
    assert!(location(&resp).ends_with("Error.html?code=15"));
    // The same without vnp_ExpireDate: the gateway's 15-minute session from CreateDate.
    let url = pay_request("EXP-4", 50_000, utc_wall_clock_read_as_gmt7)
        .to_url(&sim.pay_page_url(), &terminal());
    assert_eq!(sim.begin_payment(&url).map_err(|e| e.code()), Err("15"));
    assert!(sim.payments().is_empty());
}

#[tokio::test]
async fn without_an_expire_date_the_request_expires_15_minutes_after_its_create_date() {
    let (sim, clock, start) = on_manual_clock(None).await;
    let url = pay_request("EXP-5", 50_000, start).to_url(&sim.pay_page_url(), &terminal());
    let late = pay_request("EXP-6", 50_000, start).to_url(&sim.pay_page_url(), &terminal());
    clock.advance(Duration::minutes(14));
    assert!(sim.begin_payment(&url).is_ok());
    clock.advance(Duration::minutes(2));
    assert_eq!(sim.begin_payment(&late).map_err(|e| e.code()), Err("15"));
}

#[tokio::test]
async fn a_payment_finished_after_its_expire_date_ends_timed_out_on_both_callbacks_and_in_querydr()
{
    let (merchant, ipn_url) = Merchant::start(vec![], Answer::Rsp("00")).await;
    let (sim, clock, start) = on_manual_clock(Some(ipn_url)).await;
    let url = expiring_url(&sim, "EXP-7", start);
    let id = sim.begin_payment(&url).unwrap();
    clock.advance(Duration::minutes(16));

    let done = sim.complete(id, Outcome::Success).unwrap();
    assert_eq!(done.response_code, "11", "payment window expired");
    assert_eq!(done.transaction_no, 0);
    let cb = Callback::verify(query_of(&done.return_url), &HashSecret::new(SECRET)).unwrap();
    assert_eq!(cb.response_code, ResponseCode::PaymentWindowExpired);
    assert_eq!(cb.transaction_status, TransactionStatus::Failed);
    assert_eq!(cb.transaction_no, 0);
    assert!(cb.bank_tran_no.is_none());
    assert!(!cb.is_paid());
    sim.ipn_idle().await;
    assert_eq!(merchant.received(), vec![done.callback_query.clone()]);

    let query = QueryDrRequest::new(
        TxnRef::parse("EXP-7").unwrap(),
        VnpDateTime::from_instant(start),
        OrderInfo::parse("Kiem tra don EXP-7").unwrap(),
        "127.0.0.1".parse().unwrap(),
        clock.now(),
    );
    let result = client(&sim).query_dr(&query).await.unwrap();
    assert_eq!(result.transaction_status, TransactionStatus::TimedOut);
    assert!(sim.payments()[0].refunds.is_empty() && !sim.payments()[0].is_paid());
}

#[tokio::test]
async fn sim_pay_after_the_expire_date_is_refused_with_the_timeout_page() {
    let (sim, clock, start) = on_manual_clock(None).await;
    let url = expiring_url(&sim, "EXP-8", start);
    clock.advance(Duration::hours(2));
    let resp = reqwest::Client::new()
        .post(format!("{}/sim/pay", sim.config().base_url))
        .json(&serde_json::json!({"url": url, "outcome": "success"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error_code"], "15");
    assert!(
        body["redirect"]
            .as_str()
            .unwrap()
            .ends_with("Error.html?code=15")
    );
    assert!(sim.payments().is_empty());
}

#[tokio::test]
async fn a_gateway_clock_behind_the_merchants_still_takes_a_payment_the_merchant_thinks_late() {
    let (sim, clock, start) = on_manual_clock(None).await;
    sim.set_faults(Faults {
        clock_skew_ms: -3 * 60 * 1000,
        ..Faults::default()
    })
    .unwrap();
    let url = expiring_url(&sim, "EXP-9", start);
    clock.advance(Duration::minutes(17));
    assert_eq!(sim.now(), clock.now() - Duration::minutes(3));
    let done = sim.pay(&url, Outcome::Success).unwrap();
    assert_eq!(
        done.response_code, "00",
        "14 minutes in, by the gateway's clock"
    );
    let cb = Callback::verify(query_of(&done.return_url), &HashSecret::new(SECRET)).unwrap();
    assert_eq!(
        cb.pay_date,
        Some(VnpDateTime::from_instant(
            clock.now() - Duration::minutes(3)
        ))
    );

    let ahead = Faults {
        clock_skew_ms: 2 * 60 * 1000,
        ..Faults::default()
    };
    sim.set_faults(ahead).unwrap();
    let url = expiring_url(&sim, "EXP-10", clock.now() - Duration::minutes(14));
    assert_eq!(sim.begin_payment(&url).map_err(|e| e.code()), Err("15"));
    for skew in [86_400_001, -86_400_001] {
        assert!(
            sim.set_faults(Faults {
                clock_skew_ms: skew,
                ..Faults::default()
            })
            .is_err()
        );
    }
}
