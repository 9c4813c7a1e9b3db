//! The admission gate: one behavioural suite, run on the in-process gate and on three Redis gate
//! instances sharing one Redis.

use std::collections::HashMap;
use std::sync::Arc;

use flashgate_shared_state::{
    Admission, AdmitRequest, CustomerCount, Fenced, Gate, GateConfig, GateProduct, InProcessGate,
    RedisGate, SharedStateError,
};

use crate::common::TestRedis;

pub(crate) const P: i64 = 42;
pub(crate) const NOW: i64 = 1_750_000_000_000;

pub(crate) fn product(available: i64) -> GateProduct {
    GateProduct {
        product_id: P,
        available,
        per_customer_limit: None,
        sale_starts_at_ms: None,
        sale_ends_at_ms: None,
    }
}

pub(crate) fn req(customer: &str, key: &str, quantity: i64) -> AdmitRequest {
    AdmitRequest {
        product_id: P,
        customer: customer.to_owned(),
        idempotency_key: key.to_owned(),
        quantity,
        now_ms: NOW,
    }
}

type Gates = Vec<Arc<dyn Gate>>;

async fn admits_until_sold_out(g: Gates) {
    g[0].load(&product(3), &[]).await.unwrap();
    for (i, left) in [2, 1, 0].into_iter().enumerate() {
        let r = req(&format!("c{i}"), "k", 1);
        assert_eq!(
            g[0].admit(&r).await.unwrap(),
            Admission::Admitted { remaining: left }
        );
    }
    assert_eq!(
        g[0].admit(&req("late", "k", 1)).await.unwrap(),
        Admission::SoldOut
    );
    assert_eq!(g[0].available(P).await.unwrap(), Some(0));
}

async fn a_larger_order_than_what_is_left_is_refused_but_a_smaller_one_fits(g: Gates) {
    g[0].load(&product(3), &[]).await.unwrap();
    assert_eq!(
        g[0].admit(&req("a", "k", 5)).await.unwrap(),
        Admission::SoldOut
    );
    assert_eq!(
        g[0].admit(&req("b", "k", 3)).await.unwrap(),
        Admission::Admitted { remaining: 0 }
    );
}

async fn per_customer_limit_counts_across_orders_and_snapshot_holdings(g: Gates) {
    let mut p = product(100);
    p.per_customer_limit = Some(3);
    g[0].load(&p, &[("held".to_owned(), 2)]).await.unwrap();
    assert_eq!(
        g[0].admit(&req("held", "k1", 2)).await.unwrap(),
        Admission::LimitExceeded
    );
    assert_eq!(
        g[0].admit(&req("held", "k2", 1)).await.unwrap(),
        Admission::Admitted { remaining: 99 }
    );
    assert_eq!(
        g[1].admit(&req("held", "k3", 1)).await.unwrap(),
        Admission::LimitExceeded
    );
    assert_eq!(
        g[0].admit(&req("fresh", "k1", 3)).await.unwrap(),
        Admission::Admitted { remaining: 96 }
    );
}

async fn a_repeated_idempotency_key_is_admitted_once(g: Gates) {
    g[0].load(&product(10), &[]).await.unwrap();
    assert_eq!(
        g[0].admit(&req("a", "same", 2)).await.unwrap(),
        Admission::Admitted { remaining: 8 }
    );
    assert_eq!(
        g[1].admit(&req("a", "same", 2)).await.unwrap(),
        Admission::Duplicate
    );
    // Keys are scoped to the customer.
    assert_eq!(
        g[2].admit(&req("b", "same", 2)).await.unwrap(),
        Admission::Admitted { remaining: 6 }
    );
    assert_eq!(g[0].available(P).await.unwrap(), Some(6));
}

async fn customer_and_key_cannot_be_spliced_into_another_pair(g: Gates) {
    g[0].load(&product(10), &[]).await.unwrap();
    assert!(matches!(
        g[0].admit(&req("a:b", "c", 1)).await.unwrap(),
        Admission::Admitted { .. }
    ));
    assert!(matches!(
        g[0].admit(&req("a", "b:c", 1)).await.unwrap(),
        Admission::Admitted { .. }
    ));
}

