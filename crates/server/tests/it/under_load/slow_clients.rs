//! Slow and idle clients cannot starve buyers: thousands of idle connections and clients trickling
//! their headers while buyers buy, the connection cap refusing the excess at once, and the header read
//! timeout closing a client that never finishes its request and a keep-alive connection left idle.
//! (The latency figures under such an attack are `examples/slow_clients.rs`'s.)

use flashgate_testkit::{Backend, Instance, Spawn, TestDatabase, client, eventually};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a client trickling its request has sent so far: a request line and part of its headers.
const TRICKLED: &[u8] = b"POST /orders HTTP/1.1\r\nHost: flashgate\r\nContent-Type: app";

fn spawn() -> Spawn {
    super::spawn(Backend::Sqlite)
        .set("limits.enabled", false)
        .set("shedding.max_concurrent_purchases", 1_000)
        .set("shedding.queue_budget_ms", 60_000)
}

async fn connect(instance: &Instance) -> TcpStream {
    let addr = instance.api.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.unwrap()
}

/// What the server sends before it closes `stream`, waiting at most `within` for the close.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_buy_while_thousands_of_idle_and_slow_clients_hold_connections() {
    let db = TestDatabase::sqlite();
    let instance = spawn()
        .set("http.max_connections", 2_400)
        .instance(&db)
        .await;
    let product = instance.api.product(64, None).await;
    let mut held = Vec::with_capacity(2_200);
    for _ in 0..2_000 {
        held.push(connect(&instance).await);
    }
    for _ in 0..200 {
        let mut slow = connect(&instance).await;
        slow.write_all(TRICKLED).await.unwrap();
        held.push(slow);
    }
    let buyers: Vec<_> = (0..64)
        .map(|i| {
            let (http, token) = (client(), instance.api.token(&format!("buyer-{i}")));
            let url = instance.api.url("/orders");
            tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(token)
                    .header("idempotency-key", format!("slow-clients-{i}"))
                    .json(&json!({"product_id": product, "quantity": 1}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for buyer in buyers {
        assert_eq!(buyer.await.unwrap(), 201);
    }
    let left = instance
        .api
        .get(&format!("/products/{product}"), None)
        .await;
    assert_eq!(left.assert_status(200)["available"], 0);
    drop(held);
}

#[tokio::test]
async fn a_connection_past_the_cap_is_refused_at_once_and_a_freed_slot_serves_again() {
    let db = TestDatabase::sqlite();
    let instance = spawn().set("http.max_connections", 20).instance(&db).await;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(connect(&instance).await);
    }
    // The kernel completes a connection before the server accepts it: wait until the server has
    // taken all twenty, which it shows by refusing the next.
    let refused = eventually(Duration::from_secs(10), || async {
        let mut extra = connect(&instance).await;
        let answer = until_closed(&mut extra, Duration::from_secs(5)).await;
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 503")
    })
    .await;
    assert!(refused, "no connection was refused past the cap");
    let mut extra = connect(&instance).await;
    let answer = String::from_utf8(until_closed(&mut extra, Duration::from_secs(5)).await).unwrap();
    assert!(answer.contains("retry-after: 1"), "{answer}");
    assert!(answer.contains("\"code\":\"unavailable\""), "{answer}");
    // One idle client leaves: its slot serves a buyer again.
    held.pop();
    let served = eventually(Duration::from_secs(10), || async {
        client()
            .get(instance.api.url("/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(served);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_or_sits_idle_is_cut_off() {
    let db = TestDatabase::sqlite();
    let instance = spawn()
        .set("http.header_read_timeout_ms", 200)
        .instance(&db)
        .await;
    let mut slow = connect(&instance).await;
    slow.write_all(TRICKLED).await.unwrap();
    until_closed(&mut slow, Duration::from_secs(10)).await;
    // Idle after one answered request on a keep-alive connection: closed too.
    let mut idle = connect(&instance).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: flashgate\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut idle, Duration::from_secs(10)).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}
