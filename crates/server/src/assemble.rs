//! The composition root of the purchase path: every choice the settings make (the strategy, Redis or
//! in process, caching on or off) is made here, once. The request path calls what was assembled and
//! never asks again.
//!
//! What is built, and why it is decorated:
//! - the shared state (gate, cache, limits, purchase slots; see `crate::shared`);
//! - the store's catalogue writes, wrapped so that an admin change rebuilds the product's gate and
//!   invalidates its cached copy on every instance;
//! - the store's transitions: with a gate, units a transition moves are given back to (or taken
//!   from) the gate; without one, the product's cached copy (whose count buyers see) is dropped;
//! - the store's reservations: stored answers remembered in process (`shared::answers`), so retries
//!   of a purchase replay from memory; without a gate, a new order drops the product's cached copy too;
//! - the checkout the strategy names: [`DirectCheckout`] (pessimistic: a row lock; conditional: one
//!   conditional update) or [`GatedCheckout`] (gate, group commit, conditional fallback).

use crate::config::{Settings, within};
use crate::shared::SharedState;
use crate::shared::answers::RememberedAnswers;
use crate::shared::in_step::{
    CountedReservations, CountedTransitions, GatedTransitions, SyncedCatalog,
};
use flashgate_core::Clock;
use flashgate_core::checkout::{
    Checkout, CommitSettings, DirectCheckout, GatedCheckout, GroupCommitter, Strategy,
};
use flashgate_core::purchase::WriteMode;
use flashgate_store::Store;
use serde::Deserialize;
use serde_with::{DurationSeconds, serde_as};
use std::sync::Arc;
use std::time::Duration;

/// The purchase path, put together.
pub struct Assembled {
    /// The store, its ports decorated to keep the shared state in step.
    pub store: Store,
    pub shared: Arc<SharedState>,
    pub checkout: Arc<dyn Checkout>,
}

pub async fn assemble(
    settings: &Settings,
    store: Store,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Assembled> {
    let strategy = settings.inventory.strategy;
    let gated = strategy == Strategy::Gated;
    let shared = SharedState::connect(
        settings,
        gated,
        store.products.clone(),
        store.gate_fence.clone(),
        clock.clone(),
    )
    .await?;
    let mut store = store;
    store.catalog = Arc::new(SyncedCatalog {
        inner: store.catalog.clone(),
        gate: shared.gate.clone(),
        products: shared.products.clone(),
    });
    match &shared.gate {
        Some(gate) => {
            store.transitions = Arc::new(GatedTransitions {
                inner: store.transitions.clone(),
                orders: store.orders.clone(),
                gate: gate.clone(),
            });
            if !gate.is_degraded()
                && let Err(error) = gate.rebuild_all().await
            {
                tracing::warn!(%error, "gates not built at start; they are built on first use");
            }
        }
        None => {
            store.transitions = Arc::new(CountedTransitions {
                inner: store.transitions.clone(),
                products: shared.products.clone(),
            });
            store.reservations = Arc::new(CountedReservations {
                inner: store.reservations.clone(),
                products: shared.products.clone(),
            });
        }
    }
    // Outermost, so that what the checkouts ask of stored answers meets the memory first.
    store.reservations = Arc::new(RememberedAnswers::new(store.reservations.clone()));
    let direct = |mode| DirectCheckout {
        products: store.products.clone(),
        reservations: store.reservations.clone(),
        clock: clock.clone(),
        mode,
        hold: settings.inventory.hold(),
    };
    let checkout: Arc<dyn Checkout> = match (&shared.gate, strategy) {
        (Some(gate), _) => {
            let g = &settings.gate;
            let commits = GroupCommitter::spawn(
                store.reservations.clone(),
                gate.clone(),
                CommitSettings {
                    max_batch: g.max_batch,
                    max_wait: g.max_wait,
                    concurrent_batches: g.concurrent_batches,
                    duplicate_wait: g.duplicate_wait,
                },
            );
            Arc::new(GatedCheckout {
                products: shared.products.clone(),
                gate: gate.clone(),
                commits: Arc::new(commits),
                fallback: direct(WriteMode::Conditional),
            })
        }
        (None, Strategy::Pessimistic) => Arc::new(direct(WriteMode::Locking)),
        (None, _) => Arc::new(direct(WriteMode::Conditional)),
    };
    Ok(Assembled {
        store,
        shared: Arc::new(shared),
        checkout,
    })
}

#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventorySettings {
    pub strategy: Strategy,
    /// How long a new order holds its units while the buyer pays.
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "hold_seconds")]
    pub hold: Duration,
}

impl InventorySettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        within(
            "inventory.hold_seconds",
            self.hold,
            Duration::from_secs(1),
            Duration::from_secs(7 * 24 * 3600),
        )
    }

    /// The hold, as order times count it.
    pub fn hold(&self) -> time::Duration {
        time::Duration::try_from(self.hold).unwrap_or(time::Duration::MAX)
    }
}
