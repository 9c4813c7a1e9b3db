//! Redis going away and coming back, through a local TCP proxy the test can cut: operations fail
//! fast while it is gone, the pub/sub subscriber resubscribes and resynchronises afterwards.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flashgate_shared_state::{
    Admission, AdmitRequest, Gate, GateConfig, GateProduct, RedisBackend, RedisGate, RedisOptions,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::common::{TestRedis, eventually, redis_url};

/// Forwards to the test Redis until told to cut every connection and refuse new ones.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start() -> Self {
        let upstream = redis_url()
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (accept_up, accept_links) = (Arc::clone(&up), Arc::clone(&links));
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close at once
                }
                let upstream = upstream.clone();
                accept_links.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Self {
            port,
            up,
            links,
            accept,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

const P: i64 = 7;

fn req(customer: &str, key: &str) -> AdmitRequest {
    AdmitRequest {
        product_id: P,
        customer: customer.to_owned(),
        idempotency_key: key.to_owned(),
        quantity: 1,
        now_ms: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_fails_fast_during_an_outage_and_resynchronises_after_it() {
    let redis = TestRedis::new();
    let proxy = Proxy::start().await;
    let config = GateConfig {
        sold_out_ttl: Duration::from_secs(60),
        ..GateConfig::default()
    };
    let through_proxy =
        RedisBackend::connect(RedisOptions::new(proxy.url()).with_key_prefix(redis.prefix.clone()))
            .await
            .unwrap();
    let health = through_proxy.health();
    let a = RedisGate::new(through_proxy, config.clone()).await;
    let b = RedisGate::new(redis.backend().await, config).await;
    let product = GateProduct {
        product_id: P,
        available: 1,
        per_customer_limit: None,
        sale_starts_at_ms: None,
        sale_ends_at_ms: None,
    };
    b.load(&product, &[]).await.unwrap();
    assert_eq!(
        b.admit(&req("x", "1")).await.unwrap(),
        Admission::Admitted { remaining: 0 }
    );
    assert!(eventually(Duration::from_secs(2), || async { a.is_marked_sold_out(P) }).await);
    // The first sold-out answer reads the product's holders, once, while Redis still answers.
    assert_eq!(a.admit(&req("w", "1")).await.unwrap(), Admission::SoldOut);

    proxy.cut();
    // Answered from memory, no Redis needed, until the subscriber notices the loss: from then on a
    // flag no longer counts (a reopen could be missed), and the gate fails fast instead.
    match a.admit(&req("y", "1")).await {
        Ok(answer) => assert_eq!(answer, Admission::SoldOut),
        Err(e) => assert!(e.is_unavailable(), "{e}"),
    }
    assert!(a.available(P).await.unwrap_err().is_unavailable());
    assert!(health.is_degraded());

    // Meanwhile stock comes back; the reopen message cannot reach `a`.
    b.give_back(P, "x", 1).await.unwrap();
    proxy.restore();
    // After resubscribing, `a` drops every flag a missed message could have changed.
    assert!(
        eventually(Duration::from_secs(5), || async {
            !a.is_marked_sold_out(P)
        })
        .await,
        "the flag survived the reconnect"
    );
    assert_eq!(
        a.admit(&req("y", "2")).await.unwrap(),
        Admission::Admitted { remaining: 0 }
    );
    assert!(!health.is_degraded());
    // And it listens again.
    assert!(eventually(Duration::from_secs(2), || async { b.is_marked_sold_out(P) }).await);
    b.give_back(P, "y", 1).await.unwrap();
    b.admit(&req("z", "1")).await.unwrap();
    assert!(eventually(Duration::from_secs(2), || async { a.is_marked_sold_out(P) }).await);
}
