//! The payment page over real HTTP: validation, the page, completion and the Return redirect.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::header::LOCATION;
use vnpay::{Callback, HashSecret, ResponseCode, SignedQuery, TransactionStatus, Vnd};
use vnpay_sim::{Outcome, PageError};

fn location(resp: &reqwest::Response) -> String {
    resp.headers()[LOCATION].to_str().unwrap().to_owned()
}

fn hidden_id(html: &str) -> String {
    let start = html.find(r#"name="id" value=""#).unwrap() + r#"name="id" value=""#.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_buyer_pays_on_the_page_and_is_sent_back_with_a_verifiable_callback_and_an_ipn() {
    let (merchant, ipn_url) = Merchant::start(vec![], Answer::Rsp("00")).await;
    let sim = sim(config(Some(ipn_url))).await;
    let browser = browser();

    let page = browser
        .get(pay_url(&sim, "ORDER-1", 150_000))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("ORDER-1"));
    assert!(html.contains("150,000 VND"));
    assert!(html.contains("Thanh toan don hang ORDER-1"));
    for outcome in ["success", "cancel", "insufficient_funds", "timeout"] {
        assert!(
            html.contains(&format!(r#"value="{outcome}""#)),
            "{outcome} button"
        );
    }

    let done = browser
        .post(format!("{}/paymentv2/complete", sim.config().base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("id={}&outcome=success", hidden_id(&html)))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 302);
    let back = location(&done);
    assert!(back.starts_with("https://shop.example/vnpay/return?vnp_Amount=15000000&"));

    let cb = Callback::verify(query_of(&back), &HashSecret::new(SECRET)).unwrap();
    assert!(cb.is_paid());
    assert_eq!(cb.amount, Vnd::new(150_000));
    assert_eq!(cb.txn_ref.as_str(), "ORDER-1");
    assert_eq!(cb.transaction_no.to_string().len(), 8);
    assert_eq!(cb.bank_tran_no, Some(format!("VNP{}", cb.transaction_no)));
    assert!(cb.pay_date.is_some());
    assert!(!back.contains("SecureHashType"));

    sim.ipn_idle().await;
    let ipns = merchant.received();
    assert_eq!(ipns.len(), 1);
    assert_eq!(Callback::verify(&ipns[0], &HashSecret::new(SECRET)), Ok(cb));
    assert_eq!(ipns[0], query_of(&back));
}

#[tokio::test]
async fn a_request_with_a_bad_signature_is_sent_to_the_error_page_with_code_70() {
    let sim = sim(config(None)).await;
    let url = pay_url(&sim, "ORDER-2", 50_000).replace("vnp_Amount=5000000", "vnp_Amount=100000");
    let resp = browser().get(url).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let to = location(&resp);
    assert_eq!(
        to,
        format!(
            "{}/paymentv2/Payment/Error.html?code=70",
            sim.config().base_url
        )
    );
    let page = browser()
        .get(to)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("70") && page.contains("signature"));
}

#[tokio::test]
async fn a_request_signed_with_another_secret_is_refused_with_code_70() {
    let sim = sim(config(None)).await;
    let other = vnpay::Terminal::new(
        vnpay::TmnCode::parse(TMN).unwrap(),
        HashSecret::new("wrong"),
    );
    let url = pay_request("ORDER-3", 50_000, now()).to_url(&sim.pay_page_url(), &other);
    assert_eq!(sim.begin_payment(&url), Err(PageError::InvalidSignature));
}

#[tokio::test]
async fn an_unknown_terminal_is_refused_with_code_02() {
    let sim = sim(config(None)).await;
    let stranger = vnpay::Terminal::new(
        vnpay::TmnCode::parse("STRANGER").unwrap(),
        HashSecret::new(SECRET),
    );
    let url = pay_request("ORDER-4", 50_000, now()).to_url(&sim.pay_page_url(), &stranger);
    let resp = browser().get(url).send().await.unwrap();
    assert!(location(&resp).ends_with("Error.html?code=02"));
}

fn signed_without(sim: &vnpay_sim::SimHandle, drop: &str, replace: Option<(&str, &str)>) -> String {
    let fields = pay_request("ORDER-5", 50_000, now()).fields(&terminal());
    let fields = fields
        .into_iter()
        .filter(|(k, _)| *k != drop)
        .map(|(k, v)| match replace {
            Some((name, value)) if name == k => (k, value.to_owned()),
            _ => (k, v),
        });
    SignedQuery::sign(fields, &HashSecret::new(SECRET)).append_to(&sim.pay_page_url())
}

#[tokio::test]
async fn a_well_signed_request_missing_a_field_or_with_a_bad_value_is_refused_with_code_03() {
    let sim = sim(config(None)).await;
    for url in [
        signed_without(&sim, "vnp_ReturnUrl", None),
        signed_without(&sim, "vnp_OrderInfo", None),
        signed_without(&sim, "", Some(("vnp_Version", "2.0.1"))),
        signed_without(&sim, "", Some(("vnp_Amount", "100000"))),
        signed_without(&sim, "", Some(("vnp_Amount", "1000050"))),
        signed_without(&sim, "", Some(("vnp_CreateDate", "2026-01-01"))),
        signed_without(&sim, "", Some(("vnp_Locale", "fr"))),
        signed_without(&sim, "", Some(("vnp_TxnRef", "a b"))),
    ] {
        let code = sim.begin_payment(&url).map_err(|e| e.code());
        assert_eq!(code, Err("03"), "{url}");
    }
}

#[tokio::test]
async fn a_txn_ref_reused_on_the_same_day_is_refused_with_code_01_but_a_reload_shows_the_page() {
    let sim = sim(config(None)).await;
    let created = now();
    let first = pay_request("ORDER-6", 50_000, created).to_url(&sim.pay_page_url(), &terminal());
    let again = pay_request("ORDER-6", 60_000, created).to_url(&sim.pay_page_url(), &terminal());
    let id = sim.begin_payment(&first).unwrap();
    assert_eq!(sim.begin_payment(&first), Ok(id), "reloading the same URL");
    assert_eq!(sim.begin_payment(&again), Err(PageError::AlreadyExists));
    let resp = browser().get(again).send().await.unwrap();
    assert!(location(&resp).ends_with("Error.html?code=01"));
    sim.complete(id, Outcome::Success).unwrap();
    assert_eq!(
        sim.begin_payment(&first),
        Err(PageError::AlreadyExists),
        "after completion"
    );
}

#[tokio::test]
async fn a_cancel_returns_code_24_with_transaction_no_0_bank_vnpay_and_no_bank_tran_no() {
    let sim = sim(config(None)).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/sim/pay", sim.config().base_url))
        .json(&serde_json::json!({"url": pay_url(&sim, "ORDER-7", 50_000), "outcome": "cancel"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let done: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(done["transaction_no"], 0);
    assert_eq!(done["response_code"], "24");
    let back = done["return_url"].as_str().unwrap();
    assert!(!back.contains("vnp_BankTranNo"));
    let cb = Callback::verify(query_of(back), &HashSecret::new(SECRET)).unwrap();
    assert_eq!(cb.response_code, ResponseCode::Cancelled);
    assert_eq!(cb.transaction_status, TransactionStatus::Failed);
    assert_eq!(cb.bank_code, "VNPAY");
    assert_eq!(cb.card_type.as_deref(), Some("QRCODE"));
    assert_eq!(cb.transaction_no, 0);
}

#[tokio::test]
async fn failures_carry_their_response_codes_and_status_02() {
    let sim = sim(config(None)).await;
    for (i, (outcome, code, has_no)) in [
        (
            Outcome::InsufficientFunds,
            ResponseCode::InsufficientBalance,
            true,
        ),
        (Outcome::Timeout, ResponseCode::PaymentWindowExpired, false),
        (Outcome::SessionTimeout, ResponseCode::SessionTimeout, false),
    ]
    .into_iter()
    .enumerate()
    {
        let done = sim
            .pay(&pay_url(&sim, &format!("FAIL-{i}"), 50_000), outcome)
            .unwrap();
        let cb = Callback::verify(&done.callback_query, &HashSecret::new(SECRET)).unwrap();
        assert_eq!(cb.response_code, code);
        assert_eq!(cb.transaction_status, TransactionStatus::Failed);
        assert_eq!(cb.transaction_no != 0, has_no);
        assert!(cb.bank_tran_no.is_none());
    }
}

#[tokio::test]
async fn sim_pay_reports_validation_failures_as_json() {
    let sim = sim(config(None)).await;
    let bad = pay_url(&sim, "ORDER-8", 50_000).replace("ORDER-8", "ORDER-9");
    let resp = reqwest::Client::new()
        .post(format!("{}/sim/pay", sim.config().base_url))
        .json(&serde_json::json!({"url": bad, "outcome": "success"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error_code"], "70");
}

#[tokio::test]
async fn a_return_url_with_its_own_query_gets_the_callback_appended_with_an_ampersand() {
    let sim = sim(config(None)).await;
    let url = pay_request_to(
        "ORDER-10",
        50_000,
        now(),
        "https://shop.example/return?cart=9",
    )
    .to_url(&sim.pay_page_url(), &terminal());
    let done = sim.pay(&url, Outcome::Success).unwrap();
    assert!(
        done.return_url
            .starts_with("https://shop.example/return?cart=9&vnp_Amount=")
    );
    let cb = Callback::verify(query_of(&done.return_url), &HashSecret::new(SECRET));
    assert!(cb.is_ok_and(|c| c.is_paid()));
}

#[tokio::test]
async fn a_completed_payment_cannot_be_completed_again() {
    let sim = sim(config(None)).await;
    let done = sim
        .pay(&pay_url(&sim, "ORDER-11", 50_000), Outcome::Success)
        .unwrap();
    assert_eq!(
        sim.complete(done.payment_id, Outcome::Cancel),
        Err(PageError::NotPayable)
    );
}

#[tokio::test]
async fn mounted_under_a_prefix_in_another_app_every_link_and_redirect_stays_under_it() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/gateway", listener.local_addr().unwrap());
    let handle = vnpay_sim::SimHandle::new(config(None).with_base_url(base.clone())).unwrap();
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .nest("/gateway", vnpay_sim::router(handle.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let url = pay_request("MOUNT-1", 50_000, now()).to_url(&handle.pay_page_url(), &terminal());
    assert!(url.starts_with(&format!("{base}/paymentv2/vpcpay.html?")));
    let html = browser()
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!(r#"action="{base}/paymentv2/complete""#)));
    let refused = browser()
        .get(url.replace("MOUNT-1", "MOUNT-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&refused),
        format!("{base}/paymentv2/Payment/Error.html?code=70")
    );
}

#[tokio::test]
async fn an_ipv6_customer_address_such_as_loopback_is_accepted_and_a_non_address_is_03() {
    // Spec §2.1: IPv6 works in practice (an observed URL carried `%3A%3A1`).
    for ip in ["::1", "2001:db8::7", "::ffff:203.0.113.7"] {
        let sim = sim(config(None)).await;
        let url = signed_without(&sim, "", Some(("vnp_IpAddr", ip)));
        let resp = browser().get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{ip}: the payment page is shown");
        assert_eq!(sim.payments().len(), 1, "{ip}");
    }
    let sim = sim(config(None)).await;
    let too_long = "1".repeat(46);
    for ip in ["::g", "1.2.3", "localhost", too_long.as_str()] {
        let url = signed_without(&sim, "", Some(("vnp_IpAddr", ip)));
        assert_eq!(
            sim.begin_payment(&url).map_err(|e| e.code()),
            Err("03"),
            "{ip}"
        );
    }
}
