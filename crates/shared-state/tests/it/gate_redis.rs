//! Admission-gate behaviour that only the Redis gate has: state loss, key expiry, sold-out flags
//! shared between instances, and the key layout (one slot per product on a cluster); each on the single
//! Redis and on the Redis Cluster.

use std::time::Duration;

use flashgate_shared_state::{Admission, Gate, GateConfig, GateProduct, InProcessGate, RedisGate};

use crate::common::{TestRedis, eventually};
use crate::gate::{P, product, redis_gates, redis_gates_with, req};

/// Loads `product` on `gate` (which must not flag it sold out) and waits for the gate's own
/// message about it to come back: an instance counts its own change at once and again when its
/// message arrives, and that echo would otherwise land in the middle of what the test does next
/// (clearing a sold-out flag raised after it, or moving the count after it was read).
async fn load_and_hear_the_echo(gate: &RedisGate, product: &GateProduct) {
    let before = gate
        .changes(P)
        .expect("listening, and not flagged sold out");
    gate.load(product, &[]).await.unwrap();
    assert!(
        eventually(Duration::from_secs(2), || async {
            gate.changes(P) == Some(before + 2)
        })
        .await,
        "the gate hears its own message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_gate_forgets_like_a_flushed_redis() {
    let gate = InProcessGate::new(GateConfig::default());
    gate.load(&product(5), &[]).await.unwrap();
    gate.forget(P).unwrap();
    assert_eq!(
        gate.admit(&req("a", "k", 1)).await.unwrap(),
        Admission::NotLoaded
    );
}

async fn lost_redis_state_reads_as_not_loaded_until_rebuilt(redis: TestRedis) {
    let gates = redis_gates(&redis, 1).await;
    gates[0].load(&product(5), &[]).await.unwrap();
    assert!(matches!(
        gates[0].admit(&req("a", "k", 1)).await.unwrap(),
        Admission::Admitted { .. }
    ));
    redis.delete_all_keys();
    assert_eq!(
        gates[0].admit(&req("b", "k", 1)).await.unwrap(),
        Admission::NotLoaded
    );
    assert_eq!(gates[0].available(P).await.unwrap(), None);
    gates[0]
        .load(&product(4), &[("a".to_owned(), 1)])
        .await
        .unwrap();
    assert_eq!(
        gates[0].admit(&req("b", "k", 1)).await.unwrap(),
        Admission::Admitted { remaining: 3 }
    );
}

async fn idempotency_keys_expire_after_their_ttl(redis: TestRedis) {
    let config = GateConfig {
        idempotency_ttl: Duration::from_millis(100),
        ..GateConfig::default()
    };
    let gates = redis_gates_with(&redis, 1, config).await;
    gates[0].load(&product(5), &[]).await.unwrap();
    assert!(matches!(
        gates[0].admit(&req("a", "k", 1)).await.unwrap(),
        Admission::Admitted { .. }
    ));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(matches!(
        gates[0].admit(&req("a", "k", 1)).await.unwrap(),
        Admission::Admitted { .. }
    ));
}

async fn sold_out_is_shared_between_instances_and_answered_from_memory(redis: TestRedis) {
    let config = GateConfig {
        sold_out_ttl: Duration::from_secs(60),
        ..GateConfig::default()
    };
    let gates = redis_gates_with(&redis, 2, config).await;
    let (a, b) = (&gates[0], &gates[1]);
    load_and_hear_the_echo(a, &product(1)).await;
    assert_eq!(
        a.admit(&req("a", "k", 1)).await.unwrap(),
        Admission::Admitted { remaining: 0 }
    );
    assert!(a.is_marked_sold_out(P));
    assert!(
        eventually(Duration::from_secs(2), || async { b.is_marked_sold_out(P) }).await,
        "the other instance did not learn of the sell-out"
    );
    // With the Redis state gone, a Redis round trip would say NotLoaded: SoldOut proves memory.
    redis.delete_all_keys();
    assert_eq!(
        b.admit(&req("b", "k", 1)).await.unwrap(),
        Admission::SoldOut
    );
    assert_eq!(
        a.admit(&req("c", "k", 1)).await.unwrap(),
        Admission::SoldOut
    );

    // A rebuild with stock reopens every instance.
    b.load(&product(2), &[("a".to_owned(), 1)]).await.unwrap();
    assert!(!b.is_marked_sold_out(P));
    assert!(
        eventually(Duration::from_secs(2), || async {
            !a.is_marked_sold_out(P)
        })
        .await,
        "the other instance did not reopen"
    );
    assert_eq!(
        a.admit(&req("c", "k", 2)).await.unwrap(),
        Admission::Admitted { remaining: 0 }
    );
    assert!(eventually(Duration::from_secs(2), || async { b.is_marked_sold_out(P) }).await);
    // Units coming back reopen too.
    a.give_back(P, "c", 1).await.unwrap();
    assert!(
        eventually(Duration::from_secs(2), || async {
            !b.is_marked_sold_out(P)
        })
        .await
    );
    assert_eq!(
        b.admit(&req("d", "k", 1)).await.unwrap(),
        Admission::Admitted { remaining: 0 }
    );
}

async fn a_local_sold_out_flag_expires_on_its_own(redis: TestRedis) {
    // Long enough that a busy machine, whose subscriber may still be connecting when the flag is
    // raised (a flag counts only while the subscriber listens), sees it before it expires.
    let config = GateConfig {
        sold_out_ttl: Duration::from_secs(3),
        ..GateConfig::default()
    };
    let gates = redis_gates_with(&redis, 1, config).await;
    gates[0].load(&product(1), &[]).await.unwrap();
    assert!(matches!(
        gates[0].admit(&req("a", "k", 1)).await.unwrap(),
        Admission::Admitted { remaining: 0 }
    ));
    assert!(
        eventually(Duration::from_secs(3), || async {
            gates[0].is_marked_sold_out(P)
        })
        .await,
        "the flag is raised"
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            !gates[0].is_marked_sold_out(P)
        })
        .await,
        "and expires on its own"
    );
}

