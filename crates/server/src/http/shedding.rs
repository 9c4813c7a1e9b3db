//! Load shedding in front of purchases: a bounded number run at once, and a request that cannot
//! start within the queue budget is answered 503 `overloaded` with `Retry-After` at once, instead of
//! queueing on the database pool.

use super::problem::Problem;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;

pub async fn shed(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !(request.method() == Method::POST && request.uri().path() == "/orders") {
        return next.run(request).await;
    }
    let budget = Duration::from_millis(state.settings.shedding.queue_budget_ms);
    let slots = Arc::clone(&state.fastpath.purchase_slots);
    let slot = match tokio::time::timeout(budget, slots.acquire_owned()).await {
        Ok(Ok(slot)) => slot,
        _ => {
            metrics::counter!("flashgate_shed_total").increment(1);
            return overloaded().into_response();
        }
    };
    let response = next.run(request).await;
    drop(slot);
    response
}

fn overloaded() -> Problem {
    Problem {
        retry_after_seconds: Some(1),
        ..Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "The service is busy",
            "Too many purchases are in progress; retry shortly.",
        )
    }
}