async fn outside_the_sale_window_nothing_is_admitted(g: Gates) {
    let mut p = product(10);
    p.sale_starts_at_ms = Some(NOW + 1000);
    p.sale_ends_at_ms = Some(NOW + 2000);
    g[0].load(&p, &[]).await.unwrap();
    let at = |now_ms: i64, key: &str| AdmitRequest {
        now_ms,
        ..req("a", key, 1)
    };
    assert_eq!(
        g[0].admit(&at(NOW, "1")).await.unwrap(),
        Admission::SaleNotActive
    );
    assert!(matches!(
        g[0].admit(&at(NOW + 1000, "2")).await.unwrap(),
        Admission::Admitted { .. }
    ));
    assert_eq!(
        g[0].admit(&at(NOW + 2000, "3")).await.unwrap(),
        Admission::SaleNotActive
    );
    assert_eq!(g[0].available(P).await.unwrap(), Some(9));
}

async fn an_unknown_product_is_not_loaded(g: Gates) {
    assert_eq!(
        g[0].admit(&req("a", "k", 1)).await.unwrap(),
        Admission::NotLoaded
    );
    assert_eq!(g[0].available(P).await.unwrap(), None);
    g[0].give_back(P, "a", 1).await.unwrap();
    g[0].release(&req("a", "k", 1)).await.unwrap();
    assert_eq!(g[0].available(P).await.unwrap(), None);
}

async fn release_returns_units_quota_and_key_once(g: Gates) {
    let mut p = product(5);
    p.per_customer_limit = Some(2);
    g[0].load(&p, &[]).await.unwrap();
    let r = req("a", "k", 2);
    assert!(matches!(
        g[0].admit(&r).await.unwrap(),
        Admission::Admitted { .. }
    ));
    g[1].release(&r).await.unwrap();
    g[2].release(&r).await.unwrap();
    assert_eq!(g[0].available(P).await.unwrap(), Some(5));
    // The key is free again and so is the quota.
    assert_eq!(
        g[0].admit(&r).await.unwrap(),
        Admission::Admitted { remaining: 3 }
    );
}

async fn release_after_a_rebuild_gives_nothing_back(g: Gates) {
    g[0].load(&product(5), &[]).await.unwrap();
    let r = req("a", "k", 2);
    assert!(matches!(
        g[0].admit(&r).await.unwrap(),
        Admission::Admitted { .. }
    ));
    // The database snapshot already shows the failed order's units as available.
    g[0].load(&product(5), &[]).await.unwrap();
    g[0].release(&r).await.unwrap();
    assert_eq!(g[0].available(P).await.unwrap(), Some(5));
}

async fn give_back_returns_units_and_quota(g: Gates) {
    let mut p = product(2);
    p.per_customer_limit = Some(2);
    g[0].load(&p, &[]).await.unwrap();
    assert!(matches!(
        g[0].admit(&req("a", "k1", 2)).await.unwrap(),
        Admission::Admitted { remaining: 0 }
    ));
    g[1].give_back(P, "a", 2).await.unwrap();
    assert_eq!(g[0].available(P).await.unwrap(), Some(2));
    assert_eq!(
        g[0].admit(&req("a", "k2", 2)).await.unwrap(),
        Admission::Admitted { remaining: 0 }
    );
}

async fn load_keeps_idempotency_keys_and_replaces_holdings(g: Gates) {
    let mut p = product(10);
    p.per_customer_limit = Some(2);
    g[0].load(&p, &[]).await.unwrap();
    assert!(matches!(
        g[0].admit(&req("a", "k", 2)).await.unwrap(),
        Admission::Admitted { .. }
    ));
    // The order was cancelled in the database: the snapshot shows nothing held.
    g[0].load(&p, &[]).await.unwrap();
    assert_eq!(
        g[0].admit(&req("a", "k", 1)).await.unwrap(),
        Admission::Duplicate
    );
    assert!(matches!(
        g[0].admit(&req("a", "k2", 2)).await.unwrap(),
        Admission::Admitted { remaining: 8 }
    ));
}

async fn bad_quantities_and_snapshots_are_rejected(g: Gates) {
    g[0].load(&product(10), &[]).await.unwrap();
    for q in [0, -1] {
        assert!(matches!(
            g[0].admit(&req("a", "k", q)).await,
            Err(SharedStateError::Invalid(_))
        ));
        assert!(matches!(
            g[0].give_back(P, "a", q).await,
            Err(SharedStateError::Invalid(_))
        ));
    }
    assert!(matches!(
        g[0].load(&product(-1), &[]).await,
        Err(SharedStateError::Invalid(_))
    ));
    assert_eq!(g[0].available(P).await.unwrap(), Some(10));
}

