//! The gated strategy end to end: thousands of buyers over HTTP against several instances, with
//! Redis flushed or killed in the middle of the sale; per-customer quota and idempotency through the
//! gate; stock released by the state machine and by restocks reaching the gate.

use super::{gated_sale, on};
use flashgate_testkit::{
    Backend, Instance, RedisProcess, Spawn, StockLock, TestDatabase, TestRedis, client, eventually,
    manual_clock,
};
use futures_util::future::join_all;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub(super) const UNITS: i64 = 50;
const BUYERS: usize = 2000;

/// Answers of one sale.
#[derive(Debug, Default)]
pub(super) struct Sale {
    pub(super) created: usize,
    sold_out: usize,
    pub(super) unexpected: Vec<(u16, Value)>,
}

/// Something done to Redis while `IN_FLIGHT` admitted purchases wait on the database.
pub(super) struct Disruption {
    pub(super) database_url: String,
    pub(super) act: Box<dyn FnOnce() + Send>,
}

/// Purchases admitted by the gate but not yet written when a disruption strikes.
const IN_FLIGHT: usize = 30;

/// `BUYERS` distinct customers buy one unit each, spread over the instances. With a disruption, the
/// product's stock row is locked first, so that the first `IN_FLIGHT` buyers are admitted by the gate
/// and then wait on the database; the disruption strikes, the other buyers arrive, and the row is
/// unlocked. Then single buyers keep coming until the database has no unit left, so that units a
/// disruption might have stranded are found: the gate may be more pessimistic than the database for
/// a moment (a sold-out flag that outlived a rebuild, units the keeper has yet to heal), never for
/// good, and never less.
pub(super) async fn sale(
    instances: &[Arc<Instance>],
    product: i64,
    disruption: Option<Disruption>,
) -> Sale {
    let spawn_buyer = |i: usize| {
        let instance = Arc::clone(&instances[i % instances.len()]);
        tokio::spawn(async move {
            let (customer, key) = (format!("buyer-{i}"), format!("key-{i}"));
            instance.api.buy(&customer, &key, product, 1).await.parts()
        })
    };
    let mut buyers = Vec::new();
    if let Some(disruption) = disruption {
        let mut lock = StockLock::take(Backend::Postgres, &disruption.database_url, product).await;
        buyers.extend((0..IN_FLIGHT).map(spawn_buyer));
        let gate = instances[0].state.shared.gate.as_ref().unwrap();
        let left = UNITS - IN_FLIGHT as i64;
        let admitted = eventually(Duration::from_secs(60), || async {
            gate.available(flashgate_core::ProductId(product)).await == Some(left)
        })
        .await;
        assert!(
            admitted,
            "the first buyers were admitted and wait on the database"
        );
        tokio::task::spawn_blocking(disruption.act).await.unwrap();
        buyers.extend((IN_FLIGHT..BUYERS).map(spawn_buyer));
        // Let the newcomers meet the disrupted gate before the waiting writes go through.
        tokio::time::sleep(Duration::from_millis(200)).await;
        lock.release().await;
    } else {
        buyers.extend((0..BUYERS).map(spawn_buyer));
    }
    let answers = join_all(buyers).await;
    let mut sale = Sale::default();
    for answer in answers {
        sale.tally(answer.unwrap());
    }
    sale.sell_out(instances, product, "late").await;
    sale
}

impl Sale {
    fn tally(&mut self, (status, body): (u16, Value)) {
        match (status, body["code"].as_str()) {
            (201, _) => self.created += 1,
            (409, Some("sold_out")) => self.sold_out += 1,
            _ => self.unexpected.push((status, body)),
        }
    }

    /// Single buyers (`<prefix>-<i>`, round-robin over the instances) until the database has no unit
    /// left: where the gate is more pessimistic than the database for a moment (a sold-out flag whose
    /// reopen message was lost, a rebuild the keeper has yet to retry), they are told sold out and come
    /// again.
    pub(super) async fn sell_out(
        &mut self,
        instances: &[Arc<Instance>],
        product: i64,
        prefix: &str,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut i = 0;
        while instances[0].stock(product).await.available > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "units stayed unsold: {:?}",
                instances[0].stock(product).await
            );
            let instance = &instances[i % instances.len()];
            let answer = instance
                .api
                .buy(
                    &format!("{prefix}-{i}"),
                    &format!("{prefix}-{i}"),
                    product,
                    1,
                )
                .await
                .parts();
            if answer.0 == 409 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            self.tally(answer);
            i += 1;
        }
    }
}

