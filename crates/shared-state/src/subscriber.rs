//! A long-lived Redis pub/sub subscription that survives outages: it reconnects with backoff and,
//! after every (re)subscribe, tells its owner to resynchronise, because messages published while it
//! was away are gone for good. On a Redis Cluster every node hears every PUBLISH, so it listens on
//! any one node, and when that node fails (a master's failover, say) it moves on to the next.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::PubSubSink;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::redis_backend::RedisBackend;

pub(crate) enum BusEvent<'a> {
    Message(&'a str),
    /// Subscribed afresh: drop every piece of local state that a missed message could have changed.
    Resync,
}

pub(crate) type Handler = Arc<dyn Fn(BusEvent<'_>) + Send + Sync>;

/// Owns the subscriber task; dropping it ends the task.
pub(crate) struct Subscription {
    task: JoinHandle<()>,
    ready: watch::Receiver<bool>,
}

const PING_EVERY: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Subscription {
    pub(crate) fn spawn(backend: &RedisBackend, channel: String, handler: Handler) -> Self {
        let (ready_tx, ready) = watch::channel(false);
        let backend = backend.clone();
        let timeout = backend.connect_timeout();
        let task = tokio::spawn(async move {
            let mut backoff = Duration::from_millis(50);
            // Each attempt tries the next node: the one that just failed is the least likely to answer.
            let mut attempt = 0usize;
            loop {
                let subscribed = match backend.pubsub_node(attempt).await {
                    Some(client) => subscribe(&client, &channel, timeout).await,
                    None => Err("no redis node to subscribe on".to_owned()),
                };
                match subscribed {
                    Ok(pubsub) => {
                        handler(BusEvent::Resync);
                        ready_tx.send_replace(true);
                        backoff = Duration::from_millis(50);
                        listen(pubsub, &handler, timeout).await;
                        ready_tx.send_replace(false);
                        tracing::warn!(channel, "pub/sub connection lost; resubscribing");
                    }
                    Err(e) => tracing::warn!(channel, error = %e, "pub/sub subscribe failed"),
                }
                let jitter = Duration::from_millis(rand::random_range(0..=50));
                tokio::time::sleep(backoff + jitter).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                attempt = attempt.wrapping_add(1);
            }
        });
        Self { task, ready }
    }

    /// Waits until the subscription is active; false if it is not within `timeout`.
    pub(crate) async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut ready = self.ready.clone();
        tokio::time::timeout(timeout, ready.wait_for(|r| *r))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    pub(crate) fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn subscribe(
    client: &redis::Client,
    channel: &str,
    timeout: Duration,
) -> Result<redis::aio::PubSub, String> {
    let attempt = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(pubsub)) => Ok(pubsub),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Delivers messages until the connection ends; a periodic PING catches half-open connections
/// that would otherwise look like a quiet channel forever.
async fn listen(pubsub: redis::aio::PubSub, handler: &Handler, timeout: Duration) {
    let (mut sink, mut stream) = pubsub.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(msg) => match std::str::from_utf8(msg.get_payload_bytes()) {
                    Ok(payload) => handler(BusEvent::Message(payload)),
                    Err(_) => tracing::warn!("ignoring non-UTF-8 pub/sub payload"),
                },
                None => return,
            },
            _ = ping.tick() => if !alive(&mut sink, timeout).await {
                return;
            },
        }
    }
}

/// Whether the connection answers a PING in time. A subscribed connection answers `["pong", ""]`
/// under RESP2 and `PONG` under RESP3: any answer will do (expecting a string took every RESP2
/// connection for dead at its first ping, so each subscriber resubscribed, and dropped the state it
/// guards, every five seconds).
async fn alive(sink: &mut PubSubSink, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{redis_cluster_url, redis_url};

    #[tokio::test]
    async fn a_subscribed_connection_answers_the_keepalive_ping() {
        let cluster = redis_cluster_url();
        let cluster_node = cluster.split(',').next().unwrap_or_default().to_owned();
        for url in [redis_url(), cluster_node] {
            let client = redis::Client::open(url.as_str()).unwrap();
            let timeout = Duration::from_secs(3);
            let pubsub = subscribe(&client, "fgtest:subscriber:ping", timeout)
                .await
                .unwrap();
            let (mut sink, _stream) = pubsub.split();
            for _ in 0..3 {
                assert!(alive(&mut sink, timeout).await, "{url}");
            }
        }
    }
}