/// 2,000 buyers (400 customers, 5 tries each, limit 2) race for 50 units across the instances.
async fn concurrent_buyers_never_oversell_or_exceed_their_quota(g: Gates) {
    let mut p = product(50);
    p.per_customer_limit = Some(2);
    g[0].load(&p, &[]).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..2000 {
        let gate = Arc::clone(&g[i % g.len()]);
        tasks.spawn(async move {
            let customer = format!("c{}", i % 400);
            let r = req(&customer, &format!("k{i}"), 1);
            (customer, gate.admit(&r).await.unwrap())
        });
    }
    let mut admitted_by: HashMap<String, i64> = HashMap::new();
    let mut admitted = 0;
    while let Some(done) = tasks.join_next().await {
        let (customer, admission) = done.unwrap();
        if let Admission::Admitted { .. } = admission {
            admitted += 1;
            *admitted_by.entry(customer).or_default() += 1;
        }
    }
    assert_eq!(admitted, 50);
    assert!(admitted_by.values().all(|n| *n <= 2));
    assert_eq!(g[0].available(P).await.unwrap(), Some(0));
}

async fn one_customer_hammering_gets_exactly_the_limit(g: Gates) {
    let mut p = product(1000);
    p.per_customer_limit = Some(3);
    g[0].load(&p, &[]).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..300 {
        let gate = Arc::clone(&g[i % g.len()]);
        tasks.spawn(async move {
            gate.admit(&req("greedy", &format!("k{i}"), 1))
                .await
                .unwrap()
        });
    }
    let results = tasks.join_all().await;
    let admitted = results
        .iter()
        .filter(|a| matches!(a, Admission::Admitted { .. }))
        .count();
    assert_eq!(admitted, 3);
    assert_eq!(
        results.len() - admitted,
        results
            .iter()
            .filter(|a| **a == Admission::LimitExceeded)
            .count()
    );
    assert_eq!(g[0].available(P).await.unwrap(), Some(997));
}

async fn one_request_retried_concurrently_is_admitted_once(g: Gates) {
    g[0].load(&product(1000), &[]).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..500 {
        let gate = Arc::clone(&g[i % g.len()]);
        tasks.spawn(async move { gate.admit(&req("a", "retry", 2)).await.unwrap() });
    }
    let results = tasks.join_all().await;
    let admitted = results
        .iter()
        .filter(|a| matches!(a, Admission::Admitted { .. }))
        .count();
    assert_eq!(admitted, 1);
    assert_eq!(
        results
            .iter()
            .filter(|a| **a == Admission::Duplicate)
            .count(),
        499
    );
    assert_eq!(g[0].available(P).await.unwrap(), Some(998));
}

async fn every_answer_names_the_epoch_it_was_given_under(g: Gates) {
    assert_eq!(
        g[0].admit_fenced(&req("a", "k0", 1)).await.unwrap(),
        Fenced {
            admission: Admission::NotLoaded,
            epoch: 0,
            holder: false
        }
    );
    assert_eq!(g[0].epoch(P).await.unwrap(), None);
    g[0].load_fenced(&product(1), &[], 77).await.unwrap();
    assert_eq!(g[1].epoch(P).await.unwrap(), Some(77));
    assert_eq!(
        g[1].admit_fenced(&req("a", "k1", 1)).await.unwrap(),
        Fenced {
            admission: Admission::Admitted { remaining: 0 },
            epoch: 77,
            holder: false
        }
    );
    g[2].load_fenced(&product(1), &[], 78).await.unwrap();
    assert_eq!(
        g[2].admit_fenced(&req("a", "k2", 1)).await.unwrap(),
        Fenced {
            admission: Admission::Admitted { remaining: 0 },
            epoch: 78,
            // `a` bought before this call, under the last epoch.
            holder: true
        }
    );
}

