//! The admission gate's counters as core's `FencedGate` drives them: the shared state's `Gate`
//! (Redis, or in process) behind core's `GateCounters` port, with Redis's health so that an outage
//! is skipped rather than waited for. The policy (fencing, suspects, healing, single-flight
//! rebuilds) is core's; this file only translates.

use crate::config::within;
use async_trait::async_trait;
use flashgate_core::checkout::{Counted, CountersError, GateAnswer, GateCounters, Ticket};
use flashgate_core::clock::epoch_ms;
use flashgate_core::ports::GateSnapshot;
use flashgate_core::{CustomerId, ProductId, Quantity};
use flashgate_shared_state::{
    Admission, AdmitRequest, CustomerCount, Gate, GateProduct, RedisHealth, SharedStateError,
};
use serde::Deserialize;
use serde_with::{DurationMicroSeconds, DurationMilliSeconds, DurationSeconds, serde_as};
use std::sync::Arc;
use std::time::Duration;

pub struct SharedCounters {
    gate: Arc<dyn Gate>,
    /// Redis's health; `None` for the in-process gate, which cannot be down.
    health: Option<Arc<RedisHealth>>,
}

impl SharedCounters {
    pub fn new(gate: Arc<dyn Gate>, health: Option<Arc<RedisHealth>>) -> Self {
        Self { gate, health }
    }
}

fn counters_error(error: SharedStateError) -> CountersError {
    CountersError {
        unavailable: error.is_unavailable(),
        message: error.to_string(),
    }
}

/// Core's epochs are the database's signed column; the shared state's are unsigned. A negative
/// epoch never names a real one, so it fences nothing.
fn shared_epoch(epoch: i64) -> Option<u64> {
    u64::try_from(epoch).ok()
}

fn core_epoch(epoch: u64) -> Result<i64, CountersError> {
    i64::try_from(epoch).map_err(|e| CountersError {
        unavailable: false,
        message: format!("gate epoch {epoch} out of range: {e}"),
    })
}

fn request(ticket: &Ticket) -> AdmitRequest {
    AdmitRequest {
        product_id: ticket.product_id.0,
        customer: ticket.customer.as_str().to_owned(),
        idempotency_key: ticket.key.as_str().to_owned(),
        quantity: ticket.quantity.get(),
        now_ms: epoch_ms(ticket.at),
    }
}

#[async_trait]
impl GateCounters for SharedCounters {
    fn is_degraded(&self) -> bool {
        self.health.as_ref().is_some_and(|h| h.is_degraded())
    }

    fn changes(&self, product: ProductId) -> Option<u64> {
        self.gate.changes(product.0)
    }

    fn fresh_epoch(&self) -> i64 {
        // `fresh_epoch` draws from 1..=i64::MAX, so the conversion cannot fail.
        i64::try_from(flashgate_shared_state::fresh_epoch()).unwrap_or(i64::MAX)
    }

    async fn admit(&self, ticket: &Ticket) -> Result<GateAnswer, CountersError> {
        let fenced = self
            .gate
            .admit_fenced(&request(ticket))
            .await
            .map_err(counters_error)?;
        Ok(match fenced.admission {
            Admission::Admitted { .. } => GateAnswer::Admitted {
                epoch: core_epoch(fenced.epoch)?,
            },
            Admission::SoldOut => GateAnswer::SoldOut {
                holder: fenced.holder,
            },
            Admission::LimitExceeded => GateAnswer::LimitExceeded { may_be_retry: true },
            Admission::SaleNotActive => GateAnswer::SaleNotActive,
            Admission::Duplicate => GateAnswer::Duplicate,
            Admission::NotLoaded => GateAnswer::NotLoaded,
        })
    }

    async fn release(&self, ticket: &Ticket, epoch: Option<i64>) -> Result<(), CountersError> {
        self.gate
            .release_fenced(&request(ticket), epoch.and_then(shared_epoch))
            .await
            .map_err(counters_error)
    }

    async fn give_back(
        &self,
        product: ProductId,
        customer: &CustomerId,
        quantity: Quantity,
        epoch: i64,
    ) -> Result<(), CountersError> {
        self.gate
            .give_back_fenced(
                product.0,
                customer.as_str(),
                quantity.get(),
                shared_epoch(epoch),
            )
            .await
            .map_err(counters_error)
    }

