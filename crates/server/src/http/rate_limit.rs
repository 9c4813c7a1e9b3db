//! Rate limiting in front of the routes: GCRA per client IP for every route family (reads, purchases,
//! payment callbacks, sessions, the admin API and dashboard), and per customer for purchases and new
//! sessions. The cheapest refusal comes first: a banned or over-limit address is answered from the
//! limiter before any signature check, session lookup or body parse. A refused request gets 429
//! `rate_limited` with `Retry-After` and the IETF `RateLimit-Policy`/`RateLimit` headers; an admitted
//! one carries the headers of its tightest limit. A callback the handler could not verify (forged,
//! another terminal's, unreadable) is a strike in the penalty box for its sender; a wrong admin
//! credential is a strike in the stricter admin box.

use super::extract::ClientIp;
use super::problem::Problem;
use crate::shared::limits::{ADMIN, CALLBACKS, Limits, PURCHASES, READS, SESSIONS};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flashgate_core::CustomerId;
use flashgate_shared_state::{RateDecision, Verdict};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Set on a callback's response when it could not be verified as ours.
#[derive(Clone, Copy, Debug)]
pub struct UnverifiedCallback;

/// A handler's count of the customer against a limit, for the headers of the tightest limit (the
/// customer of a new session is known only once the handler has verified them).
#[derive(Clone, Debug)]
pub struct CustomerCounted(pub RateDecision);

/// The buyer of a purchase as the limiter found it (token or session), handed to the handler so a
/// request is authenticated once.
#[derive(Clone, Debug)]
pub struct Authenticated(pub Result<CustomerId, Problem>);

/// The policy a request counts against, whatever its method (a `HEAD` or a wrong method on a limited
/// path counts like the `GET`, so a banned client finds no door open); `None` for the routes that are
/// not limited (probes, metrics, the document) and for paths flashgate does not serve (a bare 404,
/// which a browser's `/favicon.ico` should not spend a read on).
fn policy(method: &Method, path: &str) -> Option<&'static str> {
    if path.starts_with("/payments/") {
        Some(CALLBACKS)
    } else if path == "/admin" || path.starts_with("/admin/") {
        Some(ADMIN)
    } else if path == "/sessions" || path.starts_with("/sessions/") {
        Some(SESSIONS)
    } else if method == Method::POST && path == "/orders" {
        Some(PURCHASES)
    } else if path.starts_with("/products") || path.starts_with("/orders") {
        Some(READS)
    } else {
        None
    }
}

/// Whether requests to `method path` (a path or a route's template) count against a limit.
pub fn is_limited(method: &Method, path: &str) -> bool {
    policy(method, path).is_some()
}

/// The key a client's address is counted under. Callbacks are keyed apart, so a client banned for
/// hammering reads cannot block the gateway; admin routes too, so a buyer's ban and an admin
/// guesser's ban are separate boxes.
fn address_key(policy: &str, ip: IpAddr) -> String {
    let client = client_network(ip);
    match policy {
        CALLBACKS => format!("callback:{client}"),
        ADMIN => format!("admin:{client}"),
        _ => format!("ip:{client}"),
    }
}

/// What one client holds: an IPv4 address, or an IPv6 /64. A subscriber's line is handed a whole
/// /64, so counting each IPv6 address apart would let one client walk through 2^64 of them past
/// every limit and every ban. Written into the key as it is formatted: no text of its own per request.
enum ClientNetwork {
    V4(Ipv4Addr),
    V6Prefix(Ipv6Addr),
}

fn client_network(ip: IpAddr) -> ClientNetwork {
    match ip {
        IpAddr::V4(v4) => ClientNetwork::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => ClientNetwork::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                ClientNetwork::V6Prefix(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

impl std::fmt::Display for ClientNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::V4(v4) => write!(f, "{v4}"),
            Self::V6Prefix(prefix) => write!(f, "{prefix}/64"),
        }
    }
}

pub async fn limit(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(limits) = state.shared.limits.clone() else {
        return next.run(request).await;
    };
    let Some(policy) = policy(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let found = ClientIp::find(request.extensions(), request.headers(), &state);
    let ip = found.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ClientIp(ip)| ip);
    let key = address_key(policy, ip);
    let mut tightest = match counted(&limits, policy, &key).await {
        Ok(decision) => decision,
        Err(refusal) => return refusal,
    };
    if policy == PURCHASES {
        let buyer = super::sessions::authenticate(request.headers(), &state).await;
        if let Ok(customer) = &buyer {
            match per_customer(&limits, PURCHASES, customer).await {
                Ok(decision) => tightest = tighter(tightest, decision),
                Err(refusal) => return refusal,
            }
        }
        request.extensions_mut().insert(Authenticated(buyer));
        // The handler needs the address too (VNPay records the buyer's with the payment).
        if let Some(found) = found {
            request.extensions_mut().insert(found);
        }
    }
    let mut response = next.run(request).await;
    if let Some(CustomerCounted(decision)) = response.extensions_mut().remove() {
        tightest = tighter(tightest, Some(decision));
    }
    match policy {
        CALLBACKS if response.extensions().get::<UnverifiedCallback>().is_some() => {
            limits.strike(&key).await;
        }
        // Every 401 under /admin is a missing or wrong admin token or dashboard credential.
        ADMIN if response.status() == StatusCode::UNAUTHORIZED => limits.admin_miss(&key).await,
        _ => {}
    }
    // A handler's own per-customer refusal already names the limit that refused it.
    if let Some(decision) = tightest
        && !response.headers().contains_key("ratelimit-policy")
    {
        add_headers(&mut response, &decision);
    }
    response
}

/// Counts one request of `key`; the refusal to answer when it is over the limit or banned.
async fn counted(
    limits: &Limits,
    policy: &'static str,
    key: &str,
) -> Result<Option<RateDecision>, Response> {
    match limits.check(policy, key).await {
        Some(decision) if !decision.allowed() => {
            crate::metrics::rate_limited(policy, decision.verdict == Verdict::Banned);
            Err(refuse(&decision))
        }
        decision => Ok(decision),
    }
}

/// Counts one request of `customer` against `policy`, whatever address it comes from.
pub async fn per_customer(
    limits: &Limits,
    policy: &'static str,
    customer: &CustomerId,
) -> Result<Option<RateDecision>, Response> {
    counted(limits, policy, &format!("customer:{customer}")).await
}

fn tighter(a: Option<RateDecision>, b: Option<RateDecision>) -> Option<RateDecision> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.remaining < a.remaining { b } else { a }),
        (a, b) => a.or(b),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ip: &str) -> String {
        address_key(PURCHASES, ip.parse().unwrap())
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        assert_eq!(
            key("2001:db8:1:2::1"),
            key("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_eq!(key("2001:db8:1:2::1"), "ip:2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }

    #[test]
    fn an_ipv4_client_is_counted_by_its_address_however_it_is_written() {
        assert_eq!(key("192.0.2.7"), "ip:192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
    }
}