/// A request admitted before a rebuild and retried after it holds the key under the new epoch;
/// undoing the first admission must not undo the second.
/// A refusal tells whether the customer holds units: a holder's request may be the retry of a sale
/// (its answer must be looked up), anyone else's refusal is final. The same once the product is
/// flagged sold out and answered from memory, on the instance that emptied it and on others.
async fn a_refusal_says_whether_the_customer_holds_units(g: Gates) {
    g[0].load(&product(1), &[("earlier".to_owned(), 2)])
        .await
        .unwrap();
    let won = g[0].admit_fenced(&req("winner", "k1", 1)).await.unwrap();
    assert_eq!(won.admission, Admission::Admitted { remaining: 0 });
    assert!(!won.holder);
    for gate in &g {
        for _ in 0..3 {
            let late = gate.admit_fenced(&req("late", "k1", 1)).await.unwrap();
            assert_eq!((late.admission, late.holder), (Admission::SoldOut, false));
            let retry = gate.admit_fenced(&req("winner", "k1", 1)).await.unwrap();
            assert_eq!(
                (retry.admission, retry.holder),
                (Admission::Duplicate, true)
            );
            let again = gate.admit_fenced(&req("winner", "k2", 1)).await.unwrap();
            assert_eq!((again.admission, again.holder), (Admission::SoldOut, true));
            let before = gate.admit_fenced(&req("earlier", "k9", 1)).await.unwrap();
            assert_eq!(
                (before.admission, before.holder),
                (Admission::SoldOut, true)
            );
        }
    }
}

async fn a_fenced_release_leaves_a_later_admission_of_the_same_key_alone(g: Gates) {
    g[0].load_fenced(&product(5), &[], 1).await.unwrap();
    let r = req("a", "k", 2);
    g[0].admit(&r).await.unwrap();
    g[0].release(&r).await.unwrap();
    g[0].load_fenced(&product(5), &[], 2).await.unwrap();
    assert_eq!(
        g[1].admit_fenced(&r).await.unwrap(),
        Fenced {
            admission: Admission::Admitted { remaining: 3 },
            epoch: 2,
            // Admitted once before, even if given back since.
            holder: true
        }
    );
    g[2].release_fenced(&r, Some(1)).await.unwrap();
    assert_eq!(g[0].available(P).await.unwrap(), Some(3));
    assert_eq!(g[0].admit(&r).await.unwrap(), Admission::Duplicate);
    g[2].release_fenced(&r, Some(2)).await.unwrap();
    assert_eq!(g[0].available(P).await.unwrap(), Some(5));
}

/// Units given back under an epoch that is no longer current may already be in the snapshot.
async fn a_fenced_give_back_only_counts_under_its_epoch(g: Gates) {
    let mut p = product(0);
    p.per_customer_limit = Some(1);
    g[0].load_fenced(&p, &[("a".to_owned(), 1)], 5)
        .await
        .unwrap();
    g[1].give_back_fenced(P, "a", 1, Some(4)).await.unwrap();
    assert_eq!(g[0].available(P).await.unwrap(), Some(0));
    g[1].give_back_fenced(P, "a", 1, Some(5)).await.unwrap();
    assert_eq!(g[0].available(P).await.unwrap(), Some(1));
    assert!(matches!(
        g[2].admit(&req("a", "k", 1)).await.unwrap(),
        Admission::Admitted { remaining: 0 }
    ));
}

