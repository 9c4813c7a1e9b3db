//! A gateway that refuses every refund: each refusal is recorded with the gateway's answer and pauses
//! that order alone, twice as long each time; after `payments.refund_max_refusals` the order waits in
//! `refund_failed`, where the admin order search, the dashboard's snapshot and the metrics show it.
//! The operator's two ways out land in the ledger: asking the gateway again (a fresh round of
//! attempts, refunded once the gateway takes it) and recording a refund made by other means, with
//! the reason. The audit stays clean throughout.

use flashgate_core::{OrderStatus, order::REFUNDED_ELSEWHERE};
use flashgate_testkit::{Backend, Instance, client, manual_clock, order_uuid, payment_url};
use reqwest::Method;
use serde_json::{Value, json};
use time::Duration;
use vnpay_sim::{Faults, Outcome};

/// Refusals before an order is handed to an operator, in this test.
const MAX_REFUSALS: u32 = 3;

async fn admin(
    app: &Instance,
    method: Method,
    path: &str,
    build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> (u16, Value) {
    let response = build(
        client()
            .request(method, app.api.url(path))
            .bearer_auth(app.api.admin_token()),
    )
    .send()
    .await
    .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn refusing(code: &str) -> Faults {
    Faults {
        refund_refused_with: Some(code.to_owned()),
        ..Faults::default()
    }
}

async fn a_refund_the_gateway_refuses_reaches_the_operator_whose_action_is_in_the_ledger(
    backend: Backend,
) {
    let clock = manual_clock();
    let running = super::spawn(backend, clock.clone())
        .set("payments.refund_max_refusals", MAX_REFUSALS)
        .set("reconciler.min_poll_interval_seconds", 10)
        .start()
        .await;
    let app = running.instance(0);
    let product = app.api.product(10, None).await;
    let mut orders = Vec::new();
    for buyer in ["refused-a", "refused-b"] {
        let order = app.api.win(buyer, product).await;
        app.sim()
            .pay(payment_url(&order), Outcome::Success)
            .unwrap();
        orders.push(order);
    }
    app.sim().ipn_idle().await;
    app.sim().set_faults(refusing("95")).unwrap();
    for order in &orders {
        let (status, _) = admin(
            app,
            Method::POST,
            &format!("/admin/orders/{}/refund", order_uuid(order)),
            |r| r.header("Idempotency-Key", format!("refund-{}", order_uuid(order))),
        )
        .await;
        assert_eq!(status, 202);
    }

    // Refused at once, then after 10 s, then after 20 s more: each order paused on its own.
    let step = app.refunder.run_once().await.unwrap();
    assert_eq!((step.claimed, step.failed, step.gave_up), (2, 2, 0));
    assert_eq!(app.refunder.run_once().await.unwrap().claimed, 0, "paused");
    clock.advance(Duration::seconds(10));
    assert_eq!(app.refunder.run_once().await.unwrap().failed, 2);
    clock.advance(Duration::seconds(10));
    assert_eq!(
        app.refunder.run_once().await.unwrap().claimed,
        0,
        "paused twice as long"
    );
    clock.advance(Duration::seconds(10));
    let step = app.refunder.run_once().await.unwrap();
    assert_eq!((step.claimed, step.gave_up), (2, 2));
    for order in &orders {
        assert_eq!(app.order(order).await.status, OrderStatus::RefundFailed);
    }
    clock.advance(Duration::hours(1));
    assert_eq!(
        app.refunder.run_once().await.unwrap().claimed,
        0,
        "an operator's now"
    );

    // What the operator sees: the search, the order's story, the dashboard's figures, the metrics.
    let (_, found) = admin(
        app,
        Method::GET,
        "/admin/orders?status=refund_failed",
        |r| r,
    )
    .await;
    assert_eq!(found["orders"].as_array().map(Vec::len), Some(2), "{found}");
    let (_, detail) = admin(
        app,
        Method::GET,
        &format!("/admin/orders/{}", order_uuid(&orders[0])),
        |r| r,
    )
    .await;
    let refusals: Vec<&Value> = detail["payment_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "refund")
        .collect();
    assert_eq!(refusals.len(), MAX_REFUSALS as usize);
    assert!(
        refusals
            .iter()
            .all(|e| e["outcome"] == "refused" && e["raw"].as_str().unwrap().contains("95")),
        "{detail}"
    );
    assert_eq!(
        detail["ledger"].as_array().unwrap().last().unwrap()["to"],
        "refund_failed"
    );
    let snapshot = app.state.monitor.run_once().await.unwrap();
    assert_eq!(snapshot.orders["refund_failed"], 2);
    // The recorder is the process's, and the monitors of other tests' applications set the same
    // gauge between this one's tick and the read: tick and read until this figure is the one shown.
    let shown = |metrics: &str| metrics.contains("flashgate_orders{status=\"refund_failed\"} 2");
    let mut metrics = String::new();
    for _ in 0..20 {
        app.state.monitor.run_once().await.unwrap();
        metrics = app.api.get("/metrics", None).await.text();
        if shown(&metrics) {
            break;
        }
    }
    assert!(shown(&metrics), "{metrics}");
    assert!(
        metrics.contains("flashgate_refund_refusals_total"),
        "{metrics}"
    );
    app.assert_audit_clean().await;

    // The first: asked again, with a fresh round of attempts; the gateway takes it once it can.
    let first = order_uuid(&orders[0]);
    let (status, retried) = admin(
        app,
        Method::POST,
        &format!("/admin/orders/{first}/refund"),
        |r| r.header("Idempotency-Key", "operator-retry"),
    )
    .await;
    assert_eq!(
        (status, retried["status"].as_str()),
        (202, Some("refund_pending"))
    );
    let step = app.refunder.run_once().await.unwrap();
    assert_eq!(
        (step.claimed, step.failed, step.gave_up),
        (1, 1, 0),
        "one refusal of a new round"
    );
    app.sim().set_faults(Faults::default()).unwrap();
    clock.advance(Duration::seconds(10));
    assert_eq!(app.refunder.run_once().await.unwrap().refunded, 1);
    assert_eq!(app.order(&orders[0]).await.status, OrderStatus::Refunded);

    // The second: refunded by bank transfer, which the ledger keeps in the operator's words.
    let second = order_uuid(&orders[1]);
    let path = format!("/admin/orders/{second}/refunded");
    // A reason is one line of text: a NUL (which PostgreSQL cannot store), another control
    // character or only spaces is refused, and the order stays as it was.
    for refused in ["a\u{0}b", "line\nbreak", "   ", ""] {
        let (status, problem) = admin(app, Method::POST, &path, |r| {
            r.json(&json!({"reason": refused}))
        })
        .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (422, Some("invalid_request")),
            "{refused:?}: {problem}"
        );
    }
    assert_eq!(
        app.order(&orders[1]).await.status,
        OrderStatus::RefundFailed
    );
    let reason = "bank transfer 2026-12-03, ref VCB-88123";
    let (status, marked) = admin(app, Method::POST, &path, |r| {
        r.json(&json!({"reason": reason}))
    })
    .await;
    assert_eq!((status, marked["status"].as_str()), (200, Some("refunded")));
    let (status, again) = admin(app, Method::POST, &path, |r| {
        r.json(&json!({"reason": reason}))
    })
    .await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("not_refund_failed"))
    );
    let (_, detail) = admin(app, Method::GET, &format!("/admin/orders/{second}"), |r| r).await;
    let last = detail["ledger"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["from"], "refund_failed");
    assert_eq!(last["to"], "refunded");
    assert_eq!(last["reason"], format!("{REFUNDED_ELSEWHERE}{reason}"));
    let refunds: usize = app.sim().payments().iter().map(|p| p.refunds.len()).sum();
    assert_eq!(
        refunds, 1,
        "only the retried order's refund went through the gateway"
    );
    assert_eq!(
        app.state.monitor.run_once().await.unwrap().orders["refund_failed"],
        0
    );
    app.assert_audit_clean().await;
}

on_each_backend!(a_refund_the_gateway_refuses_reaches_the_operator_whose_action_is_in_the_ledger);
