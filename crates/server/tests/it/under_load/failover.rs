//! A gated sale over a Redis Cluster of the test's own whose master serving the hot product fails over
//! mid-sale, while purchases its gate admitted wait on the database: taken over by its replica (the old
//! master demoted, alive), or killed outright. Nothing is oversold, every buyer told 201 holds an order
//! in the database, the audit is clean, the gate ends in step with the database (rebuilt where the
//! failover left it wrong), and pub/sub still reaches every instance, although every instance listened
//! on the failed master.

use super::cache::{change_price, price};
use super::gated::{Disruption, Sale, UNITS, assert_sold_exactly, fallbacks, instances, sale};
use super::gated_sale;
use flashgate_testkit::{
    Backend, PRICE_VND, RedisClusterProcess, TestDatabase, client, eventually,
};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
enum Failover {
    /// `CLUSTER FAILOVER TAKEOVER` on the replica.
    Takeover,
    /// SIGKILL of the master.
    Kill,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sale_survives_its_master_taken_over_by_the_replica() {
    a_sale_survives_a_failover(Failover::Takeover).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sale_survives_its_master_killed() {
    a_sale_survives_a_failover(Failover::Kill).await;
}

async fn a_sale_survives_a_failover(how: Failover) {
    let cluster = Arc::new(RedisClusterProcess::start().await);
    // A fresh database numbers its first product 1: its gate keys carry the hash tag {p:1}.
    let expected = 1;
    let (master, replica) = cluster.master_and_replica_of(&format!("{{p:{expected}}}"));
    let db = TestDatabase::postgres().await;
    // The failing master comes first in the URL, so every instance's pub/sub listens on it; product
    // entries live ten minutes, so only the invalidation broadcast can freshen a price.
    let spawn = gated_sale(Backend::Postgres)
        .private_redis_cluster(cluster.url_starting_with(master))
        .set("cache.l1_ttl_ms", 600_000)
        .set("cache.l2_ttl_ms", 600_000);
    let all = instances(3, spawn, &db).await;
    let product = all[0].api.product(UNITS, Some(2)).await;
    assert_eq!(product, expected);

    let failing = Arc::clone(&cluster);
    let failover = Disruption {
        database_url: db.url.clone(),
        act: Box::new(move || match how {
            Failover::Takeover => failing.take_over(replica),
            Failover::Kill => failing.kill(master),
        }),
    };
    let sale = sale(&all, product, Some(failover)).await;
    assert_sold_exactly(&all[0], product, &sale, UNITS).await;
    let killed = match how {
        Failover::Takeover => vec![],
        Failover::Kill => vec![master],
    };
    cluster.wait_healthy(&killed).await;
    eprintln!(
        "{how:?}: {} sold, {} through the database while the slot had no master",
        sale.created,
        all.iter().map(|i| fallbacks(i)).sum::<u64>()
    );

    // The gate follows the database again on every instance: the promoted replica may hold what the
    // old master had not passed on, and sales made through the database meanwhile bypassed it.
    for instance in &all {
        let gate = instance.state.shared.gate.as_ref().unwrap();
        let in_step = eventually(Duration::from_secs(30), || async {
            let step = instance.keeper.run_once().await;
            let ping = instance.state.shared.redis.as_ref().unwrap().ping().await;
            eprintln!(
                "keeper {step:?} ping {ping:?} available {:?}",
                gate.available(flashgate_core::ProductId(product)).await
            );
            gate.available(flashgate_core::ProductId(product)).await == Some(0)
        })
        .await;
        assert!(
            in_step,
            "the gate of {} says units are left",
            instance.api.base
        );
    }
    // Restocked, the product sells again through every instance, and exactly its new units.
    all[0].api.restock(product, 3).await.assert_status(200);
    let mut after = Sale::default();
    after.sell_out(&all, product, "after").await;
    assert!(after.unexpected.is_empty(), "{:?}", after.unexpected);
    assert_eq!(after.created, 3, "units sold after the restock");

    // Pub/sub reaches every instance through another node.
    let http = client();
    for instance in &all {
        assert_eq!(price(&http, instance, product).await, PRICE_VND);
    }
    change_price(&all[1], product, 2 * PRICE_VND).await;
    for instance in &all {
        let seen = eventually(Duration::from_secs(15), || async {
            price(&http, instance, product).await == 2 * PRICE_VND
        })
        .await;
        assert!(seen, "{} still shows the old price", instance.api.base);
    }
    all[0].assert_audit_clean().await;
}