pub(super) async fn assert_sold_exactly(
    instance: &Instance,
    product: i64,
    sale: &Sale,
    units: i64,
) {
    assert!(sale.unexpected.is_empty(), "{:?}", sale.unexpected);
    assert_eq!(sale.created as i64, units, "units sold");
    let stock = instance.stock(product).await;
    assert_eq!((stock.available, stock.reserved, stock.sold), (0, units, 0));
    instance.assert_audit_clean().await;
}

fn assert_never_over_admitted(instances: &[Arc<Instance>]) {
    for instance in instances {
        let gate = instance.state.shared.gate.as_ref().unwrap();
        assert_eq!(
            gate.stats().over_admitted.load(Ordering::SeqCst),
            0,
            "the gate admitted a unit the database did not have"
        );
    }
}

pub(super) async fn instances(n: usize, spawn: Spawn, db: &TestDatabase) -> Vec<Arc<Instance>> {
    let mut all = Vec::new();
    for _ in 0..n {
        all.push(Arc::new(spawn.instance(db).await));
    }
    all
}

/// Instances sharing the fast path: three on Redis, one on the in-process twins.
async fn sharing(redis: Option<&TestRedis>) -> (Vec<Arc<Instance>>, TestDatabase) {
    let spawn = on(redis, gated_sale);
    let db = spawn.backend().database().await;
    let n = if redis.is_some() { 3 } else { 1 };
    (instances(n, spawn, &db).await, db)
}

on_each_fast_path!(
    gated_never_oversells,
    quota_and_idempotency_hold,
    a_winners_retry_after_the_sell_out_replays_the_order,
    released_and_restocked_units_reach_the_gate,
    units_stranded_in_the_gate_are_sold_after_all,
);

