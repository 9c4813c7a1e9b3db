//! Telling the shop: every committed change of an order is an event (the ledger is the outbox), read
//! through the events feed in commit order, on PostgreSQL and SQLite.

use flashgate_testkit::{Api, Backend, Spawn};
use reqwest::Method;
use serde_json::Value;

mod a_consumer_paging_during_writes_sees_every_event_once;
mod the_feed_tells_every_committed_change_and_nothing_else;

/// An instance of this suite: workers run when a test asks, and every client comes from 127.0.0.1.
pub fn spawn(backend: Backend) -> Spawn {
    Spawn::new(backend)
        .workers_on_demand()
        .set("limits.enabled", false)
        .set("shedding.max_concurrent_purchases", 100_000)
        .set("shedding.queue_budget_ms", 60_000)
        .set("database.acquire_timeout_ms", 10_000)
}

/// One page of `GET /admin/events` with `query`; its events and its `next` cursor.
pub async fn page(api: &Api, query: &str) -> (Vec<Value>, String) {
    let page = api
        .send(api.admin(Method::GET, &format!("/admin/events{query}")))
        .await
        .assert_status(200);
    let next = page["next"].as_str().expect("a next cursor").to_owned();
    (page["events"].as_array().expect("events").clone(), next)
}

/// A consumer of the feed: where it stands and what it has seen.
#[derive(Default)]
pub struct Reader {
    pub seen: Vec<Value>,
    after: Option<String>,
}

impl Reader {
    /// Reads one page of at most `limit` events; whether it was empty.
    pub async fn step(&mut self, api: &Api, limit: usize) -> bool {
        let query = match &self.after {
            Some(after) => format!("?limit={limit}&after={after}"),
            None => format!("?limit={limit}"),
        };
        let (events, next) = page(api, &query).await;
        self.after = Some(next);
        let empty = events.is_empty();
        self.seen.extend(events);
        empty
    }

    /// Pages on until `expected` events have been seen. On PostgreSQL the feed holds back what an
    /// open transaction anywhere in the cluster could precede, so a page may be empty for a while.
    pub async fn until(&mut self, api: &Api, limit: usize, expected: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.seen.len() < expected {
            assert!(
                std::time::Instant::now() < deadline,
                "{} of {expected} events after a minute",
                self.seen.len()
            );
            if self.step(api, limit).await {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// The first `expected` events of the feed, `limit` at a time.
pub async fn read_all(api: &Api, limit: usize, expected: usize) -> Vec<Value> {
    let mut reader = Reader::default();
    reader.until(api, limit, expected).await;
    reader.seen
}
