//! What one tick of the sale monitor costs as the shop's history grows.
//!
//! `cargo run --release -p flashgate-store --example monitor_tick -- [orders ...]` (default
//! `10000 1000000`)
//!
//! For each size, a fresh PostgreSQL database (on `FLASHGATE_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`) is filled with that many orders and their ledger
//! rows (seven in ten paid, two expired, one pending) on 20 products. Then, 15 times over, 100 new
//! orders arrive and one tick reads the sale; the median tick is printed beside the median of the
//! full count of the orders that a tick cost before the counts were kept (5 reads).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use flashgate_core::{NewProduct, SaleWindow, Sku, Vnd};
use flashgate_store::testing::TestDatabase;
use flashgate_store::{PoolSettings, Store};
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const PRODUCTS: i64 = 20;

/// `n` orders numbered from `from`, with a creation ledger row each and a second row for those
/// that left `pending_payment`.
fn orders_sql(from: i64, n: i64, first_product: i64) -> String {
    format!(
        "WITH o AS ( \
           INSERT INTO orders (id, customer_id, product_id, quantity, amount_vnd, status, created_at, expires_at, paid_at) \
           SELECT gen_random_uuid(), 'cus_' || g, {first_product} + g % {PRODUCTS}, 1, 100000, \
             CASE WHEN g % 10 < 7 THEN 'paid' WHEN g % 10 < 9 THEN 'expired' ELSE 'pending_payment' END, \
             now(), now() + interval '15 minutes', CASE WHEN g % 10 < 7 THEN now() END \
           FROM generate_series({from}, {from} + {n} - 1) g RETURNING id, status \
         ), created AS ( \
           INSERT INTO order_events (order_id, from_status, to_status, reason, at) \
           SELECT id, NULL, 'pending_payment', 'reserved', now() FROM o \
         ) \
         INSERT INTO order_events (order_id, from_status, to_status, reason, at) \
         SELECT id, 'pending_payment', status, CASE status WHEN 'paid' THEN 'ipn_paid' ELSE 'hold_expired' END, now() \
         FROM o WHERE status <> 'pending_payment'"
    )
}

const FULL_COUNT: [&str; 2] = [
    "SELECT product_id, status, COUNT(*), SUM(quantity) FROM orders GROUP BY product_id, status",
    "SELECT reason, COUNT(*) FROM order_events WHERE to_status = 'paid' GROUP BY reason",
];

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

#[tokio::main]
async fn main() {
    let sizes: Vec<i64> = std::env::args()
        .skip(1)
        .map(|n| n.parse().expect("orders: a number"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 1_000_000]
    } else {
        sizes
    };
    println!("orders      full count (ms)  kept tick (ms)  full/kept");
    for size in sizes {
        let db = TestDatabase::postgres().await;
        let store = Store::open(&db.url, &PoolSettings::default(), true)
            .await
            .unwrap();
        let mut first_product = None;
        for i in 0..PRODUCTS {
            let product = NewProduct {
                sku: Sku::parse(&format!("SKU-{i}")).unwrap(),
                name: format!("Product {i}"),
                price: Vnd::from_stored(100_000),
                stock: 1_000_000_000,
                per_customer_limit: None,
                window: SaleWindow::default(),
            };
            let id = store.catalog.create(&product).await.unwrap().id.0;
            first_product.get_or_insert(id);
        }
        let first_product = first_product.unwrap();
        let mut conn = PgConnection::connect(&db.url).await.unwrap();
        let mut seeded = 0;
        while seeded < size {
            let n = (size - seeded).min(200_000);
            sqlx::query(&orders_sql(seeded, n, first_product))
                .execute(&mut conn)
                .await
                .unwrap();
            seeded += n;
        }
        sqlx::query("VACUUM ANALYZE")
            .execute(&mut conn)
            .await
            .unwrap();
        // The first read folds the whole history once.
        store.monitor.overview(now(), Duration::ZERO).await.unwrap();

        let mut full = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            for sql in FULL_COUNT {
                sqlx::query(sql).fetch_all(&mut conn).await.unwrap();
            }
            full.push(started.elapsed());
        }
        let mut ticks = Vec::new();
        for round in 0..15 {
            let from = size + round * 100;
            sqlx::query(&orders_sql(from, 100, first_product))
                .execute(&mut conn)
                .await
                .unwrap();
            let started = Instant::now();
            let overview = store.monitor.overview(now(), Duration::ZERO).await.unwrap();
            ticks.push(started.elapsed());
            assert_eq!(overview.orders(), from + 100, "the tick counts every order");
        }
        let (full, tick) = (median(full), median(ticks));
        println!(
            "{size:<11} {:>15.2} {:>15.2} {:>10.1}x",
            ms(full),
            ms(tick),
            full.as_secs_f64() / tick.as_secs_f64()
        );
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}