async fn gated_never_oversells(redis: Option<&TestRedis>) {
    let (all, _db) = sharing(redis).await;
    let product = all[0].api.product(UNITS, Some(2)).await;
    let sale = sale(&all, product, None).await;
    assert_sold_exactly(&all[0], product, &sale, UNITS).await;
    assert_never_over_admitted(&all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gated_never_oversells_when_redis_is_flushed_mid_sale() {
    let db = TestDatabase::postgres().await;
    let redis = RedisProcess::start().await;
    let spawn = gated_sale(Backend::Postgres).private_redis(&redis);
    let all = instances(3, spawn, &db).await;
    let product = all[0].api.product(UNITS, Some(2)).await;
    let url = redis.url();
    let flush = Disruption {
        database_url: db.url.clone(),
        act: Box::new(move || {
            let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
            redis::cmd("FLUSHALL").query::<()>(&mut conn).unwrap();
        }),
    };
    let sale = sale(&all, product, Some(flush)).await;
    assert_sold_exactly(&all[0], product, &sale, UNITS).await;
    assert_never_over_admitted(&all);
    let rebuilds: u64 = all
        .iter()
        .map(|i| {
            let gate = i.state.shared.gate.as_ref().unwrap();
            gate.stats().rebuilds.load(Ordering::SeqCst)
        })
        .sum();
    // Once when the product was created, again after the flush.
    assert!(
        rebuilds >= 2,
        "the gate was rebuilt after the flush ({rebuilds})"
    );
    drop(redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gated_never_oversells_when_redis_is_killed_mid_sale_and_resumes_after() {
    let db = TestDatabase::postgres().await;
    let redis = Arc::new(tokio::sync::Mutex::new(RedisProcess::start().await));
    let spawn = gated_sale(Backend::Postgres).private_redis(&*redis.lock().await);
    let all = instances(3, spawn, &db).await;
    let http = client();
    let product = all[0].api.product(UNITS, Some(2)).await;
    let killer = Arc::clone(&redis);
    let kill = Disruption {
        database_url: db.url.clone(),
        act: Box::new(move || killer.blocking_lock().kill()),
    };
    let sale = sale(&all, product, Some(kill)).await;
    assert_sold_exactly(&all[0], product, &sale, UNITS).await;
    assert_never_over_admitted(&all);

    // Degraded, not down: the database answers.
    let ready = http
        .get(format!("{}/readyz", all[1].api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["checks"]["redis"]["status"], "degraded");

    // Redis comes back empty: each keeper notices and rebuilds every gate from the database.
    redis.lock().await.restart().await;
    for instance in &all {
        let recovered = eventually(Duration::from_secs(30), || async {
            !instance.keeper.run_once().await.unwrap().degraded
        })
        .await;
        assert!(recovered, "the keeper saw Redis come back");
        let gate = instance.state.shared.gate.as_ref().unwrap();
        assert_eq!(
            gate.available(flashgate_core::ProductId(product)).await,
            Some(0)
        );
    }
    let fallbacks_before: u64 = all.iter().map(|i| fallbacks(i)).sum();
    all[2].api.restock(product, 10).await.assert_status(200);
    for i in 0..10 {
        let (status, body) = all[i % 3]
            .api
            .buy(&format!("after-{i}"), &format!("after-{i}"), product, 1)
            .await
            .parts();
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = all[0]
        .api
        .buy("after-x", "after-x", product, 1)
        .await
        .parts();
    assert_eq!((status, body["code"].as_str()), (409, Some("sold_out")));
    // The fast path carried those sales: no fallback, and the gate knows they are gone.
    assert_eq!(
        all.iter().map(|i| fallbacks(i)).sum::<u64>(),
        fallbacks_before
    );
    let gate = all[1].state.shared.gate.as_ref().unwrap();
    assert_eq!(
        gate.available(flashgate_core::ProductId(product)).await,
        Some(0)
    );
    all[0].assert_audit_clean().await;
    assert_never_over_admitted(&all);
}

pub(super) fn fallbacks(instance: &Instance) -> u64 {
    let gate = instance.state.shared.gate.as_ref().unwrap();
    gate.stats().fallbacks.load(Ordering::SeqCst)
}

/// One customer's many concurrent requests: exactly the limit with distinct keys, exactly one order
/// with one key (every answer the same), and a conflict for the key reused with another body.
async fn quota_and_idempotency_hold(redis: Option<&TestRedis>) {
    let (all, _db) = sharing(redis).await;
    let product = all[0].api.product(100, Some(3)).await;
    let distinct = (0..60).map(|i| {
        let instance = Arc::clone(&all[i % all.len()]);
        async move {
            instance
                .api
                .buy("greedy", &format!("k{i}"), product, 1)
                .await
                .parts()
        }
    });
    let answers = join_all(distinct).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let limited = answers
        .iter()
        .filter(|(s, b)| *s == 403 && b["code"] == "limit_exceeded")
        .count();
    assert_eq!((created, limited), (3, 57), "{answers:?}");

    let same = (0..60).map(|i| {
        let instance = Arc::clone(&all[i % all.len()]);
        async move {
            instance
                .api
                .buy("retrier", "one-key", product, 2)
                .await
                .parts()
        }
    });
    let answers = join_all(same).await;
    assert!(answers.iter().all(|(s, _)| *s == 201), "{answers:?}");
    let first = &answers[0].1;
    assert!(answers.iter().all(|(_, b)| b == first));
    let (status, body) = all[0]
        .api
        .buy("retrier", "one-key", product, 1)
        .await
        .parts();
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("idempotency_conflict"))
    );

    let stock = all[0].stock(product).await;
    assert_eq!((stock.available, stock.reserved), (95, 5));
    all[0].assert_audit_clean().await;
    assert_never_over_admitted(&all);
}

/// Units released by the state machine, and restocked ones, reopen a sold-out product.
/// Once a product is sold out, the crowd is answered from memory, but a winner's retry, on any
/// instance, still gets its order back, also after Redis lost the keys and the gate was rebuilt.
async fn a_winners_retry_after_the_sell_out_replays_the_order(redis: Option<&TestRedis>) {
    let (all, _db) = sharing(redis).await;
    let product = all[0].api.product(1, Some(1)).await;
    let (status, won) = all[0].api.buy("winner", "w-1", product, 1).await.parts();
    assert_eq!(status, 201, "{won}");
    for instance in &all {
        for round in 0..3 {
            let late = format!("late-{round}");
            let (status, body) = instance.api.buy(&late, "l-1", product, 1).await.parts();
            assert_eq!((status, body["code"].as_str()), (409, Some("sold_out")));
            let (status, body) = instance.api.buy("winner", "w-1", product, 1).await.parts();
            assert_eq!((status, &body), (201, &won));
            // A new purchase by the winner is refused: nothing is left.
            let (status, body) = instance.api.buy("winner", "w-2", product, 1).await.parts();
            assert_eq!((status, body["code"].as_str()), (409, Some("sold_out")));
        }
    }
    if let Some(redis) = redis {
        redis.delete_all_keys();
        for instance in &all {
            let (status, body) = instance.api.buy("winner", "w-1", product, 1).await.parts();
            assert_eq!((status, &body), (201, &won));
            let (status, body) = instance.api.buy("late-9", "l-9", product, 1).await.parts();
            assert_eq!((status, body["code"].as_str()), (409, Some("sold_out")));
        }
    }
    assert_never_over_admitted(&all);
    all[0].assert_audit_clean().await;
}

async fn released_and_restocked_units_reach_the_gate(redis: Option<&TestRedis>) {
    let clock = manual_clock();
    let spawn = on(redis, gated_sale).clock(clock.clone());
    let db = spawn.backend().database().await;
    let instance = spawn.instance(&db).await;
    let product = instance.api.product(1, None).await;
    assert_eq!(instance.api.buy("a", "a1", product, 1).await.status, 201);
    let (status, body) = instance.api.buy("b", "b1", product, 1).await.parts();
    assert_eq!((status, body["code"].as_str()), (409, Some("sold_out")));

    clock.advance(time::Duration::hours(1));
    let step = instance.expirer.run_once().await.unwrap();
    assert_eq!(step.expired, 1);
    assert_eq!(instance.api.buy("b", "b2", product, 1).await.status, 201);
    assert_eq!(instance.api.buy("c", "c1", product, 1).await.status, 409);

    instance.api.restock(product, 2).await.assert_status(200);
    assert_eq!(instance.api.buy("c", "c2", product, 1).await.status, 201);
    assert_eq!(instance.api.buy("d", "d1", product, 1).await.status, 201);
    assert_eq!(instance.api.buy("e", "e1", product, 1).await.status, 409);
    instance.assert_audit_clean().await;
    assert_never_over_admitted(&[Arc::new(instance)]);
}

/// Units an admission took and never wrote (its instance died on the way) are found by the keeper
/// and sold after all.
async fn units_stranded_in_the_gate_are_sold_after_all(redis: Option<&TestRedis>) {
    let spawn = on(redis, gated_sale).set("gate.keeper_interval_ms", 3_600_000);
    let db = spawn.backend().database().await;
    let instance = spawn.instance(&db).await;
    let product = instance.api.product(2, None).await;
    let gate = instance.state.shared.gate.as_ref().unwrap();
    for i in 0..2 {
        let ticket = flashgate_core::checkout::Ticket {
            product_id: flashgate_core::ProductId(product),
            customer: flashgate_core::CustomerId::parse(&format!("ghost-{i}")).unwrap(),
            key: flashgate_core::IdempotencyKey::parse("lost").unwrap(),
            quantity: flashgate_core::Quantity::parse(1).unwrap(),
            at: time::OffsetDateTime::now_utc(),
        };
        let answer = flashgate_core::checkout::AdmissionGate::admit(gate.as_ref(), &ticket).await;
        assert!(matches!(
            answer,
            Ok(flashgate_core::checkout::GateAnswer::Admitted { .. })
        ));
    }
    let (status, body) = instance.api.buy("a", "a", product, 1).await.parts();
    assert_eq!((status, body["code"].as_str()), (409, Some("sold_out")));
    instance.keeper.run_once().await.unwrap();
    instance.keeper.run_once().await.unwrap();
    assert_eq!(instance.api.buy("a", "a2", product, 1).await.status, 201);
    assert_eq!(instance.api.buy("b", "b", product, 1).await.status, 201);
    assert_eq!(instance.api.buy("c", "c", product, 1).await.status, 409);
    instance.assert_audit_clean().await;
}

/// A purchase whose request timed out before its batch was written is left out and its admission
/// given back; one whose batch was already being written stands, and its retry replays it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_abandoned_before_its_batch_is_written_is_left_out() {
    let db = TestDatabase::postgres().await;
    let spawn = gated_sale(Backend::Postgres)
        .set("http.request_timeout_ms", 300)
        .set("gate.max_batch", 1)
        .set("gate.concurrent_batches", 1);
    let instance = Arc::new(spawn.instance(&db).await);
    let http = client();
    let product = instance.api.product(10, None).await;
    let gate = instance.state.shared.gate.as_ref().unwrap();
    let left = |n: i64| async move {
        let p = flashgate_core::ProductId(product);
        eventually(Duration::from_secs(30), || async {
            gate.available(p).await == Some(n)
        })
        .await
    };
    let mut lock = StockLock::take(Backend::Postgres, &db.url, product).await;
    let send = |customer: &'static str| {
        let instance = Arc::clone(&instance);
        tokio::spawn(async move {
            instance
                .api
                .buy(customer, customer, product, 1)
                .await
                .status
        })
    };
    // The first batch waits on the locked row; the second waits for the only writer.
    let writing = send("writing");
    assert!(left(9).await);
    let queued = send("queued");
    assert!(left(8).await);
    assert_eq!(writing.await.unwrap(), 503);
    assert_eq!(queued.await.unwrap(), 503);
    lock.release().await;
    assert!(left(9).await, "the queued admission was given back");
    let stock = instance.stock(product).await;
    assert_eq!((stock.available, stock.reserved), (9, 1));

    let retried = http
        .post(format!("{}/orders", instance.api.base))
        .bearer_auth(instance.api.token("writing"))
        .header("idempotency-key", "writing")
        .json(&json!({"product_id": product, "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 201);
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    assert_eq!(
        instance
            .api
            .buy("queued", "queued", product, 1)
            .await
            .status,
        201
    );
    instance.assert_audit_clean().await;
}
