//! Cached product reads: one database query per instance for any number of concurrent cold reads,
//! admin changes reaching every instance, HTTP validators, negative caching, and the live count of
//! units left coming from the gate.

use super::{gated_sale, on};
use async_trait::async_trait;
use flashgate_core::ports::Products;
use flashgate_core::{Product, ProductId, StoreError};
use flashgate_testkit::{
    Backend, Instance, PRICE_VND, Spawn, TestDatabase, TestRedis, client, eventually, json_of,
};
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Counts the product reads that reach the database.
struct CountingProducts {
    inner: Arc<dyn Products>,
    gets: Arc<AtomicUsize>,
}

#[async_trait]
impl Products for CountingProducts {
    async fn get(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(id).await
    }
    async fn list(&self) -> Result<Vec<Product>, StoreError> {
        self.inner.list().await
    }
}

async fn counted(spawn: Spawn, db: &TestDatabase) -> (Arc<Instance>, Arc<AtomicUsize>) {
    let gets = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&gets);
    let spawn = spawn.adapt(move |mut s| {
        s.products = Arc::new(CountingProducts {
            inner: s.products.clone(),
            gets: Arc::clone(&counter),
        });
        s
    });
    (Arc::new(spawn.instance(db).await), gets)
}

/// An instance of these tests: rate limits are not what they are about.
fn unlimited(backend: Backend) -> Spawn {
    super::spawn(backend).set("limits.enabled", false)
}

async fn cold_reads(instance: &Arc<Instance>, product: i64, n: usize) {
    let reads = (0..n).map(|_| {
        let instance = Arc::clone(instance);
        tokio::spawn(async move { instance.state.shared.products.get(ProductId(product)).await })
    });
    for read in join_all(reads).await {
        assert_eq!(read.unwrap().unwrap().unwrap().id, ProductId(product));
    }
}

on_each_redis!(ten_thousand_cold_reads_make_one_database_query_per_instance);

