//! Webhooks: endpoints the shop registers, and the deliveries of order events to them. Storage keeps
//! both; the server's dispatcher claims due deliveries, sends them and records what happened.

use crate::error::StoreError;
use crate::events::OrderEvent;
use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

/// A registered endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    /// The event types sent there; `None`: every type.
    pub events: Option<Vec<String>>,
    /// `whsec_…`: what signs its deliveries.
    pub secret: String,
    /// The secret before the last rotation, which signs too until `previous_until`.
    pub previous_secret: Option<String>,
    pub previous_until: Option<OffsetDateTime>,
    pub enabled: bool,
    /// Why the dispatcher disabled it, if it did.
    pub disabled_reason: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Endpoint {
    /// The secrets that sign a delivery sent at `now`: the current one, and the previous one while it
    /// is still honoured.
    pub fn signing_secrets(&self, now: OffsetDateTime) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(until)) = (&self.previous_secret, self.previous_until)
            && now < until
        {
            secrets.push(previous);
        }
        secrets
    }
}

/// A change to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    /// `Some(None)`: every type again.
    pub events: Option<Option<Vec<String>>>,
    /// Disabling pauses the endpoint; enabling it again clears the dispatcher's reason and sends
    /// what was given up and every event it subscribes to that came while it was disabled.
    pub enabled: Option<bool>,
    /// A rotation: the new secret, and until when the current one keeps signing.
    pub rotate: Option<(String, OffsetDateTime)>,
}

#[async_trait]
pub trait WebhookEndpoints: Send + Sync {
    async fn create(&self, endpoint: &Endpoint) -> Result<(), StoreError>;
    async fn list(&self) -> Result<Vec<Endpoint>, StoreError>;
    async fn get(&self, id: Uuid) -> Result<Option<Endpoint>, StoreError>;
    async fn update(
        &self,
        id: Uuid,
        patch: &EndpointPatch,
        now: OffsetDateTime,
    ) -> Result<Option<Endpoint>, StoreError>;
    async fn delete(&self, id: Uuid) -> Result<bool, StoreError>;
    /// Sends again to the endpoint every event since `since` that it subscribes to: how many.
    async fn replay(
        &self,
        id: Uuid,
        since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError>;
}

/// A delivery a dispatcher holds the lease of.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    /// Including this one.
    pub attempts: u32,
    pub endpoint: Endpoint,
    pub event: OrderEvent,
}

/// Delivery health for the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryHealth {
    pub endpoints: i64,
    pub disabled_endpoints: i64,
    /// Not yet acknowledged, not given up.
    pub pending: i64,
    /// Of those, how many have failed at least once.
    pub retrying: i64,
    pub failed: i64,
    pub oldest_pending_at: Option<OffsetDateTime>,
    /// When the first event the fan-out has not read yet was written: one the next fan-out reads,
    /// or one the feed still holds back (see `events::EventFeed`).
    pub unread_event_at: Option<OffsetDateTime>,
}

#[async_trait]
pub trait WebhookDeliveries: Send + Sync {
    /// Writes a delivery for each event after the fan-out's position and each endpoint subscribed
    /// to it, at most `limit` events; moves the position. How many events it read.
    async fn fan_out(&self, now: OffsetDateTime, limit: i64) -> Result<usize, StoreError>;
    /// Leases up to `limit` due deliveries under `token` until `lease_until`, none to the endpoints
    /// `except`: of each order and endpoint only the earliest open one, so an order's events arrive
    /// in sequence.
    async fn claim(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        token: Uuid,
        limit: i64,
        except: &[Uuid],
    ) -> Result<Vec<Claimed>, StoreError>;
    async fn delivered(&self, id: i64, token: Uuid, at: OffsetDateTime) -> Result<(), StoreError>;
    async fn retry_at(
        &self,
        id: i64,
        token: Uuid,
        next: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError>;
    /// The schedule is spent: the delivery is given up and its endpoint disabled with `error`.
    async fn give_up(
        &self,
        id: i64,
        token: Uuid,
        at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError>;
    async fn health(&self) -> Result<DeliveryHealth, StoreError>;
    /// Deletes up to `limit` deliveries acknowledged before `before`, oldest first; how many went.
    async fn prune_delivered(&self, before: OffsetDateTime, limit: i64) -> Result<u64, StoreError>;
}