    async fn held(
        &self,
        product: ProductId,
        customers: &[CustomerId],
    ) -> Result<Option<Vec<Counted>>, CountersError> {
        let customers: Vec<&str> = customers.iter().map(CustomerId::as_str).collect();
        let counts = self.gate.held(product.0, &customers).await;
        let Some(counts) = counts.map_err(counters_error)? else {
            return Ok(None);
        };
        let counted = |count: CustomerCount| {
            Ok(Counted {
                held: count.held,
                epoch: core_epoch(count.epoch)?,
            })
        };
        counts
            .into_iter()
            .map(counted)
            .collect::<Result<_, _>>()
            .map(Some)
    }

    async fn correct_held(
        &self,
        product: ProductId,
        customer: &CustomerId,
        seen: Counted,
        corrected: i64,
    ) -> Result<bool, CountersError> {
        let Some(epoch) = shared_epoch(seen.epoch) else {
            return Ok(false);
        };
        let seen = CustomerCount {
            held: seen.held,
            epoch,
        };
        self.gate
            .correct_held(product.0, customer.as_str(), seen, corrected)
            .await
            .map_err(counters_error)
    }

    async fn load(&self, snapshot: &GateSnapshot, epoch: i64) -> Result<(), CountersError> {
        let state = GateProduct {
            product_id: snapshot.product_id.0,
            available: snapshot.available,
            per_customer_limit: snapshot.per_customer_limit,
            sale_starts_at_ms: snapshot.window.starts_at.map(epoch_ms),
            sale_ends_at_ms: snapshot.window.ends_at.map(epoch_ms),
        };
        let holdings: Vec<(String, i64)> = snapshot
            .holdings
            .iter()
            .map(|(customer, held)| (customer.as_str().to_owned(), *held))
            .collect();
        let epoch = shared_epoch(epoch).ok_or_else(|| CountersError {
            unavailable: false,
            message: format!("negative gate epoch {epoch}"),
        })?;
        self.gate
            .load_fenced(&state, &holdings, epoch)
            .await
            .map_err(counters_error)
    }

    async fn available(&self, product: ProductId) -> Result<Option<i64>, CountersError> {
        self.gate.available(product.0).await.map_err(counters_error)
    }

    async fn epoch(&self, product: ProductId) -> Result<Option<i64>, CountersError> {
        match self.gate.epoch(product.0).await.map_err(counters_error)? {
            Some(epoch) => core_epoch(epoch).map(Some),
            None => Ok(None),
        }
    }
}

/// `[gate]`: the admission gate, its group commit and its keeper.
#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSettings {
    pub max_batch: usize,
    #[serde_as(as = "DurationMicroSeconds<u64>")]
    #[serde(rename = "max_wait_us")]
    pub max_wait: Duration,
    pub concurrent_batches: usize,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "duplicate_wait_ms")]
    pub duplicate_wait: Duration,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "sold_out_ttl_ms")]
    pub sold_out_ttl: Duration,
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "idempotency_ttl_seconds")]
    pub idempotency_ttl: Duration,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "keeper_interval_ms")]
    pub keeper_interval: Duration,
}

impl GateSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        within("gate.max_batch", self.max_batch, 1, 10_000)?;
        within("gate.concurrent_batches", self.concurrent_batches, 1, 1_000)?;
        within(
            "gate.max_wait_us",
            self.max_wait,
            Duration::ZERO,
            Duration::from_secs(1),
        )?;
        within(
            "gate.duplicate_wait_ms",
            self.duplicate_wait,
            Duration::ZERO,
            Duration::from_secs(60),
        )?;
        within(
            "gate.sold_out_ttl_ms",
            self.sold_out_ttl,
            Duration::ZERO,
            Duration::from_secs(3600),
        )?;
        within(
            "gate.idempotency_ttl_seconds",
            self.idempotency_ttl,
            Duration::from_secs(1),
            Duration::from_secs(30 * 24 * 3600),
        )?;
        within(
            "gate.keeper_interval_ms",
            self.keeper_interval,
            Duration::from_millis(1),
            Duration::from_secs(3600),
        )
    }
}
