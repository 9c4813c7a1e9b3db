//! The webhook dispatcher: each step fans the events written since the last step out to the
//! endpoints subscribed to them, claims due deliveries (a lease, so instances never send one attempt
//! twice, and a crashed instance's claims are sent again once they lapse), sends them and records
//! the outcome: acknowledged (2xx), retried on `webhooks.retry_schedule_ms`, or given up with the
//! endpoint disabled. Endpoints are independent: each send is recorded on its own, and an endpoint
//! with sends in flight on this instance is left out of its claims until their answers are in, so a
//! slow or hanging endpoint holds at most one batch of requests open here and holds back no other
//! endpoint's next event.

use super::{WebhookSettings, signature, target};
use crate::http::events::EventView;
use crate::workers::run_every;
use flashgate_core::webhooks::{Claimed, WebhookDeliveries};
use flashgate_core::{Clock, StoreError};
use rand::Rng;
use reqwest::header::CONTENT_TYPE;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

#[derive(Clone)]
pub struct Dispatcher {
    pub deliveries: Arc<dyn WebhookDeliveries>,
    pub http: reqwest::Client,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<WebhookSettings>,
    pub allow_private: bool,
    /// When acknowledged deliveries are next looked at for pruning (`None`: at the next step).
    pub next_prune: Arc<Mutex<Option<OffsetDateTime>>>,
    pub in_flight: Arc<InFlight>,
}

/// This instance's sends in flight, counted by endpoint: the endpoints its claims leave out.
#[derive(Default)]
pub struct InFlight {
    by_endpoint: Mutex<HashMap<Uuid, usize>>,
    /// One claim at a time on this instance, so that two never take the same free endpoint's
    /// deliveries.
    claiming: tokio::sync::Mutex<()>,
    /// Every send, waited for at shutdown.
    sends: TaskTracker,
}

