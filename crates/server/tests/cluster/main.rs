//! The production topology without containers, brought up by `scripts/cluster.sh` from the `flashgate`
//! and `vnpay-sim` binaries: nginx in front of two gated instances that share one PostgreSQL database,
//! Redis and one VNPay simulator. One instance is killed with SIGKILL in the middle of a sale, while it
//! holds purchases its gate admitted and it had not yet written; buyers retry through the load balancer
//! with the same Idempotency-Key, winners pay through the simulator (some IPNs dropped), and nothing may
//! be oversold, duplicated or lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod topology;

use flashgate::auth::BuyerTokens;
use flashgate_core::CustomerId;
use flashgate_testkit::{Backend, StockLock, TestDatabase, TestRedis, client, eventually};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::task::JoinSet;
use topology::Cluster;

/// The cluster's own secrets: instances behind a trusted proxy refuse the development ones.
const ADMIN: &str = "cluster-test-admin-token-0123456789";
const JWT_SECRET: &str = "cluster-test-jwt-secret-0123456789abcdef";
const INSTANCES: u16 = 2;
const STOCK: i64 = 40;
const CROWD: usize = 160;
/// `gate.concurrent_batches` of the defaults: batches one instance writes at once.
const BATCHES_PER_INSTANCE: i64 = 4;

/// What one buyer was finally told.
#[derive(Debug)]
enum Outcome {
    Won {
        customer: String,
        key: String,
        order_id: String,
        payment_url: String,
    },
    SoldOut,
    /// Anything else definitive: a failure of the test.
    Refused(u16, Value),
}

