//! The two-level cache: single flight, negative caching, invalidation across instances, and the
//! race between a slow load and an invalidation, on the in-process twin and on Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use flashgate_shared_state::cache::{Loader, get_json};
use flashgate_shared_state::{
    Cache, CacheConfig, InProcessCache, LocalBus, RedisCache, SharedStateError,
};
use tokio::sync::Notify;

use crate::common::{TestRedis, eventually};

/// A loader that counts its calls and returns whatever `value` holds at call time.
#[derive(Clone, Default)]
struct Source {
    calls: Arc<AtomicUsize>,
    value: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
    delay: Duration,
}

impl Source {
    fn with(value: &[u8]) -> Self {
        let s = Self::default();
        s.set(Some(value));
        s
    }

    fn set(&self, value: Option<&[u8]>) {
        *self.value.lock().unwrap() = value.map(<[u8]>::to_vec);
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn loader(&self) -> Loader {
        let this = self.clone();
        Box::pin(async move {
            this.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(this.delay).await;
            Ok(this.value.lock().unwrap().clone())
        })
    }
}

async fn get(cache: &dyn Cache, key: &str, source: &Source) -> Option<Vec<u8>> {
    cache
        .get_or_load(key, source.loader())
        .await
        .unwrap()
        .value
        .map(|v| v.to_vec())
}

/// Two instances with their own L1 over the same L2 / bus.
type Pair = (Arc<dyn Cache>, Arc<dyn Cache>);

async fn ten_thousand_concurrent_misses_make_one_load((a, _): Pair) {
    let source = Source {
        delay: Duration::from_millis(200),
        ..Source::with(b"hot")
    };
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10_000 {
        let (cache, source) = (Arc::clone(&a), source.clone());
        tasks.spawn(async move { get(&*cache, "product:1", &source).await });
    }
    let results = tasks.join_all().await;
    assert!(results.iter().all(|r| r.as_deref() == Some(&b"hot"[..])));
    assert_eq!(source.calls(), 1);
    let stats = a.stats();
    assert_eq!((stats.requests, stats.loads, stats.l2_hits), (10_000, 1, 0));
}

async fn a_hit_does_not_load_again((a, _): Pair) {
    let source = Source::with(b"v1");
    assert_eq!(get(&*a, "k", &source).await.as_deref(), Some(&b"v1"[..]));
    assert_eq!(get(&*a, "k", &source).await.as_deref(), Some(&b"v1"[..]));
    assert_eq!(source.calls(), 1);
}

async fn not_found_is_cached_briefly((a, _): Pair) {
    let source = Source::default();
    assert_eq!(get(&*a, "missing", &source).await, None);
    assert_eq!(get(&*a, "missing", &source).await, None);
    assert_eq!(source.calls(), 1);
    source.set(Some(b"created"));
    assert!(
        eventually(Duration::from_secs(5), || async {
            get(&*a, "missing", &source).await.is_some()
        })
        .await,
        "a negative entry outlived its TTL"
    );
}

async fn an_invalidation_reaches_the_other_instance((a, b): Pair) {
    let source = Source::with(b"old");
    assert_eq!(get(&*a, "k", &source).await.as_deref(), Some(&b"old"[..]));
    assert_eq!(get(&*b, "k", &source).await.as_deref(), Some(&b"old"[..]));
    source.set(Some(b"new"));
    a.invalidate("k").await.unwrap();
    assert_eq!(get(&*a, "k", &source).await.as_deref(), Some(&b"new"[..]));
    // L1 TTLs are far longer than the wait: only the broadcast can explain the change.
    assert!(
        eventually(Duration::from_secs(2), || async {
            get(&*b, "k", &source).await.as_deref() == Some(&b"new"[..])
        })
        .await,
        "instance B still serves the old value"
    );
}

async fn a_load_racing_an_invalidation_is_not_kept((a, b): Pair) {
    let gate = Arc::new(Notify::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let slow: Loader = {
        let (gate, calls) = (Arc::clone(&gate), Arc::clone(&calls));
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            gate.notified().await;
            Ok(Some(b"stale".to_vec()))
        })
    };
    let reader = {
        let b = Arc::clone(&b);
        tokio::spawn(async move { b.get_or_load("k", slow).await.unwrap() })
    };
    assert!(
        eventually(Duration::from_secs(2), || async {
            calls.load(Ordering::SeqCst) == 1
        })
        .await
    );
    a.invalidate("k").await.unwrap();
    gate.notify_one();
    // The caller that waited gets what was read; nobody after it does.
    let stale = reader.await.unwrap();
    assert_eq!(stale.value.as_deref(), Some(&b"stale"[..]));
    // Nor may a copy of it be used: its time with the L1 is already over.
    assert!(stale.until <= Instant::now());
    let source = Source::with(b"fresh");
    assert_eq!(get(&*b, "k", &source).await.as_deref(), Some(&b"fresh"[..]));
    assert_eq!(get(&*a, "k", &source).await.as_deref(), Some(&b"fresh"[..]));
}

