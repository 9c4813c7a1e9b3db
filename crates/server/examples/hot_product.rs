//! One hot product, three purchase strategies, side by side in one run on PostgreSQL and Redis, then
//! cached against uncached product reads. A measurement, not a test: it prints figures and ratios.
//!
//! `cargo run --release -p flashgate --example hot_product` (PostgreSQL from
//! `FLASHGATE_TEST_DATABASE_URL`, Redis from `FLASHGATE_TEST_REDIS_URL`; defaults on 127.0.0.1).
//! Optional arguments: seconds per phase (default 5) and concurrent buyers (default 64).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use flashgate::Application;
use flashgate::config::{DEFAULTS, Settings};
use flashgate::http::orders::JsonOrderAnswer;
use flashgate::state::AppState;
use flashgate_core::checkout::{PlaceOrderError, Purchaser};
use flashgate_core::ports::Products;
use flashgate_core::purchase::PurchaseRequest;
use flashgate_core::{
    CustomerId, IdempotencyKey, NewProduct, ProductId, Quantity, Sku, Strategy, SystemClock, Vnd,
};
use flashgate_shared_state::testing::TestRedis;
use flashgate_store::testing::TestDatabase;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Tally {
    created: AtomicU64,
    sold_out: AtomicU64,
    other: AtomicU64,
}

async fn instance(db: &TestDatabase, strategy: Strategy, redis: &TestRedis) -> AppState {
    let figment = Figment::from(Toml::string(DEFAULTS))
        .merge(Serialized::default("listen", "127.0.0.1:0"))
        .merge(Serialized::default("database_url", &db.url))
        .merge(Serialized::default("redis_url", redis.url()))
        .merge(Serialized::default("redis.key_prefix", &redis.prefix))
        .merge(Serialized::default("inventory.strategy", strategy.as_str()))
        .merge(Serialized::default("database.max_connections", 16))
        .merge(Serialized::default("log.filter", "error"));
    let settings = Settings::from_figment(figment).unwrap();
    let app = Application::build_with_clock(settings, Arc::new(SystemClock))
        .await
        .unwrap();
    app.state().clone()
}

async fn product(state: &AppState, stock: i64) -> ProductId {
    state
        .store
        .catalog
        .create(&NewProduct {
            sku: Sku::parse(&format!("HOT-{}", uuid::Uuid::new_v4().simple())).unwrap(),
            name: "Hot".into(),
            price: Vnd::price(10_000).unwrap(),
            stock,
            per_customer_limit: None,
            window: Default::default(),
        })
        .await
        .unwrap()
        .id
}

/// `buyers` tasks buy one unit each, over and over, for `seconds`.
async fn purchases(
    state: &AppState,
    product: ProductId,
    buyers: usize,
    seconds: u64,
) -> (f64, Arc<Tally>) {
    let tally = Arc::new(Tally::default());
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..buyers)
        .map(|b| {
            let (state, tally) = (state.clone(), Arc::clone(&tally));
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < until {
                    n += 1;
                    let customer = CustomerId::parse(&format!("b{b}-{n}")).unwrap();
                    let key = IdempotencyKey::parse(&format!("k{b}-{n}")).unwrap();
                    let answer =
                        JsonOrderAnswer::new(&state.gateway, IpAddr::V4(Ipv4Addr::LOCALHOST));
                    let purchaser = Purchaser { customer, key };
                    let request = PurchaseRequest {
                        product_id: product,
                        quantity: Quantity::parse(1).unwrap(),
                    };
                    match state.checkout.place(&purchaser, request, &answer).await {
                        Ok(_) => tally.created.fetch_add(1, Ordering::Relaxed),
                        Err(PlaceOrderError::SoldOut) => {
                            tally.sold_out.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(_) => tally.other.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let attempts = tally.created.load(Ordering::Relaxed)
        + tally.sold_out.load(Ordering::Relaxed)
        + tally.other.load(Ordering::Relaxed);
    (attempts as f64 / elapsed, tally)
}

async fn reads(
    state: &AppState,
    product: ProductId,
    cached: bool,
    readers: usize,
    seconds: u64,
) -> f64 {
    let count = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..readers)
        .map(|_| {
            let (state, count) = (state.clone(), Arc::clone(&count));
            tokio::spawn(async move {
                while Instant::now() < until {
                    let found = if cached {
                        state.shared.products.get(product).await
                    } else {
                        state.store.products.get(product).await
                    };
                    assert!(found.unwrap().is_some());
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let buyers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    println!(
        "one hot product, {buyers} concurrent buyers, {seconds} s per phase, PostgreSQL + Redis\n"
    );
    println!(
        "{:<12} {:>16} {:>10} {:>18}",
        "strategy", "selling, att/s", "sold", "sold out, att/s"
    );
    let mut read_state = None;
    for strategy in [
        Strategy::Pessimistic,
        Strategy::Conditional,
        Strategy::Gated,
    ] {
        let db = TestDatabase::postgres().await;
        let redis = TestRedis::new();
        let state = instance(&db, strategy, &redis).await;
        let plenty = product(&state, 10_000_000).await;
        let (selling, tally) = purchases(&state, plenty, buyers, seconds).await;
        let none = product(&state, 1).await;
        let (sold_out, _) = purchases(&state, none, buyers, seconds).await;
        println!(
            "{:<12} {:>16.0} {:>10} {:>18.0}",
            strategy.as_str(),
            selling,
            tally.created.load(Ordering::Relaxed),
            sold_out
        );
        let failed = tally.other.load(Ordering::Relaxed);
        if failed > 0 {
            println!("  ({failed} attempts failed otherwise)");
        }
        let report = state.store.auditor.audit().await.unwrap();
        assert!(
            report.checks.iter().all(|c| c.violations.is_empty()),
            "audit"
        );
        if strategy == Strategy::Gated {
            read_state = Some((db, redis, state, plenty));
        }
    }
    let (_db, _redis, state, product) = read_state.unwrap();
    let uncached = reads(&state, product, false, buyers, seconds).await;
    let cached = reads(&state, product, true, buyers, seconds).await;
    println!("\nproduct reads, {buyers} concurrent readers");
    println!("  uncached (PostgreSQL)   {uncached:>10.0} reads/s");
    println!(
        "  cached (L1 over Redis)  {cached:>10.0} reads/s   x{:.1}",
        cached / uncached
    );
}