impl InFlight {
    fn busy(&self) -> Vec<Uuid> {
        self.counts().keys().copied().collect()
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, usize>> {
        self.by_endpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A send to an endpoint, counted in flight until it is dropped: once its outcome is recorded (or
/// its task ended otherwise), so that the endpoint's next claim sees it. The background loop's sends
/// tell it (`freed`) when their endpoint's last answer is in.
struct Sending {
    in_flight: Arc<InFlight>,
    endpoint: Uuid,
    freed: Option<Arc<Notify>>,
}

impl Sending {
    fn start(in_flight: &Arc<InFlight>, endpoint: Uuid, freed: Option<Arc<Notify>>) -> Self {
        *in_flight.counts().entry(endpoint).or_default() += 1;
        Self {
            in_flight: in_flight.clone(),
            endpoint,
            freed,
        }
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        let mut counts = self.in_flight.counts();
        let left = counts.get_mut(&self.endpoint).map(|n| {
            *n -= 1;
            *n
        });
        if left == Some(0) {
            counts.remove(&self.endpoint);
            if let Some(freed) = &self.freed {
                freed.notify_one();
            }
        }
    }
}

/// How often a dispatcher prunes: a step runs every `webhooks.interval_ms` on every instance, and
/// on SQLite a prune takes the one writer even when nothing is old enough.
const PRUNE_EVERY: time::Duration = time::Duration::minutes(1);

/// What one step did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DispatchStep {
    pub fanned_out: usize,
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub given_up: usize,
    /// Acknowledged deliveries deleted past `webhooks.delivered_retention_seconds`.
    pub pruned: u64,
}

/// The client deliveries go through: no redirects (a 3xx is an answer, not a new target), the
/// configured timeouts and roots, and, unless internal targets are allowed, a resolver that never
/// yields an internal address.
pub fn client(settings: &WebhookSettings, allow_private: bool) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
        .user_agent("flashgate-webhooks");
    if !allow_private {
        builder = builder.dns_resolver(Arc::new(target::PublicOnly));
    }
    builder =
        crate::tls::trusting_root_ca(builder, "webhooks.root_ca_file", &settings.root_ca_file)?;
    Ok(builder.build()?)
}

impl Dispatcher {
    /// One step that waits for every answer: fans out, sends what is due, batch after batch while a
    /// round of claims fills a batch, and prunes. The background loop (`run`) does not wait.
    pub async fn run_once(&self) -> Result<DispatchStep, StoreError> {
        let mut step = DispatchStep {
            fanned_out: self.fan_out().await?,
            ..DispatchStep::default()
        };
        loop {
            let sends = self.start_due(None).await?;
            let claimed = sends.len();
            step.claimed += claimed;
            for send in sends {
                let recorded = send.await.map_err(|e| {
                    StoreError::internal(format!("a webhook send ended without an outcome: {e}"))
                })?;
                match recorded? {
                    Recorded::Delivered => step.delivered += 1,
                    Recorded::Retried => step.retried += 1,
                    Recorded::GivenUp => step.given_up += 1,
                }
            }
            if i64::try_from(claimed).unwrap_or(i64::MAX) < self.settings.batch {
                break;
            }
        }
        step.pruned = self.prune().await?;
        Ok(step)
    }

    /// Runs until `shutdown`: a step every `webhooks.interval_ms`, which starts the due sends without
    /// waiting for their answers, and a claim as soon as an endpoint's answers are all in, so that
    /// its backlog goes on batch after batch. The answers in flight at shutdown are recorded before
    /// this returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let freed = Arc::new(Notify::new());
        let steps = run_every("webhooks", self.settings.interval, shutdown.clone(), || {
            let (dispatcher, freed) = (self.clone(), freed.clone());
            async move { dispatcher.step(freed).await }
        });
        let claims = async {
            while shutdown
                .run_until_cancelled(freed.notified())
                .await
                .is_some()
            {
                if let Err(error) = self.start_due(Some(&freed)).await {
                    tracing::warn!(%error, "claiming webhook deliveries failed");
                }
            }
        };
        tokio::join!(steps, claims);
        self.in_flight.sends.close();
        self.in_flight.sends.wait().await;
    }

    async fn step(&self, freed: Arc<Notify>) -> Result<(), StoreError> {
        self.fan_out().await?;
        self.start_due(Some(&freed)).await?;
        self.prune().await?;
        Ok(())
    }

    /// Fans out every event the feed hands out now; how many.
    async fn fan_out(&self) -> Result<usize, StoreError> {
        let batch = self.settings.batch;
        let mut fanned_out = 0;
        loop {
            let read = self.deliveries.fan_out(self.clock.now(), batch).await?;
            fanned_out += read;
            if i64::try_from(read).unwrap_or(i64::MAX) < batch {
                return Ok(fanned_out);
            }
        }
    }

    /// Deletes one batch of acknowledged deliveries past their retention, once a minute, or at the
    /// next step again while a backlog of them is left.
    async fn prune(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let due = |next: &Option<OffsetDateTime>| next.is_none_or(|next| now >= next);
        if !due(&self
            .next_prune
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
        {
            return Ok(0);
        }
        let retention = time::Duration::try_from(self.settings.delivered_retention)
            .unwrap_or(time::Duration::MAX);
        let batch = self.settings.batch;
        let pruned = self
            .deliveries
            .prune_delivered(now - retention, batch)
            .await?;
        let full = i64::try_from(pruned).unwrap_or(i64::MAX) >= batch;
        *self
            .next_prune
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (!full).then(|| now + PRUNE_EVERY);
        Ok(pruned)
    }

    /// Claims the due deliveries of every endpoint with no send in flight here, again while a claim
    /// comes back full (the endpoints claimed are left out of the next), and starts sending each,
    /// telling `freed` when an endpoint's last answer is in; each handle answers with what its send
    /// recorded.
    async fn start_due(
        &self,
        freed: Option<&Arc<Notify>>,
    ) -> Result<Vec<JoinHandle<Result<Recorded, StoreError>>>, StoreError> {
        let _alone = self.in_flight.claiming.lock().await;
        let lease = time::Duration::try_from(self.settings.lease).unwrap_or(time::Duration::MAX);
        let mut sends = Vec::new();
        loop {
            let now = self.clock.now();
            let token = Uuid::new_v4();
            let busy = self.in_flight.busy();
            let claimed = self
                .deliveries
                .claim(now, now + lease, token, self.settings.batch, &busy)
                .await?;
            let full = i64::try_from(claimed.len()).unwrap_or(i64::MAX) >= self.settings.batch;
            for d in claimed {
                let sending = Sending::start(&self.in_flight, d.endpoint.id, freed.cloned());
                let dispatcher = self.clone();
                sends.push(self.in_flight.sends.spawn(async move {
                    let outcome = dispatcher.send(&d).await;
                    let recorded = dispatcher.record(&d, token, outcome).await;
                    drop(sending);
                    recorded
                }));
            }
            if !full {
                return Ok(sends);
            }
        }
    }

    /// One attempt: `Err` says why it failed.
    async fn send(&self, d: &Claimed) -> Result<(), String> {
        // The stored URL is checked again as at registration: its literal address, if any, by the
        // same rule (the resolver below is not asked about a literal).
        let url = target::parse(&d.endpoint.url, self.allow_private)
            .map_err(|e| format!("refused: {e}"))?;
        let body = serde_json::to_vec(&EventView::from(&d.event)).map_err(|e| e.to_string())?;
        let id = d.event.public_id();
        let now = self.clock.now();
        let timestamp = now.unix_timestamp();
        let signed = signature::header(&d.endpoint.signing_secrets(now), &id, timestamp, &body);
        let response = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signed)
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status();
        drain(response, self.settings.max_response_bytes).await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", status.as_u16()))
        }
    }