/// Buys one unit, retrying through the load balancer with the same Idempotency-Key until the answer is
/// definitive (an instance killed mid-request answers 502 or not at all).
async fn buy(
    http: reqwest::Client,
    lb: String,
    token: String,
    customer: String,
    product: i64,
    retries: Arc<AtomicUsize>,
) -> Outcome {
    let key = uuid::Uuid::new_v4().to_string();
    for _ in 0..100 {
        let sent = http
            .post(format!("{lb}/orders"))
            .bearer_auth(&token)
            .header("idempotency-key", &key)
            .json(&json!({"product_id": product, "quantity": 1}))
            .send()
            .await;
        if let Ok(response) = sent {
            let status = response.status().as_u16();
            let body = response.json::<Value>().await.unwrap_or(Value::Null);
            match status {
                201 => {
                    return Outcome::Won {
                        customer,
                        key,
                        order_id: body["id"].as_str().unwrap().to_owned(),
                        payment_url: body["payment_url"].as_str().unwrap().to_owned(),
                    };
                }
                409 if body["code"] == "sold_out" => return Outcome::SoldOut,
                // No answer yet: the instance died or the retry is waiting on the first attempt.
                429 | 500..=599 => {}
                _ => return Outcome::Refused(status, body),
            }
        }
        retries.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Outcome::Refused(0, json!("no definitive answer after 100 attempts"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_an_instance_mid_sale_oversells_nothing_and_loses_no_paid_order() {
    let db = TestDatabase::postgres().await;
    let redis = TestRedis::new();
    let cluster = Cluster::up(&db.url, &redis);
    let http = client();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();

    let response = http
        .post(format!("{}/admin/products", cluster.lb))
        .bearer_auth(ADMIN)
        .json(&json!({
            "sku": format!("SKU-{}", uuid::Uuid::new_v4().simple()),
            "name": "Flash phone",
            "price_vnd": 1_000_000,
            "stock": STOCK,
            // Above one, so that only the Idempotency-Key keeps a retry from buying twice.
            "per_customer_limit": 5,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let product = response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();

    // The crowd arrives over about a second and a half; instance 1 dies once a quarter of the stock is
    // sold, with purchases in flight on it.
    let tokens = BuyerTokens::new(JWT_SECRET.as_bytes());
    let won = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicUsize::new(0));
    let mut buyers = JoinSet::new();
    for n in 0..CROWD {
        let customer = format!("buyer-{n}");
        let token = tokens
            .mint(
                &CustomerId::parse(&customer).unwrap(),
                time::Duration::hours(1),
            )
            .unwrap();
        let (http, lb, won, retries) = (
            http.clone(),
            cluster.lb.clone(),
            won.clone(),
            retries.clone(),
        );
        buyers.spawn(async move {
            tokio::time::sleep(Duration::from_millis(10 * n as u64)).await;
            let outcome = buy(http, lb, token, customer, product, retries).await;
            if matches!(outcome, Outcome::Won { .. }) {
                won.fetch_add(1, Ordering::SeqCst);
            }
            outcome
        });
    }
    assert!(
        eventually(Duration::from_secs(60), || {
            let won = won.load(Ordering::SeqCst);
            async move { won >= (STOCK / 4) as usize }
        })
        .await,
        "the sale did not start:\n{}",
        cluster.logs()
    );
    // Purchases pile up behind a lock on the stock row, so that instance 1 dies holding purchases its
    // gate admitted and its batches had not yet written: more than one instance's share of batches
    // waiting on the lock means both instances are holding some.
    let mut lock = StockLock::take(Backend::Postgres, &db.url, product).await;
    let waiting = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    assert!(
        eventually(Duration::from_secs(60), || async {
            waiting().await > BATCHES_PER_INSTANCE
        })
        .await,
        "purchases did not queue on both instances:\n{}",
        cluster.logs()
    );
    cluster.kill(1);
    let won_before_kill = won.load(Ordering::SeqCst);
    lock.release().await;
    let mut outcomes = Vec::new();
    while let Some(outcome) = buyers.join_next().await {
        outcomes.push(outcome.unwrap());
    }
    assert!(!cluster.running(1), "instance 1 was killed");
    assert!(cluster.running(2));

    let refused: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Refused(status, body) => Some(format!("{status} {body}")),
            _ => None,
        })
        .collect();
    assert!(refused.is_empty(), "unexpected answers: {refused:?}");
    let winners: Vec<(&str, &str, &str, &str)> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Won {
                customer,
                key,
                order_id,
                payment_url,
            } => Some((
                customer.as_str(),
                key.as_str(),
                order_id.as_str(),
                payment_url.as_str(),
            )),
            _ => None,
        })
        .collect();
    eprintln!(
        "{} of {STOCK} units sold, {won_before_kill} before instance 1 was killed; {} retries",
        winners.len(),
        retries.load(Ordering::SeqCst)
    );
    assert!(
        retries.load(Ordering::SeqCst) > 0,
        "the kill cut purchases in flight, and their buyers retried"
    );
    assert!(
        winners.len() > won_before_kill,
        "the sale went on after the kill"
    );
    assert!(winners.len() as i64 <= STOCK, "{} orders", winners.len());

    // Every winner pays; the simulator drops a third of the IPNs, left to the surviving reconciler.
    let faults = http
        .put(format!("{}/sim/faults", cluster.sim))
        .json(&json!({"ipn_drop_rate": 0.33}))
        .send()
        .await
        .unwrap();
    assert!(faults.status().is_success());
    let mut paid_at_gateway = HashSet::new();
    for (_, _, order_id, payment_url) in &winners {
        let paid = http
            .post(format!("{}/sim/pay", cluster.sim))
            .json(&json!({"url": payment_url, "outcome": "success"}))
            .send()
            .await
            .unwrap();
        assert!(paid.status().is_success());
        let paid = paid.json::<Value>().await.unwrap();
        assert_eq!(paid["response_code"], "00");
        paid_at_gateway.insert(order_id.to_string());
    }

    let statuses = || async {
        sqlx::query_as::<_, (String, String)>(
            "SELECT id::text, status FROM orders WHERE product_id = $1",
        )
        .bind(product)
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect::<HashMap<String, String>>()
    };
    let all_paid = eventually(Duration::from_secs(90), || async {
        let statuses = statuses().await;
        paid_at_gateway
            .iter()
            .all(|id| statuses.get(id).map(String::as_str) == Some("paid"))
    })
    .await;
    let statuses = statuses().await;
    let lost: Vec<_> = paid_at_gateway
        .iter()
        .filter(|id| statuses.get(*id).map(String::as_str) != Some("paid"))
        .map(|id| (id, statuses.get(id)))
        .collect();
    assert!(
        all_paid && lost.is_empty(),
        "paid at the gateway, not in the database: {lost:?}\n{}",
        cluster.logs()
    );

    // No oversell: the database's counters and the orders agree with the stock.
    let (total, reserved, sold): (i64, i64, i64) =
        sqlx::query_as("SELECT total, reserved, sold FROM inventory WHERE product_id = $1")
            .bind(product)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(total, STOCK);
    assert!(sold + reserved <= STOCK);
    let units: i64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(quantity), 0)::bigint FROM orders \
         WHERE product_id = $1 AND status IN ('pending_payment', 'paid')",
    )
    .bind(product)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(units <= STOCK, "{units} units sold of {STOCK}");
    assert_eq!(units, winners.len() as i64, "every order was answered 201");

    // One order per Idempotency-Key: each buyer, allowed five, used one key and holds one order, the
    // very one its 201 named.
    let per_customer: Vec<(String, String)> =
        sqlx::query_as("SELECT o.customer_id, o.id::text FROM orders o WHERE o.product_id = $1")
            .bind(product)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(per_customer.len(), winners.len(), "one order per buyer");
    for (customer, key, order_id, _) in &winners {
        let recorded: String = sqlx::query_scalar(
            "SELECT order_id::text FROM idempotency WHERE customer_id = $1 AND idempotency_key = $2",
        )
        .bind(customer)
        .bind(key)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(&recorded, order_id);
    }

    let audit = Command::new(env!("CARGO_BIN_EXE_flashgate"))
        .arg("audit")
        .env("FLASHGATE_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(
        audit.status.success(),
        "flashgate audit:\n{}",
        String::from_utf8_lossy(&audit.stdout)
    );
    pool.close().await;
}
