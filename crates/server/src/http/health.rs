//! Liveness (`/healthz`: the process runs) and readiness (`/readyz`: its dependencies answer, each
//! reported on its own).

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;

/// A readiness probe must answer quickly even when the gateway hangs.
const GATEWAY_CONNECT_LIMIT: Duration = Duration::from_secs(1);

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (database, redis, gateway) = tokio::join!(
        state.store.health.ping(),
        state.fastpath.redis_status(),
        gateway(&state)
    );
    let backend = state.store.backend.as_str();
    let ready = database.is_ok();
    let database = match database {
        Ok(()) => json!({"status": "up", "backend": backend}),
        Err(e) => json!({"status": "down", "backend": backend, "error": e.to_string()}),
    };
    // Redis down degrades the service (database path, per-instance limits) but does not stop it; an
    // unreachable gateway delays payments (the reconciler catches up) but does not stop selling.
    let redis = json!({"status": redis.as_str()});
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": { "database": database, "redis": redis, "gateway": gateway },
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// The payment gateway's API: the bundled simulator answers in this very process; a real gateway is
/// checked with a TCP connection to its API host, which costs it nothing.
async fn gateway(state: &AppState) -> Value {
    if state.settings.vnpay.uses_simulator() {
        return json!({"status": "up", "kind": "simulator"});
    }
    let url = &state.gateway.client.config().api_url;
    let target = reqwest::Url::parse(url).ok().and_then(|url| {
        let port = url.port_or_known_default()?;
        Some((url.host_str()?.to_owned(), port))
    });
    let Some(target) = target else {
        return json!({"status": "down", "kind": "vnpay", "error": "vnpay.api_url names no host"});
    };
    match tokio::time::timeout(GATEWAY_CONNECT_LIMIT, TcpStream::connect(target)).await {
        Ok(Ok(_)) => json!({"status": "up", "kind": "vnpay"}),
        Ok(Err(e)) => json!({"status": "down", "kind": "vnpay", "error": e.to_string()}),
        Err(_) => json!({"status": "down", "kind": "vnpay", "error": "no answer within 1 s"}),
    }
}

/// Prometheus text for scrapers.
pub async fn metrics(State(state): State<AppState>) -> String {
    state
        .metrics
        .as_ref()
        .map(|handle| handle.render())
        .unwrap_or_default()
}