async fn ten_thousand_cold_reads_make_one_database_query_per_instance(redis: TestRedis) {
    let db = TestDatabase::postgres().await;
    let mut all = Vec::new();
    for _ in 0..3 {
        all.push(counted(unlimited(Backend::Postgres).redis(&redis), &db).await);
    }
    let product = all[0].0.api.product(5, None).await;
    join_all(all.iter().map(|(i, _)| cold_reads(i, product, 10_000))).await;
    let per_instance: Vec<usize> = all.iter().map(|(_, g)| g.load(Ordering::SeqCst)).collect();
    // Every instance loads at most once; whoever loads second may find the first one's L2 entry.
    assert!(per_instance.iter().all(|n| *n <= 1), "{per_instance:?}");
    assert!(per_instance.iter().sum::<usize>() >= 1, "{per_instance:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_cold_reads_make_one_database_query_on_the_embedded_twin() {
    let db = TestDatabase::sqlite();
    // An L1 entry that outlives the whole burst, however slow the machine: what is counted is the
    // single flight of concurrent misses, not the TTL.
    let spawn = unlimited(Backend::Sqlite).set("cache.l1_ttl_ms", 600_000);
    let (instance, gets) = counted(spawn, &db).await;
    let product = instance.api.product(5, None).await;
    // Created up front: the invalidation a creation broadcasts travels asynchronously and must not
    // land on an entry the reads below just loaded.
    let other = instance.api.product(5, None).await;
    cold_reads(&instance, product, 10_000).await;
    assert_eq!(gets.load(Ordering::SeqCst), 1);
    // And over HTTP, for a product nobody has read yet.
    let http = client();
    let reads = (0..1_000).map(|_| {
        let http = http.clone();
        let url = format!("{}/products/{other}", instance.api.base);
        async move { http.get(url).send().await.unwrap().status() }
    });
    assert!(join_all(reads).await.iter().all(|s| *s == 200));
    assert_eq!(gets.load(Ordering::SeqCst), 2);
    // Every read is the cache's in its figures (`flashgate_cache_reads_total`), those answered
    // from the decoded copy without asking the L1 too.
    let stats = instance.state.shared.products.stats();
    assert!(stats.requests >= 11_000, "{stats:?}");
    assert_eq!(stats.loads, 2, "{stats:?}");
}

pub(super) async fn price(http: &reqwest::Client, instance: &Instance, product: i64) -> i64 {
    let body: Value = json_of(http.get(format!("{}/products/{product}", instance.api.base))).await;
    body["price_vnd"].as_i64().unwrap()
}

pub(super) async fn change_price(instance: &Instance, product: i64, to: i64) {
    let path = format!("/admin/products/{product}");
    let request = instance.api.admin(Method::PATCH, &path);
    let answer = instance
        .api
        .send(request.json(&json!({"price_vnd": to})))
        .await;
    answer.assert_status(200);
}

on_each_redis!(a_price_change_reaches_every_instance_at_once_over_pub_sub);

async fn a_price_change_reaches_every_instance_at_once_over_pub_sub(redis: TestRedis) {
    let db = TestDatabase::postgres().await;
    // Entries live ten minutes: only the invalidation broadcast can explain a fresh price.
    let spawn = unlimited(Backend::Postgres)
        .redis(&redis)
        .set("cache.l1_ttl_ms", 600_000)
        .set("cache.l2_ttl_ms", 600_000);
    let mut all = Vec::new();
    for _ in 0..3 {
        all.push(spawn.instance(&db).await);
    }
    let http = client();
    let product = all[0].api.product(5, None).await;
    for instance in &all {
        assert_eq!(price(&http, instance, product).await, PRICE_VND);
    }
    change_price(&all[1], product, 2 * PRICE_VND).await;
    assert_eq!(price(&http, &all[1], product).await, 2 * PRICE_VND);
    for instance in &all {
        let seen = eventually(Duration::from_secs(10), || async {
            price(&http, instance, product).await == 2 * PRICE_VND
        })
        .await;
        assert!(seen, "{} still shows the old price", instance.api.base);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_pub_sub_a_price_change_reaches_other_instances_when_their_l1_expires() {
    let db = TestDatabase::sqlite();
    let spawn = unlimited(Backend::Sqlite).set("cache.l1_ttl_ms", 300);
    let writer = spawn.instance(&db).await;
    let reader = spawn.instance(&db).await;
    let http = client();
    let product = writer.api.product(5, None).await;
    assert_eq!(price(&http, &reader, product).await, PRICE_VND);
    change_price(&writer, product, 3 * PRICE_VND).await;
    assert_eq!(price(&http, &writer, product).await, 3 * PRICE_VND);
    let seen = eventually(Duration::from_secs(10), || async {
        price(&http, &reader, product).await == 3 * PRICE_VND
    })
    .await;
    assert!(seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_answers_carry_validators_and_unknown_ids_are_cached_briefly() {
    let db = TestDatabase::sqlite();
    let spawn = unlimited(Backend::Sqlite).set("cache.negative_ttl_ms", 60_000);
    let (instance, gets) = counted(spawn, &db).await;
    let http = client();
    let product = instance.api.product(5, None).await;
    let first = http
        .get(format!("{}/products/{product}", instance.api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "public, max-age=1");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let again = http
        .get(format!("{}/products/{product}", instance.api.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());
    let stale = http
        .get(format!("{}/products/{product}", instance.api.base))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);

    let before = gets.load(Ordering::SeqCst);
    for _ in 0..5 {
        let missing = http
            .get(format!("{}/products/987654", instance.api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        let body: Value = missing.json().await.unwrap();
        assert_eq!(body["code"], "product_not_found");
    }
    assert_eq!(gets.load(Ordering::SeqCst), before + 1);
}

on_each_fast_path!(units_left_shown_to_buyers_come_from_the_gate);

async fn units_left_shown_to_buyers_come_from_the_gate(redis: Option<&TestRedis>) {
    let spawn = on(redis, gated_sale);
    let db = spawn.backend().database().await;
    let instance = spawn.instance(&db).await;
    let http = client();
    let product = instance.api.product(5, None).await;
    let available = |body: Value| body["available"].as_i64().unwrap();
    let get = || json_of(http.get(format!("{}/products/{product}", instance.api.base)));
    assert_eq!(available(get().await), 5);
    assert_eq!(instance.api.buy("a", "a", product, 2).await.status, 201);
    // The cached product still says 5; the answer comes from the gate.
    assert_eq!(available(get().await), 3);
    let list: Value = json_of(http.get(format!("{}/products", instance.api.base))).await;
    let listed = list["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == product)
        .unwrap()
        .clone();
    assert_eq!(available(listed), 3);
}