    async fn record(
        &self,
        d: &Claimed,
        token: Uuid,
        outcome: Result<(), String>,
    ) -> Result<Recorded, StoreError> {
        let now = self.clock.now();
        match outcome {
            Ok(()) => {
                self.deliveries.delivered(d.id, token, now).await?;
                crate::metrics::webhook_delivery("delivered");
                crate::metrics::webhook_lag(now - d.event.at);
                Ok(Recorded::Delivered)
            }
            Err(error) => {
                let waits = &self.settings.retry_schedule;
                let spent = usize::try_from(d.attempts).unwrap_or(usize::MAX);
                match waits.get(spent.saturating_sub(1)) {
                    Some(wait) => {
                        let wait = wait.mul_f64(rand::rng().random_range(0.9..1.1));
                        let next =
                            now + time::Duration::try_from(wait).unwrap_or(time::Duration::MAX);
                        self.deliveries.retry_at(d.id, token, next, &error).await?;
                        crate::metrics::webhook_delivery("failed");
                        tracing::info!(endpoint = %d.endpoint.id, event = d.event.id, attempts = d.attempts, %error, "webhook delivery failed; retrying");
                        Ok(Recorded::Retried)
                    }
                    None => {
                        let reason = format!("{} attempts failed; the last: {error}", d.attempts);
                        self.deliveries.give_up(d.id, token, now, &reason).await?;
                        crate::metrics::webhook_delivery("given_up");
                        crate::metrics::webhook_endpoint_disabled();
                        tracing::warn!(endpoint = %d.endpoint.id, event = d.event.id, %reason, "webhook endpoint disabled");
                        Ok(Recorded::GivenUp)
                    }
                }
            }
        }
    }
}

enum Recorded {
    Delivered,
    Retried,
    GivenUp,
}

/// A failed request in a few words (the endpoint's own URL is in the endpoint).
fn describe(error: &reqwest::Error) -> String {
    let mut cause: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = cause {
        if let Some(refused) = e.downcast_ref::<target::TargetError>() {
            return format!("refused: {refused}");
        }
        cause = e.source();
    }
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    }
}

/// Reads at most `cap` bytes of the answer, so a huge or endless body costs nothing more.
async fn drain(mut response: reqwest::Response, cap: usize) {
    let mut read = 0;
    while read < cap {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
}
