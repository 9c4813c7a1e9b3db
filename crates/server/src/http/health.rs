//! Liveness (`/healthz`: the process runs) and readiness (`/readyz`: its dependencies answer, each
//! reported on its own). `/readyz` is open to anyone, so what it costs downstream is bounded: the
//! database's and the gateway's checks are reused for `CHECKS_KEPT`, one check at a time (callers
//! meanwhile wait for its answer), and a failure is told in a few fixed words, its detail logged.

use super::extract::credentials;
use super::openapi::{NotFound, Unauthorized, Unavailable};
use super::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use utoipa::ToSchema;

/// A readiness probe must answer quickly even when the gateway hangs.
const GATEWAY_CONNECT_LIMIT: Duration = Duration::from_secs(1);

/// How long a database or gateway check answers every `/readyz`: a flood of probes costs the
/// database one ping and the gateway one connection per second, whatever its rate.
pub const CHECKS_KEPT: Duration = Duration::from_secs(1);

/// The last database and gateway checks, shared by every request (`Services::readiness`).
#[derive(Default)]
pub struct ReadinessChecks {
    /// Why the database is down, if it is.
    database: Recent<Result<(), &'static str>>,
    gateway: Recent<GatewayState>,
}

#[derive(Clone, Copy)]
struct GatewayState {
    status: &'static str,
    kind: &'static str,
    error: Option<&'static str>,
}

/// One check's last answer while it is fresh. The lock is held while the check runs, so concurrent
/// probes wait for that one check instead of starting their own.
struct Recent<T>(Mutex<Option<(Instant, T)>>);

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<T: Copy> Recent<T> {
    async fn get(&self, check: impl std::future::Future<Output = T>) -> T {
        let mut kept = self.0.lock().await;
        if let Some((at, answer)) = *kept
            && at.elapsed() < CHECKS_KEPT
        {
            return answer;
        }
        let answer = check.await;
        *kept = Some((Instant::now(), answer));
        answer
    }
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, or `unavailable` when the database does not answer.
    #[schema(value_type = String, pattern = "^(ready|unavailable)$")]
    status: &'static str,
    checks: Checks,
}

#[derive(Serialize, ToSchema)]
pub struct Checks {
    database: DatabaseCheck,
    redis: RedisCheck,
    gateway: GatewayCheck,
}

#[derive(Serialize, ToSchema)]
pub struct DatabaseCheck {
    #[schema(value_type = String, pattern = "^(up|down)$")]
    status: &'static str,
    #[schema(value_type = String, pattern = "^(postgres|sqlite)$")]
    backend: &'static str,
    /// Why the database is down, in a few fixed words (the driver's error is logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RedisCheck {
    /// `in_process` when no Redis is configured; `degraded` while it does not answer.
    #[schema(value_type = String, pattern = "^(in_process|up|degraded)$")]
    status: &'static str,
}

/// The payment gateway's API; its being down delays payments but does not make the service unready.
#[derive(Serialize, ToSchema)]
pub struct GatewayCheck {
    #[schema(value_type = String, pattern = "^(up|down)$")]
    status: &'static str,
    /// `simulator` when the bundled VNPay simulator stands in for the gateway.
    #[schema(value_type = String, pattern = "^(simulator|vnpay)$")]
    kind: &'static str,
    /// Why the gateway cannot be reached, in a few fixed words (the system's error is logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    responses((status = 200, description = "The process runs.", body = Health)),
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "health",
    responses(
        (status = 200, description = "The database answers; Redis and the gateway may be down.", body = Readiness),
        (status = 503, description = "The database does not answer.", content(
            (Readiness = "application/json"),
            (Unavailable = "application/problem+json"),
        )),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let checks = &state.readiness;
    let (database, redis, gateway) = tokio::join!(
        checks.database.get(database(&state)),
        state.shared.redis_status(),
        checks.gateway.get(gateway(&state))
    );
    let backend = state.store.backend.as_str();
    let database = match database {
        Ok(()) => DatabaseCheck {
            status: "up",
            backend,
            error: None,
        },
        Err(error) => DatabaseCheck {
            status: "down",
            backend,
            error: Some(error.to_owned()),
        },
    };
    let gateway = GatewayCheck {
        status: gateway.status,
        kind: gateway.kind,
        error: gateway.error.map(str::to_owned),
    };
    let ready = database.error.is_none();
    // Redis down degrades the service (database path, per-instance limits) but does not stop it; an
    // unreachable gateway delays payments (the reconciler catches up) but does not stop selling.
    let redis = RedisCheck {
        status: redis.as_str(),
    };
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        checks: Checks {
            database,
            redis,
            gateway,
        },
    };
    if ready {
        (StatusCode::OK, Json(body)).into_response()
    } else {
        // Like every other 503, it says when to look again.
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            Json(body),
        )
            .into_response()
    }
}

/// The database answers a ping; why not in a few words (the driver's own words are logged: they may
/// name hosts, users and files).
async fn database(state: &AppState) -> Result<(), &'static str> {
    state.store.health.ping().await.map_err(|error| {
        tracing::warn!(%error, "readiness: the database does not answer");
        "the database is unavailable (the cause is in this instance's log)"
    })
}

/// The payment gateway's API: the bundled simulator answers in this very process; a real gateway is
/// checked with a TCP connection to its API host, which costs it nothing.
async fn gateway(state: &AppState) -> GatewayState {
    let check = |status, kind, error| GatewayState {
        status,
        kind,
        error,
    };
    if state.settings.vnpay.uses_simulator() {
        return check("up", "simulator", None);
    }
    let url = &state.gateway.client.config().api_url;
    let target = reqwest::Url::parse(url).ok().and_then(|url| {
        let port = url.port_or_known_default()?;
        Some((url.host_str()?.to_owned(), port))
    });
    let Some(target) = target else {
        return check("down", "vnpay", Some("vnpay.api_url names no host"));
    };
    match tokio::time::timeout(GATEWAY_CONNECT_LIMIT, TcpStream::connect(target)).await {
        Ok(Ok(_)) => check("up", "vnpay", None),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: cannot connect to the gateway's API host");
            check("down", "vnpay", Some("cannot connect to the API host"))
        }
        Err(_) => check("down", "vnpay", Some("no answer within 1 s")),
    }
}

/// Prometheus text for scrapers, on the API's address unless `metrics.listen` serves it apart.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "health",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format.", body = String, content_type = "text/plain"),
        (status = 401, description = "`metrics.token` is set and was not sent as a bearer token.", body = Unauthorized, content_type = "application/problem+json"),
        (status = 404, description = "`metrics.listen` is set: metrics are served only there.", body = NotFound, content_type = "application/problem+json"),
    ),
)]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state.settings.metrics.listen_addr().is_some() {
        return Problem::not_found("not_found", "There is no such route.").into_response();
    }
    scrape(State(state), headers).await
}

/// `/metrics` wherever it is served: the Prometheus text, to the bearer of `metrics.token` when set.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let expected = state.settings.metrics.token.expose();
    if !expected.is_empty() {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| credentials(v, "Bearer"))
            .unwrap_or("");
        if !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
            return Problem::unauthorized("Send Authorization: Bearer <metrics.token>.")
                .into_response();
        }
    }
    state
        .metrics
        .as_ref()
        .map(|handle| handle.render())
        .unwrap_or_default()
        .into_response()
}
