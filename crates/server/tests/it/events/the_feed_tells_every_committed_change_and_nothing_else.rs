//! The feed shows each committed change of an order once, with its type, its per-order sequence and
//! the order as it stood then; a purchase that was refused and rolled back leaves no event.

use super::{Reader, page, read_all};
use flashgate_core::ManualClock;
use flashgate_testkit::{Backend, PRICE_VND, key, payment_url};
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use vnpay_sim::Outcome;

const HOLD_SECONDS: i64 = 60;

on_each_backend!(the_feed_tells_every_committed_change_and_nothing_else);

async fn the_feed_tells_every_committed_change_and_nothing_else(backend: Backend) {
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let app = super::spawn(backend)
        .clock(clock.clone())
        .set("inventory.strategy", "conditional")
        .set("inventory.hold_seconds", HOLD_SECONDS)
        .set("payments.expiry_grace_seconds", 0)
        .start()
        .await;
    let api = app.api(0);
    let product = api.product(2, Some(1)).await;

    let first_key = key();
    let paid = api
        .buy("cus_paid", &first_key, product, 1)
        .await
        .assert_status(201);
    // Refused purchases roll back: over the limit, a key reused for another body, sold out.
    api.buy("cus_paid", &key(), product, 1)
        .await
        .assert_problem(403, "limit_exceeded");
    api.buy("cus_paid", &first_key, product, 2)
        .await
        .assert_problem(409, "idempotency_conflict");
    let expired = api.win("cus_expired", product).await;
    api.buy("cus_late", &key(), product, 1)
        .await
        .assert_problem(409, "sold_out");

    app.instances[0]
        .sim()
        .pay(payment_url(&paid), Outcome::Success)
        .unwrap();
    app.instances[0].sim().ipn_idle().await;
    clock.advance(Duration::seconds(HOLD_SECONDS + 1));
    let step = app.instances[0].expirer.run_once().await.unwrap();
    assert_eq!(step.expired, 1, "{step:?}");

    let events = read_all(api, 100, 4).await;
    let summary: Vec<(String, &str, i64, &str)> = events
        .iter()
        .map(|e| {
            (
                e["data"]["id"].as_str().unwrap().to_owned(),
                e["type"].as_str().unwrap(),
                e["sequence"].as_i64().unwrap(),
                e["data"]["status"].as_str().unwrap(),
            )
        })
        .collect();
    let (p, x) = (
        paid["id"].as_str().unwrap().to_owned(),
        expired["id"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        summary,
        vec![
            (p.clone(), "order.created", 1, "pending_payment"),
            (x.clone(), "order.created", 1, "pending_payment"),
            (p.clone(), "order.paid", 2, "paid"),
            (x.clone(), "order.expired", 2, "expired"),
        ],
        "{events:#?}"
    );
    let ledger_rows = app
        .direct()
        .await
        .count("SELECT COUNT(*) FROM order_events")
        .await;
    assert_eq!(ledger_rows, 4, "no rolled-back purchase left a ledger row");

    // The order as it stood after each change: not yet paid when created, paid after.
    let created = &events[0];
    assert!(created["data"].get("paid_at").is_none(), "{created}");
    assert_eq!(created["data"]["customer"], "cus_paid");
    assert_eq!(created["data"]["amount_vnd"], json!(PRICE_VND));
    assert!(events[2]["data"]["paid_at"].is_string(), "{}", events[2]);
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(ids.iter().all(|id| id.starts_with("evt_")), "{ids:?}");
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");

    // One event at a time reads the same, and nothing follows; an empty page hands back its cursor.
    let mut one_by_one = Reader::default();
    one_by_one.until(api, 1, 4).await;
    assert_eq!(one_by_one.seen, events);
    assert!(one_by_one.step(api, 10).await, "nothing after the four");
    let (_, end) = page(api, "?limit=4").await;
    let (rest, next) = page(api, &format!("?after={end}")).await;
    assert!(rest.is_empty());
    assert_eq!(next, end);

    // Filtered by type.
    let (only_paid, _) = page(api, "?type=order.paid").await;
    assert_eq!(only_paid, vec![events[2].clone()]);

    for bad in [
        "?after=nonsense",
        "?type=order.shipped",
        "?limit=0",
        "?limit=1001",
        "?colour=red",
    ] {
        api.send(api.admin(Method::GET, &format!("/admin/events{bad}")))
            .await
            .assert_problem(422, "invalid_request");
    }
    api.get("/admin/events", None)
        .await
        .assert_problem(401, "unauthorized");
}
