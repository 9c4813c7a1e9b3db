//! Load shedding in front of purchases: a bounded number run at once, and a request that cannot
//! start within the queue budget is answered 503 `overloaded` with `Retry-After` at once, instead of
//! queueing on the database pool.

use super::problem::Problem;
use crate::config::within;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_with::{DurationMilliSeconds, serde_as};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

pub async fn shed(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !(request.method() == Method::POST && request.uri().path() == "/orders") {
        return next.run(request).await;
    }
    let budget = state.settings.shedding.queue_budget;
    let slots = Arc::clone(&state.shared.purchase_slots);
    // A free slot is taken at once; only a wait arms the budget's timer (most requests never wait).
    let slot = match Arc::clone(&slots).try_acquire_owned() {
        Ok(slot) => slot,
        Err(_) => match tokio::time::timeout(budget, slots.acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            _ => {
                metrics::counter!("flashgate_shed_total").increment(1);
                return OVERLOADED.clone().into_response();
            }
        },
    };
    let response = next.run(request).await;
    drop(slot);
    response
}

/// What a purchase shed under overload is told, rendered once: a spike gets it thousands of times a
/// second.
static OVERLOADED: LazyLock<Problem> = LazyLock::new(|| {
    Problem {
        retry_after_seconds: Some(1),
        ..Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "The service is busy",
            "Too many purchases are in progress; retry shortly.",
        )
    }
    .rendered_once()
});

/// `[shedding]`: how many purchases run at once and how long one may wait to start.
#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SheddingSettings {
    pub max_concurrent_purchases: usize,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "queue_budget_ms")]
    pub queue_budget: Duration,
}

impl SheddingSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        within(
            "shedding.max_concurrent_purchases",
            self.max_concurrent_purchases,
            1,
            1_000_000,
        )?;
        within(
            "shedding.queue_budget_ms",
            self.queue_budget,
            Duration::ZERO,
            Duration::from_secs(600),
        )
    }
}
