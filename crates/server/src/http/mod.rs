//! The HTTP API: routes, one file per resource, and the layers every request passes through. This is the
//! only layer that knows status codes.

pub mod admin;
pub mod client_ip;
pub mod extract;
pub mod health;
pub mod orders;
pub mod problem;
pub mod products;
pub mod rate_limit;
pub mod shedding;

use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use axum::middleware;
use axum::routing::{get, patch, post};
use std::time::Duration;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
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
        .route("/orders", post(orders::create).get(orders::list))
        .route("/orders/{id}", get(orders::get))
        .fallback(problem::no_route)
        .layer(middleware::from_fn_with_state(state.clone(), shedding::shed))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit::limit))
        .with_state(state)
        .layer(DefaultBodyLimit::max(settings.http.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_millis(settings.http.request_timeout_ms),
        ))
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
