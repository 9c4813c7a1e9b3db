//! How long the reconciler takes to settle orders whose IPNs were all lost.
//!
//! `cargo run --release -p flashgate --example reconcile_stuck_orders -- [--poisoned] [orders] [database_url]`
//!
//! Places the orders through the HTTP API, pays three in four through the bundled simulator with every
//! IPN dropped (the rest are cancelled), then times reconciler passes until no order is left to ask
//! about, and prints the figures. With `--poisoned`, the gateway answers every querydr about the first
//! order with an error (its state cannot be decided): the other orders must settle as fast as without
//! it. The database defaults to a fresh SQLite file; pass a `postgres://` URL of an empty database to
//! measure PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use flashgate::Application;
use flashgate::auth::BuyerTokens;
use flashgate::config::{DEFAULTS, Settings};
use flashgate_core::{CustomerId, SystemClock};
use flashgate_testkit::json_of;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use vnpay_sim::{Faults, Outcome};

#[tokio::main]
async fn main() {
    let poisoned = std::env::args().any(|arg| arg == "--poisoned");
    let mut args = std::env::args().skip(1).filter(|arg| arg != "--poisoned");
    let orders: usize = args
        .next()
        .map_or(1_000, |n| n.parse().expect("orders: a number"));
    let dir = std::env::temp_dir().join(format!("flashgate-reconcile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite:{}", dir.join("bench.db").display()));
    let settings = Settings::from_figment(
        Figment::from(Toml::string(DEFAULTS))
            .merge(Serialized::default("listen", "127.0.0.1:0"))
            .merge(Serialized::default("database_url", &url))
            .merge(Serialized::default("log.filter", "error"))
            // Every order comes from this one address and customer after customer: rate limits
            // would refuse most of them, and they are not what is measured here.
            .merge(Serialized::default("limits.enabled", false))
            .merge(Serialized::default("expirer.interval_ms", 3_600_000))
            .merge(Serialized::default("reconciler.tick_ms", 3_600_000))
            .merge(Serialized::default(
                "reconciler.first_poll_after_seconds",
                0,
            ))
            .merge(Serialized::default("vnpay.sim_querydr_min_interval_ms", 0)),
    )
    .unwrap();
    let batch = settings.reconciler.batch;
    let app = Application::build_with_clock(settings, Arc::new(SystemClock))
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    let sim = app.simulator().unwrap();
    let reconciler = app.reconciler();
    let stop = CancellationToken::new();
    tokio::spawn(app.run(stop.clone()));
    sim.set_faults(Faults {
        ipn_drop_rate: 1.0,
        ..Faults::default()
    })
    .unwrap();

    let http = reqwest::Client::new();
    let product: Value = json_of(
        http.post(format!("{base}/admin/products"))
            .bearer_auth("dev-admin-token-change-me")
            .json(
                &json!({"sku": "BENCH-1", "name": "Bench", "price_vnd": 150_000, "stock": orders}),
            ),
    )
    .await;
    let tokens = BuyerTokens::new(b"dev-jwt-secret-change-me-0123456789abcdef");
    let placing = Instant::now();
    let mut first_txn_ref = None;
    for i in 0..orders {
        let token = tokens
            .mint(
                &CustomerId::parse(&format!("bench_{i}")).unwrap(),
                time::Duration::hours(1),
            )
            .unwrap();
        let answer: Value = json_of(
            http.post(format!("{base}/orders"))
                .bearer_auth(token)
                .header("Idempotency-Key", format!("bench-{i}"))
                .json(&json!({"product_id": product["id"], "quantity": 1})),
        )
        .await;
        let outcome = if i % 4 == 3 {
            Outcome::Cancel
        } else {
            Outcome::Success
        };
        let paid = sim
            .pay(answer["payment_url"].as_str().unwrap(), outcome)
            .unwrap();
        first_txn_ref.get_or_insert(paid.txn_ref);
    }
    if poisoned {
        sim.set_faults(Faults {
            ipn_drop_rate: 1.0,
            querydr_undecidable: first_txn_ref.into_iter().collect(),
            ..Faults::default()
        })
        .unwrap();
    }
    sim.ipn_idle().await;
    eprintln!(
        "placed and paid {orders} orders in {:.1?} (every IPN dropped)",
        placing.elapsed()
    );

    let started = Instant::now();
    let (mut passes, mut settled, mut undecided) = (0, 0, 0);
    loop {
        let step = reconciler.run_once().await.unwrap();
        passes += 1;
        settled += step.settled;
        undecided += step.undecided;
        if step.settled == 0 {
            break;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "reconciler: {settled} of {orders} stuck orders settled in {:.2} s ({passes} passes of up to {batch}, {:.0} orders/s, {undecided} undecidable answers{}), backend {}",
        elapsed.as_secs_f64(),
        settled as f64 / elapsed.as_secs_f64(),
        if poisoned { ", one order poisoned" } else { "" },
        url.split(':').next().unwrap_or("?"),
    );
    stop.cancel();
    let _ = std::fs::remove_dir_all(&dir);
}
