//! The webhook dispatcher: each step fans the events written since the last step out to the
//! endpoints subscribed to them, claims due deliveries (a lease, so instances never send one attempt
//! twice, and a crashed instance's claims are sent again once they lapse), sends them and records
//! the outcome: acknowledged (2xx), retried on `webhooks.retry_schedule_ms`, or given up with the
//! endpoint disabled.

use super::{WebhookSettings, signature, target};
use crate::http::events::EventView;
use flashgate_core::webhooks::{Claimed, WebhookDeliveries};
use flashgate_core::{Clock, StoreError};
use futures_util::future::join_all;
use rand::Rng;
use reqwest::header::CONTENT_TYPE;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use time::OffsetDateTime;
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
    pub async fn run_once(&self) -> Result<DispatchStep, StoreError> {
        let mut step = DispatchStep::default();
        let batch = self.settings.batch;
        loop {
            let read = self.deliveries.fan_out(self.clock.now(), batch).await?;
            step.fanned_out += read;
            if i64::try_from(read).unwrap_or(i64::MAX) < batch {
                break;
            }
        }
        // A backlog (a receiver back after an outage) is sent batch after batch, not one batch per
        // interval; a step ends once the due deliveries fit in one batch.
        loop {
            let claimed = self.send_due().await?;
            step.claimed += claimed.claimed;
            step.delivered += claimed.delivered;
            step.retried += claimed.retried;
            step.given_up += claimed.given_up;
            if i64::try_from(claimed.claimed).unwrap_or(i64::MAX) < batch {
                break;
            }
        }
        step.pruned = self.prune().await?;
        Ok(step)
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

    /// Claims one batch of due deliveries, sends them and records each outcome.
    async fn send_due(&self) -> Result<DispatchStep, StoreError> {
        let mut step = DispatchStep::default();
        let now = self.clock.now();
        let lease = time::Duration::try_from(self.settings.lease).unwrap_or(time::Duration::MAX);
        let token = Uuid::new_v4();
        let claimed = self
            .deliveries
            .claim(now, now + lease, token, self.settings.batch)
            .await?;
        step.claimed = claimed.len();
        // Each delivery is recorded as soon as its answer is in, so a slow endpoint holds back no
        // other's next event.
        let recorded = join_all(claimed.iter().map(|d| async move {
            let outcome = self.send(d).await;
            self.record(d, token, outcome).await
        }))
        .await;
        for outcome in recorded {
            match outcome? {
                Recorded::Delivered => step.delivered += 1,
                Recorded::Retried => step.retried += 1,
                Recorded::GivenUp => step.given_up += 1,
            }
        }
        Ok(step)
    }

    /// One attempt: `Err` says why it failed.
    async fn send(&self, d: &Claimed) -> Result<(), String> {
        let url = target::parse(&d.endpoint.url, self.allow_private).map_err(|e| e.to_string())?;
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
