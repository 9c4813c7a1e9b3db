//! How soon the shop hears of an order by webhook, and how fast a backlog drains.
//!
//! `cargo run --release -p flashgate --example webhook_lag -- [orders] [backlog] [database_url]`
//!
//! A real HTTP receiver is registered through the admin API. First a sale of `orders` (1,000) buyers,
//! 32 at a time, with the receiver answering at once: the lag of each `order.created` from the event's
//! timestamp to its first arrival, p50/p99/max. Then the receiver goes down while `backlog` (10,000)
//! more orders are placed, and comes back: how long until every one of their events has arrived.
//! Retries wait a constant second here (not the default schedule's minutes and hours), so the drain
//! measures the dispatcher, not the schedule. The database defaults to a fresh SQLite file; pass a
//! `postgres://` URL of an empty database to measure PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use flashgate::Application;
use flashgate::auth::BuyerTokens;
use flashgate::config::{DEFAULTS, Settings};
use flashgate_core::{CustomerId, SystemClock};
use flashgate_testkit::json_of;
use flashgate_testkit::receiver::{Received, Receiver};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

const ADMIN: &str = "dev-admin-token-change-me";

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let orders: usize = args
        .next()
        .map_or(1_000, |n| n.parse().expect("orders: a number"));
    let backlog: usize = args
        .next()
        .map_or(10_000, |n| n.parse().expect("backlog: a number"));
    let dir = std::env::temp_dir().join(format!("flashgate-webhook-lag-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite:{}", dir.join("bench.db").display()));
    let settings = Settings::from_figment(
        Figment::from(Toml::string(DEFAULTS))
            .merge(Serialized::default("listen", "127.0.0.1:0"))
            .merge(Serialized::default("database_url", &url))
            .merge(Serialized::default("log.filter", "error"))
            // Every buyer comes from this one address: rate limits would refuse most of them.
            .merge(Serialized::default("limits.enabled", false))
            .merge(Serialized::default(
                "shedding.max_concurrent_purchases",
                10_000,
            ))
            .merge(Serialized::default(
                "webhooks.retry_schedule_ms",
                [1_000; 20],
            )),
    )
    .unwrap();
    let interval = settings.webhooks.interval;
    let app = Application::build_with_clock(settings, Arc::new(SystemClock))
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(app.run(stop.clone()));

    let http = reqwest::Client::new();
    let mut receiver = Receiver::start().await;
    json_of(
        http.post(format!("{base}/admin/webhooks"))
            .bearer_auth(ADMIN)
            .json(&json!({ "url": receiver.url() })),
    )
    .await;
    let product: Value = json_of(
        http.post(format!("{base}/admin/products"))
            .bearer_auth(ADMIN)
            .json(&json!({"sku": "LAG-1", "name": "Lag", "price_vnd": 150_000,
                          "stock": orders + backlog})),
    )
    .await;
    let buyers = Buyers {
        http,
        base,
        product: product["id"].as_i64().unwrap(),
        tokens: BuyerTokens::new(b"dev-jwt-secret-change-me-0123456789abcdef"),
    };

    buyers.place(0..orders).await;
    let all = arrivals_until(&receiver, orders).await;
    let mut lags: Vec<f64> = all
        .values()
        .map(|r| (r.at - event_time(r)).as_seconds_f64() * 1e3)
        .collect();
    lags.sort_by(f64::total_cmp);
    let at = |q: f64| lags[((lags.len() - 1) as f64 * q).round() as usize];
    println!(
        "lag from event to delivery, {orders} orders (32 buyers at a time), dispatcher every {} ms: \
         p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        interval.as_millis(),
        at(0.5),
        at(0.99),
        at(1.0),
    );

    receiver.down();
    let placing = Instant::now();
    buyers.place(orders..orders + backlog).await;
    eprintln!(
        "{backlog} orders placed in {:.1?} while the receiver was down",
        placing.elapsed()
    );
    receiver.up().await;
    let back = Instant::now();
    arrivals_until(&receiver, orders + backlog).await;
    let drained = back.elapsed();
    println!(
        "backlog of {backlog} events drained in {:.2} s after the receiver came back ({:.0} events/s), backend {}",
        drained.as_secs_f64(),
        backlog as f64 / drained.as_secs_f64(),
        url.split(':').next().unwrap_or("?"),
    );
    stop.cancel();
    let _ = std::fs::remove_dir_all(&dir);
}

struct Buyers {
    http: reqwest::Client,
    base: String,
    product: i64,
    tokens: BuyerTokens,
}

impl Buyers {
    async fn place(&self, range: std::ops::Range<usize>) {
        futures_util::stream::iter(range)
            .map(|i| async move {
                let customer = CustomerId::parse(&format!("lag_{i}")).unwrap();
                let token = self
                    .tokens
                    .mint(&customer, time::Duration::hours(1))
                    .unwrap();
                let answer = self
                    .http
                    .post(format!("{}/orders", self.base))
                    .bearer_auth(token)
                    .header("Idempotency-Key", format!("lag-{i}"))
                    .json(&json!({"product_id": self.product, "quantity": 1}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 201, "{:?}", answer.text().await);
            })
            .buffer_unordered(32)
            .collect::<Vec<()>>()
            .await;
    }
}

/// Waits until `events` distinct events were acknowledged; the first acknowledged arrival of each.
async fn arrivals_until(receiver: &Receiver, events: usize) -> HashMap<String, Received> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut first = HashMap::new();
        for r in receiver.received() {
            if (200..300).contains(&r.answered) {
                first.entry(r.id().to_owned()).or_insert(r);
            }
        }
        if first.len() >= events {
            return first;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {events} events arrived",
            first.len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn event_time(r: &Received) -> OffsetDateTime {
    let at = r.json()["timestamp"].as_str().unwrap().to_owned();
    OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339).unwrap()
}