/// A customer's count is read with its epoch, and corrected only while neither has moved.
async fn a_customers_count_is_corrected_only_as_it_was_read(g: Gates) {
    assert_eq!(g[0].held(P, &["a"]).await.unwrap(), None, "not loaded");
    assert_eq!(
        g[0].held(P, &[]).await.unwrap(),
        None,
        "not loaded, asked for nobody"
    );
    let mut p = product(5);
    p.per_customer_limit = Some(2);
    g[0].load_fenced(&p, &[("a".to_owned(), 1)], 7)
        .await
        .unwrap();
    assert!(matches!(
        g[1].admit(&req("a", "k1", 1)).await.unwrap(),
        Admission::Admitted { .. }
    ));
    let seen = g[2].held(P, &["a"]).await.unwrap().unwrap()[0];
    assert_eq!(seen, CustomerCount { held: 2, epoch: 7 });
    // Many customers in one read (more than one script call's worth), each in its place.
    let many: Vec<String> = (0..2_500).map(|n| format!("c{n}")).collect();
    let mut asked: Vec<&str> = many.iter().map(String::as_str).collect();
    asked.insert(1_700, "a");
    assert_eq!(g[1].held(P, &[]).await.unwrap(), Some(Vec::new()));
    let counts = g[0].held(P, &asked).await.unwrap().unwrap();
    assert_eq!(counts.len(), asked.len());
    for (customer, count) in asked.iter().zip(&counts) {
        let held = if *customer == "a" { 2 } else { 0 };
        assert_eq!(*count, CustomerCount { held, epoch: 7 }, "{customer}");
    }

    let stale_epoch = CustomerCount { epoch: 6, ..seen };
    assert!(!g[0].correct_held(P, "a", stale_epoch, 1).await.unwrap());
    let stale_count = CustomerCount { held: 3, ..seen };
    assert!(!g[0].correct_held(P, "a", stale_count, 1).await.unwrap());
    assert_eq!(
        g[1].admit(&req("a", "k2", 1)).await.unwrap(),
        Admission::LimitExceeded
    );

    assert!(g[0].correct_held(P, "a", seen, 1).await.unwrap());
    assert!(!g[0].correct_held(P, "a", seen, 1).await.unwrap(), "once");
    assert!(matches!(
        g[1].admit(&req("a", "k3", 1)).await.unwrap(),
        Admission::Admitted { remaining: 3 }
    ));
    let now = g[2].held(P, &["a"]).await.unwrap().unwrap()[0];
    assert!(g[0].correct_held(P, "a", now, 0).await.unwrap());
    let after = g[2].held(P, &["a"]).await.unwrap();
    assert_eq!(after.map(|c| c[0].held), Some(0));
}

/// Each scenario on the in-process gate, on the single Redis and on the Redis Cluster.
macro_rules! gate_suite {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let gate: std::sync::Arc<dyn super::Gate> =
                        std::sync::Arc::new(super::InProcessGate::new(super::GateConfig::default()));
                    super::$name(vec![gate.clone(), gate.clone(), gate]).await;
                }
            )*
        }
        mod on_redis {
            gate_suite!(@redis new, $($name),*);
        }
        mod on_redis_cluster {
            gate_suite!(@redis cluster, $($name),*);
        }
    };
    (@redis $redis:ident, $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let redis = super::TestRedis::$redis();
                let gates = super::redis_gates(&redis, 3).await;
                super::$name(gates.into_iter().map(|g| g as std::sync::Arc<dyn super::Gate>).collect()).await;
            }
        )*
    };
}

gate_suite!(
    admits_until_sold_out,
    a_larger_order_than_what_is_left_is_refused_but_a_smaller_one_fits,
    per_customer_limit_counts_across_orders_and_snapshot_holdings,
    a_repeated_idempotency_key_is_admitted_once,
    customer_and_key_cannot_be_spliced_into_another_pair,
    outside_the_sale_window_nothing_is_admitted,
    an_unknown_product_is_not_loaded,
    release_returns_units_quota_and_key_once,
    release_after_a_rebuild_gives_nothing_back,
    give_back_returns_units_and_quota,
    load_keeps_idempotency_keys_and_replaces_holdings,
    bad_quantities_and_snapshots_are_rejected,
    concurrent_buyers_never_oversell_or_exceed_their_quota,
    one_customer_hammering_gets_exactly_the_limit,
    one_request_retried_concurrently_is_admitted_once,
    every_answer_names_the_epoch_it_was_given_under,
    a_fenced_release_leaves_a_later_admission_of_the_same_key_alone,
    a_fenced_give_back_only_counts_under_its_epoch,
    a_refusal_says_whether_the_customer_holds_units,
    a_customers_count_is_corrected_only_as_it_was_read,
);

/// Separate backends (connections), as separate service instances would have.
pub(crate) async fn redis_gates(redis: &TestRedis, n: usize) -> Vec<Arc<RedisGate>> {
    redis_gates_with(redis, n, GateConfig::default()).await
}

pub(crate) async fn redis_gates_with(
    redis: &TestRedis,
    n: usize,
    config: GateConfig,
) -> Vec<Arc<RedisGate>> {
    let mut gates = Vec::new();
    for _ in 0..n {
        gates.push(Arc::new(
            RedisGate::new(redis.backend().await, config.clone()).await,
        ));
    }
    gates
}