async fn the_change_count_moves_on_every_instance_when_units_come_back(redis: TestRedis) {
    let gates = redis_gates(&redis, 2).await;
    let (a, b) = (&gates[0], &gates[1]);
    let listening = || async { a.changes(P).is_some() && b.changes(P).is_some() };
    assert!(
        eventually(Duration::from_secs(3), listening).await,
        "both listen"
    );
    let before_b = b.changes(P);
    load_and_hear_the_echo(a, &product(5)).await;
    assert!(
        eventually(Duration::from_secs(2), || async {
            b.changes(P) != before_b
        })
        .await,
        "the other instance hears of the rebuild"
    );
    let (seen_a, seen_b) = (a.changes(P), b.changes(P));
    // An admission takes; only what comes back moves the count.
    a.admit(&req("c", "k", 1)).await.unwrap();
    assert_eq!(a.changes(P), seen_a);
    a.give_back(P, "c", 1).await.unwrap();
    assert_ne!(
        a.changes(P),
        seen_a,
        "the instance that gave back knows at once"
    );
    assert!(
        eventually(Duration::from_secs(2), || async { b.changes(P) != seen_b }).await,
        "the other instance hears of the give-back"
    );
    let seen_b = b.changes(P);
    a.admit(&req("d", "k", 1)).await.unwrap();
    a.release(&req("d", "k", 1)).await.unwrap();
    assert!(
        eventually(Duration::from_secs(2), || async { b.changes(P) != seen_b }).await,
        "and of the release"
    );
    // Sold out: the sold-out answer comes first, so no count is vouched for.
    a.admit(&req("e", "k", 5)).await.unwrap();
    assert_eq!(a.changes(P), None);
    assert!(eventually(Duration::from_secs(2), || async { b.changes(P).is_none() }).await);
}

async fn gate_keys_of_one_product_share_a_hash_tag(redis: TestRedis) {
    let gates = redis_gates(&redis, 1).await;
    gates[0]
        .load(&product(5), &[("x".to_owned(), 1)])
        .await
        .unwrap();
    gates[0].admit(&req("a", "k", 1)).await.unwrap();
    let keys = redis.keys();
    // State, holdings, buyers and the admitted key.
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k.starts_with(&format!("{}{{p:{P}}}:", redis.prefix)))
    );
    if redis.is_cluster() {
        // So every script of the product runs on one shard: a cluster refuses keys of two slots.
        let mut conn = redis.connection();
        let slots: std::collections::BTreeSet<i64> = keys
            .iter()
            .map(|k| {
                redis::cmd("CLUSTER")
                    .arg("KEYSLOT")
                    .arg(k)
                    .query(&mut *conn)
                    .unwrap()
            })
            .collect();
        assert_eq!(slots.len(), 1, "{slots:?}");
    }
}

on_each_redis!(
    lost_redis_state_reads_as_not_loaded_until_rebuilt,
    idempotency_keys_expire_after_their_ttl,
    sold_out_is_shared_between_instances_and_answered_from_memory,
    a_local_sold_out_flag_expires_on_its_own,
    the_change_count_moves_on_every_instance_when_units_come_back,
    gate_keys_of_one_product_share_a_hash_tag,
);
