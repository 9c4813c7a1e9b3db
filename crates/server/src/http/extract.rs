//! Extractors that turn a request's parts into parsed values or a problem: JSON bodies, the buyer behind
//! a bearer token, the admin, and the idempotency key.

use super::problem::Problem;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use flashgate_core::{CustomerId, IdempotencyKey};
use subtle::ConstantTimeEq;

/// `axum::Json` whose rejections are problems.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Query` whose rejections are problems.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub struct ApiQuery<T>(pub T);

fn bearer(parts: &Parts) -> Result<&str, Problem> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Problem::unauthorized("Send Authorization: Bearer <token>."))?;
    let value = value
        .to_str()
        .map_err(|_| Problem::unauthorized("The Authorization header is not readable."))?;
    value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| Problem::unauthorized("The Authorization header must be a Bearer token."))
}

/// The buyer a request acts for, from a verified token.
pub struct Buyer(pub CustomerId);

impl FromRequestParts<AppState> for Buyer {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        state
            .tokens
            .verify(token)
            .map(Buyer)
            .map_err(|e| Problem::unauthorized(e.to_string()))
    }
}

/// Proof that the request carries the admin token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        // Constant time, so response timing tells nothing about how much of a guess was right.
        let expected = state.settings.admin_token.expose().as_bytes();
        if bool::from(token.as_bytes().ct_eq(expected)) {
            Ok(Admin)
        } else {
            Err(Problem::unauthorized("The admin token is not valid."))
        }
    }
}

/// The required `Idempotency-Key` header.
pub struct IdempotencyKeyHeader(pub IdempotencyKey);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKeyHeader {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.headers.get("idempotency-key").ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "idempotency_key_required",
                "An Idempotency-Key header is required",
                "Send a unique Idempotency-Key (a UUID is fine) and reuse it when retrying.",
            )
        })?;
        let raw = raw.to_str().unwrap_or("\u{0}");
        IdempotencyKey::parse(raw)
            .map(IdempotencyKeyHeader)
            .map_err(|e| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_idempotency_key",
                    "The Idempotency-Key is not valid",
                    e.to_string(),
                )
            })
    }
}