/// What lets a caller keep a decoded copy without asking the L1 each time: how long the L1 hands the
/// value out, and a generation that moves with every invalidation it applies, its own or another
/// instance's.
async fn a_value_says_how_long_the_l1_keeps_it_and_invalidations_move_the_generation((a, b): Pair) {
    let source = Source::with(b"old");
    let before = Instant::now();
    let read = a.get_or_load("k", source.loader()).await.unwrap();
    let after = Instant::now();
    let ttl = config().l1_ttl;
    assert!(before + ttl <= read.until && read.until <= after + ttl);
    let again = a.get_or_load("k", source.loader()).await.unwrap();
    assert_eq!(again.until, read.until, "a hit is the same entry");
    let (seen_a, seen_b) = (a.generation(), b.generation());
    b.get_or_load("k", source.loader()).await.unwrap();
    a.invalidate("k").await.unwrap();
    assert_ne!(a.generation(), seen_a);
    assert!(
        eventually(Duration::from_secs(2), || async {
            b.generation() != seen_b
        })
        .await,
        "the other instance applied the invalidation without its generation moving"
    );
    source.set(Some(b"new"));
    assert_eq!(get(&*b, "k", &source).await.as_deref(), Some(&b"new"[..]));
}

async fn a_failing_loader_is_reported_and_not_cached((a, _): Pair) {
    let failing: Loader = Box::pin(async { Err("database down".into()) });
    let err = a.get_or_load("k", failing).await.unwrap_err();
    assert!(matches!(err, SharedStateError::Loader(_)), "{err}");
    let source = Source::with(b"ok");
    assert_eq!(get(&*a, "k", &source).await.as_deref(), Some(&b"ok"[..]));
}

async fn typed_values_round_trip_as_json((a, _): Pair) {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Product {
        id: i64,
        name: String,
    }
    let load = || async {
        Ok::<_, std::io::Error>(Some(Product {
            id: 7,
            name: "phone".to_owned(),
        }))
    };
    let first: Option<Product> = get_json(&*a, "product:7", load).await.unwrap();
    let again: Option<Product> = get_json(&*a, "product:7", || async {
        Err::<Option<Product>, _>(std::io::Error::other("must not be called"))
    })
    .await
    .unwrap();
    assert_eq!(first, again);
    assert_eq!(again.map(|p| p.name).as_deref(), Some("phone"));
}

fn config() -> CacheConfig {
    CacheConfig {
        l1_ttl: Duration::from_secs(60),
        l2_ttl: Duration::from_secs(60),
        l2_jitter: Duration::from_secs(5),
        // Long enough that two back-to-back reads on a busy machine both fall inside it.
        negative_ttl: Duration::from_secs(1),
        ..CacheConfig::default()
    }
}

/// Each scenario on the in-process cache, on the single Redis and on the Redis Cluster.
macro_rules! cache_suite {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let bus = super::LocalBus::new();
                    let a = std::sync::Arc::new(super::InProcessCache::new(super::config(), &bus));
                    let b = std::sync::Arc::new(super::InProcessCache::new(super::config(), &bus));
                    super::$name((a, b)).await;
                }
            )*
        }
        mod on_redis {
            cache_suite!(@redis new, $($name),*);
        }
        mod on_redis_cluster {
            cache_suite!(@redis cluster, $($name),*);
        }
    };
    (@redis $redis:ident, $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let redis = super::TestRedis::$redis();
                let a = std::sync::Arc::new(super::RedisCache::new(redis.backend().await, super::config()).await);
                let b = std::sync::Arc::new(super::RedisCache::new(redis.backend().await, super::config()).await);
                super::$name((a, b)).await;
            }
        )*
    };
}

cache_suite!(
    ten_thousand_concurrent_misses_make_one_load,
    a_hit_does_not_load_again,
    not_found_is_cached_briefly,
    an_invalidation_reaches_the_other_instance,
    a_load_racing_an_invalidation_is_not_kept,
    a_value_says_how_long_the_l1_keeps_it_and_invalidations_move_the_generation,
    a_failing_loader_is_reported_and_not_cached,
    typed_values_round_trip_as_json,
);

async fn instances_share_the_redis_level(redis: TestRedis) {
    let a = RedisCache::new(redis.backend().await, config()).await;
    let b = RedisCache::new(redis.backend().await, config()).await;
    let source = Source::with(b"shared");
    get(&a, "k", &source).await;
    assert_eq!(get(&b, "k", &source).await.as_deref(), Some(&b"shared"[..]));
    assert_eq!(source.calls(), 1);
    assert_eq!(b.stats().l2_hits, 1);
    let keys = redis.keys();
    assert!(
        keys.contains(&format!("{}{{c:k}}:v", redis.prefix)),
        "{keys:?}"
    );
}

async fn l2_entries_expire_with_jitter(redis: TestRedis) {
    let cache = RedisCache::new(redis.backend().await, config()).await;
    let source = Source::with(b"x");
    for i in 0..20 {
        get(&cache, &format!("k{i}"), &source).await;
    }
    let mut conn = redis.connection();
    let mut ttls = std::collections::BTreeSet::new();
    for i in 0..20 {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(format!("{}{{c:k{i}}}:v", redis.prefix))
            .query(&mut *conn)
            .unwrap();
        assert!((55_000..=65_000).contains(&ttl), "ttl {ttl}");
        ttls.insert(ttl / 100);
    }
    assert!(ttls.len() > 1, "all L2 entries expire together: {ttls:?}");
}

on_each_redis!(
    instances_share_the_redis_level,
    l2_entries_expire_with_jitter
);
