//! Liveness (`/healthz`: the process runs) and readiness (`/readyz`: its dependencies answer).

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = match state.store.health.ping().await {
        Ok(()) => json!({"status": "up", "backend": state.store.backend.as_str()}),
        Err(e) => {
            json!({"status": "down", "backend": state.store.backend.as_str(), "error": e.to_string()})
        }
    };
    let ready = database["status"] == "up";
    // Redis down degrades the service (database path, per-instance limits) but does not stop it.
    let redis = json!({"status": state.fastpath.redis_status().await.as_str()});
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": { "database": database, "redis": redis },
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// Prometheus text for scrapers.
pub async fn metrics(State(state): State<AppState>) -> String {
    state
        .metrics
        .as_ref()
        .map(|handle| handle.render())
        .unwrap_or_default()
}
