//! Buyers' latency with and without an attack of idle and slow clients: 64 buyers buy for a while on a
//! quiet instance, then again while 2,000 connections sit idle and 200 clients trickle their headers a
//! byte at a time. A measurement, not a test: it prints each phase's p50 and p99 and the ratio of the
//! p99s (the test `under_load::slow_clients` asserts that every buyer is served).
//!
//! `cargo run --release -p flashgate --example slow_clients` (embedded SQLite, no Redis). Optional
//! arguments: seconds per phase (default 5), idle connections (2000), slow clients (200), buyers (64).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use flashgate_testkit::{Backend, Instance, Spawn, TestDatabase, client};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A request head sent a byte at a time, never finished within a phase.
const TRICKLE: &[u8] =
    b"POST /orders HTTP/1.1\r\nHost: flashgate\r\nContent-Type: application/json\r\nX-Pad: ";

struct Figures {
    requests: usize,
    p50: Duration,
    p99: Duration,
}

/// `buyers` buy one unit each, over and over, for `seconds`; every answer must be 201.
async fn buy(
    instance: &Instance,
    product: i64,
    buyers: usize,
    seconds: u64,
    phase: &str,
) -> Figures {
    static KEYS: AtomicU64 = AtomicU64::new(0);
    let until = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..buyers)
        .map(|b| {
            let (http, token) = (client(), instance.api.token(&format!("buyer-{b}")));
            let url = instance.api.url("/orders");
            let phase = phase.to_owned();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let key = format!("{phase}-{}", KEYS.fetch_add(1, Ordering::Relaxed));
                    let started = Instant::now();
                    let answer = http
                        .post(&url)
                        .bearer_auth(&token)
                        .header("idempotency-key", key)
                        .json(&json!({"product_id": product, "quantity": 1}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(answer.status(), 201, "{}", answer.text().await.unwrap());
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Figures {
        requests: all.len(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn print(phase: &str, f: &Figures) {
    println!(
        "{phase:<38} {:>7} purchases  p50 {:>8.2} ms  p99 {:>8.2} ms",
        f.requests,
        f.p50.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let arg = |i: usize, default: u64| args.get(i).copied().unwrap_or(default);
    let (seconds, idle, slow) = (arg(0, 5), arg(1, 2_000), arg(2, 200));
    let buyers = usize::try_from(arg(3, 64)).unwrap();
    let db = TestDatabase::sqlite();
    let instance = Spawn::new(Backend::Sqlite)
        .set("limits.enabled", false)
        .set("shedding.max_concurrent_purchases", 100_000)
        .set("shedding.queue_budget_ms", 60_000)
        .set("log.filter", "error")
        .instance(&db)
        .await;
    let product = instance.api.product(1_000_000_000, None).await;
    let addr = instance.api.base.trim_start_matches("http://").to_owned();

    let quiet = buy(&instance, product, buyers, seconds, "quiet").await;
    print("quiet", &quiet);

    let mut held = Vec::new();
    for _ in 0..idle {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    let trickled = Arc::new(AtomicU64::new(0));
    let mut tricklers = Vec::new();
    for _ in 0..slow {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let trickled = trickled.clone();
        tricklers.push(tokio::spawn(async move {
            for byte in TRICKLE.iter().chain(std::iter::repeat(&b'a')) {
                if stream.write_all(&[*byte]).await.is_err() {
                    return;
                }
                trickled.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    let attacked = buy(&instance, product, buyers, seconds, "attacked").await;
    print(
        &format!("with {idle} idle and {slow} slow clients"),
        &attacked,
    );
    println!(
        "p99 under attack / quiet p99: {:.2}x ({} header bytes trickled)",
        attacked.p99.as_secs_f64() / quiet.p99.as_secs_f64(),
        trickled.load(Ordering::Relaxed)
    );
    for trickler in tricklers {
        trickler.abort();
    }
    drop(held);
}
