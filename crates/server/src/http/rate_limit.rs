//! Rate limiting in front of the routes: GCRA per client IP for reads, purchases and payment
//! callbacks, and per customer for purchases. A refused request gets 429 `rate_limited` with
//! `Retry-After` and the IETF `RateLimit-Policy`/`RateLimit` headers; an admitted one carries the
//! headers of its tightest limit. A callback the handler could not verify (forged, another terminal's,
//! unreadable) is a strike in the penalty box for its sender.

use super::client_ip::client_ip;
use super::problem::Problem;
use crate::shared::limits::{CALLBACKS, PURCHASES, READS};
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flashgate_shared_state::{RateDecision, Verdict};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Set on a callback's response when it could not be verified as ours.
#[derive(Clone, Copy, Debug)]
pub struct UnverifiedCallback;

/// The policy a request counts against; `None` for routes that are not limited (admin, probes).
fn policy(method: &Method, path: &str) -> Option<&'static str> {
    if path.starts_with("/payments/") {
        Some(CALLBACKS)
    } else if method == Method::POST && path == "/orders" {
        Some(PURCHASES)
    } else if method == Method::GET
        && (path.starts_with("/products") || path.starts_with("/orders"))
    {
        Some(READS)
    } else {
        None
    }
}

pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limits) = state.shared.limits.clone() else {
        return next.run(request).await;
    };
    let Some(policy) = policy(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let ip = client_ip(
        peer,
        request.headers(),
        &state.settings.http.trusted_proxies,
    );
    // Callbacks are keyed apart, so a client banned for hammering reads cannot block the gateway.
    let mut keys = vec![if policy == CALLBACKS {
        format!("callback:{ip}")
    } else {
        format!("ip:{ip}")
    }];
    if policy == PURCHASES
        && let Some(customer) = bearer(&request).and_then(|t| state.tokens.verify(t).ok())
    {
        keys.push(format!("customer:{customer}"));
    }
    let mut tightest: Option<RateDecision> = None;
    for key in &keys {
        let Some(decision) = limits.check(policy, key).await else {
            continue;
        };
        if !decision.allowed() {
            crate::metrics::rate_limited(policy, decision.verdict == Verdict::Banned);
            return refuse(&decision);
        }
        if tightest
            .as_ref()
            .is_none_or(|t| decision.remaining < t.remaining)
        {
            tightest = Some(decision);
        }
    }
    let mut response = next.run(request).await;
    if policy == CALLBACKS && response.extensions().get::<UnverifiedCallback>().is_some() {
        limits.strike(&keys[0]).await;
    }
    if let Some(decision) = tightest {
        add_headers(&mut response, &decision);
    }
    response
}

fn bearer(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn refuse(decision: &RateDecision) -> Response {
    let mut problem = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many requests",
        "Slow down and retry after the time in Retry-After.",
    );
    problem.retry_after_seconds = decision
        .retry_after
        .map(|d| (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1));
    let mut response = problem.into_response();
    add_headers(&mut response, decision);
    response
}

fn add_headers(response: &mut Response, decision: &RateDecision) {
    let headers = response.headers_mut();
    for (name, value) in decision.headers() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(lower(name)), value);
        }
    }
}

/// `HeaderName::from_static` wants lower case.
fn lower(name: &'static str) -> &'static str {
    match name {
        "RateLimit-Policy" => "ratelimit-policy",
        "RateLimit" => "ratelimit",
        "Retry-After" => "retry-after",
        _ => "x-ratelimit-unknown",
    }
}
