//! The HTTP API: routes, one file per resource, and the layers every request passes through. This is the
//! only layer that knows status codes.

pub mod admin;
pub mod admin_orders;
pub mod client_ip;
pub mod connections;
pub mod dashboard;
pub mod events;
pub mod extract;
pub mod health;
pub mod observe;
pub mod openapi;
pub mod orders;
pub mod pages;
pub mod payments;
pub mod problem;
pub mod products;
pub mod rate_limit;
pub mod sessions;
pub mod shedding;
pub mod times;
pub mod webhooks;

use crate::config::within;
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use serde::Deserialize;
use serde_with::{DurationMilliSeconds, serde_as};
use std::time::Duration;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/products", get(products::list))
        .route("/products/{id}", get(products::get))
        .route("/admin/products", post(admin::create))
        .route("/admin/products/{id}", patch(admin::update))
        .route("/admin/products/{id}/restock", post(admin::restock))
        .route("/admin/orders", get(admin_orders::search))
        .route("/admin/orders/{id}", get(admin_orders::detail))
        .route("/admin/orders/{id}/refund", post(admin_orders::refund))
        .route("/admin/orders/{id}/review", post(admin_orders::settle_review))
        .route("/admin/orders/{id}/refunded", post(admin_orders::mark_refunded))
        .route("/admin/events", get(events::feed))
        .route("/admin/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/admin/webhooks/{id}",
            patch(webhooks::update).delete(webhooks::delete),
        )
        .route("/admin/webhooks/{id}/replay", post(webhooks::replay))
        .route("/orders", post(orders::create).get(orders::list))
        .route("/orders/{id}", get(orders::get))
        .route("/payments/vnpay/ipn", get(payments::ipn))
        .route("/payments/vnpay/return", get(payments::return_page))
        .route("/sessions", post(sessions::create))
        .route("/sessions/current", delete(sessions::delete_current))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::document))
        .route("/admin/dashboard", get(dashboard::page))
        .route("/admin/dashboard/login", post(dashboard::login))
        .route("/admin/dashboard/events", get(dashboard::events))
        .fallback(problem::no_route)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), shedding::shed))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit::limit))
        .with_state(state)
        .layer(DefaultBodyLimit::max(settings.http.body_limit_bytes))
        .layer(middleware::from_fn_with_state(
            settings.http.request_timeout,
            answer_in_time,
        ))
        .layer(middleware::from_fn(observe::track))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Answers a request that takes longer than `http.request_timeout_ms` with the same 503 problem (and
/// `Retry-After`) as any other unavailability, instead of a bare status with an empty body.
async fn answer_in_time(
    State(limit): State<Duration>,
    request: Request<axum::body::Body>,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(limit_ms = limit.as_millis() as u64, "request timed out");
            problem::Problem::unavailable().into_response()
        }
    }
}

/// `[http]`: what every request is held to.
#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub body_limit_bytes: usize,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "request_timeout_ms")]
    pub request_timeout: Duration,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "shutdown_grace_ms")]
    pub shutdown_grace: Duration,
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long a request's head may take to arrive, counted from when the connection waits for it
    /// (so also how long an idle keep-alive connection is kept).
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "header_read_timeout_ms")]
    pub header_read_timeout: Duration,
    /// Connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
}

impl HttpSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        within(
            "http.body_limit_bytes",
            self.body_limit_bytes,
            256,
            64 << 20,
        )?;
        let (ms, hour) = (Duration::from_millis(1), Duration::from_secs(3600));
        within("http.request_timeout_ms", self.request_timeout, ms, hour)?;
        within(
            "http.shutdown_grace_ms",
            self.shutdown_grace,
            Duration::ZERO,
            hour,
        )?;
        within(
            "http.header_read_timeout_ms",
            self.header_read_timeout,
            Duration::from_millis(100),
            Duration::from_secs(600),
        )?;
        within("http.max_connections", self.max_connections, 1, 1_000_000)
    }

    pub fn connection_limits(&self) -> connections::ConnectionLimits {
        connections::ConnectionLimits {
            header_read_timeout: self.header_read_timeout,
            max_connections: self.max_connections,
        }
    }
}
