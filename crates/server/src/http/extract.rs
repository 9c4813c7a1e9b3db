//! Extractors that turn a request's parts into parsed values or a problem: JSON and form bodies, path
//! ids, the buyer behind a bearer token, the admin, and the idempotency key.

use super::problem::Problem;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use flashgate_core::{CustomerId, IdempotencyKey};
use serde::Deserialize;
use serde::de::{
    DeserializeOwned, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use subtle::ConstantTimeEq;

/// A JSON object body, parsed into `T`; every rejection is a problem.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(Problem::not_json());
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|e| Problem::from(JsonRejection::from(e)))?;
        // Read straight into `T`, in one pass: no tree of values, no copy of the text. A failure
        // is then looked at again, since the first error serde meets may be in a value (a string
        // where a number goes) of a body that is not JSON at all further on.
        let read = serde_json::from_slice(&body).or_else(|e| with_integers(&body).ok_or(e));
        match read {
            Ok(value) if is_object(&body) => Ok(ApiJson(value)),
            Ok(_) => Err(not_an_object()),
            Err(e) => Err(json_problem(&body, &e)),
        }
    }
}

/// JSON Schema counts `5.0` as an integer (2020-12, 6.1.1 of the validation vocabulary), serde as a
/// float: a body refused is read again with each such number as the integer it is. Only once the
/// straight read failed, so a body written with integers (every purchase) pays nothing for it.
fn with_integers<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    let Integral(value) = serde_json::from_slice(body).ok()?;
    T::deserialize(value).ok()
}

/// A JSON value whose numbers with a zero fraction that fit an `i64` are integers. A key given twice
/// is refused, as reading the text straight into a struct refuses a field given twice.
struct Integral(Value);

impl<'de> Deserialize<'de> for Integral {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntegralVisitor).map(Integral)
    }
}

struct IntegralVisitor;

impl<'de> Visitor<'de> for IntegralVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        // Whole and within [-2^63, 2^63), both ends exact as f64: the cast loses nothing.
        const BOUND: f64 = 9_223_372_036_854_775_808.0;
        if n.fract() == 0.0 && (-BOUND..BOUND).contains(&n) {
            return Ok(Value::from(n as i64));
        }
        Ok(Value::from(n))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::from(s))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Integral(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Integral(value) = map.next_value()?;
            if object.insert(key, value).is_some() {
                return Err(A::Error::custom("a key given twice"));
            }
        }
        Ok(Value::Object(object))
    }
}

/// `application/json`, or a JSON-based type such as `application/merge-patch+json`, as axum's
/// `Json` takes them.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    if content_type.as_bytes() == b"application/json" {
        return true;
    }
    let Some(mime) = content_type
        .to_str()
        .ok()
        .and_then(|c| c.parse::<mime::Mime>().ok())
    else {
        return false;
    };
    mime.type_() == "application"
        && (mime.subtype() == "json" || mime.suffix().is_some_and(|suffix| suffix == "json"))
}

/// serde would also read a struct from an array of its fields in order (`[1, 2]`); the API's bodies
/// are objects, and anything else is a client mistake, not a purchase.
fn is_object(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

fn not_an_object() -> Problem {
    Problem::invalid_request("The body must be a JSON object.")
}

/// A body that is not JSON is malformed (400); JSON that is not an object, or does not fit the
/// request, is not valid (422).
fn json_problem(body: &[u8], error: &serde_json::Error) -> Problem {
    if let Err(syntax) = serde_json::from_slice::<IgnoredAny>(body) {
        return Problem::malformed_json(format!(
            "Failed to parse the request body as JSON: {syntax}"
        ));
    }
    if !is_object(body) {
        return not_an_object();
    }
    // Skipping a value checks less than reading it (numbers out of range, lone surrogates): what
    // only the reading finds is still malformed JSON, not an invalid request. serde_json also calls a
    // value of the wrong type for an enum (`null`, a number) a syntax error; JSON that reads as a
    // value is well formed, so that is a request that does not fit, as on every other field.
    if (error.is_syntax() || error.is_eof())
        && serde_json::from_slice::<serde_json::Value>(body).is_err()
    {
        Problem::malformed_json(error.to_string())
    } else {
        Problem::invalid_request(format!("The body is not valid: {error}"))
    }
}

/// `axum::extract::Query` whose rejections are problems.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub struct ApiQuery<T>(pub T);

/// `axum::Form` (an `application/x-www-form-urlencoded` body) whose rejections are problems.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Form), rejection(Problem))]
pub struct ApiForm<T>(pub T);

/// The `{id}` of a route, as text for the handler to parse into its own id (and its own 404).
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(Self(id)),
            // Bytes that do not decode to text name no id either: they get the handler's 404 rather
            // than the framework's plain-text 400.
            Err(PathRejection::FailedToDeserializePathParams(e))
                if matches!(e.kind(), ErrorKind::InvalidUtf8InPathParam { .. }) =>
            {
                Ok(Self(char::REPLACEMENT_CHARACTER.to_string()))
            }
            Err(other) => {
                tracing::error!(%other, "a route's path parameters do not fit its handler");
                Err(Problem::internal())
            }
        }
    }
}

fn bearer(parts: &Parts) -> Result<&str, Problem> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Problem::unauthorized("Send Authorization: Bearer <token>."))?;
    let value = value
        .to_str()
        .map_err(|_| Problem::unauthorized("The Authorization header is not readable."))?;
    credentials(value, "Bearer")
        .ok_or_else(|| Problem::unauthorized("The Authorization header must be a Bearer token."))
}

/// The credentials of an `Authorization` value under `scheme`, whose name is case-insensitive
/// (RFC 9110, 11.1): `bearer abc` is `Bearer abc`. `None` for another scheme or nothing after it.
pub fn credentials<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = value.split_once(' ')?;
    if !name.eq_ignore_ascii_case(scheme) {
        return None;
    }
    Some(rest.trim()).filter(|credentials| !credentials.is_empty())
}

/// The buyer a request acts for, from a verified token or a live session.
pub struct Buyer(pub CustomerId);

impl FromRequestParts<AppState> for Buyer {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // The rate limiter authenticates a purchase's buyer before its per-customer limit.
        if let Some(super::rate_limit::Authenticated(buyer)) = parts.extensions.remove() {
            return buyer.map(Buyer);
        }
        super::sessions::authenticate(&parts.headers, state)
            .await
            .map(Buyer)
    }
}

/// The client's address as [`super::client_ip::client_ip`] finds it, read from the request in place
/// (taking the `HeaderMap` by value would copy every header of every purchase), or as the rate
/// limiter already found it.
#[derive(Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The address the rate limiter already found, or the peer's (the one a trusted proxy
    /// forwarded, behind one); `None` when the server runs without its peers' addresses.
    pub fn find(extensions: &Extensions, headers: &HeaderMap, state: &AppState) -> Option<Self> {
        if let Some(&found) = extensions.get::<ClientIp>() {
            return Some(found);
        }
        let ConnectInfo(peer) = extensions.get::<ConnectInfo<SocketAddr>>()?;
        let trusted = &state.settings.http.trusted_proxies;
        Some(Self(super::client_ip::client_ip(
            peer.ip(),
            headers,
            trusted,
        )))
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Self::find(&parts.extensions, &parts.headers, state).ok_or_else(|| {
            tracing::error!("served without the peer's address");
            Problem::internal()
        })
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
        if is_admin_token(state, token) {
            Ok(Admin)
        } else {
            Err(Problem::unauthorized("The admin token is not valid."))
        }
    }
}

/// Whether `token` is the admin token; in constant time, so response timing tells nothing about how
/// much of a guess was right.
pub fn is_admin_token(state: &AppState, token: &str) -> bool {
    let expected = state.settings.admin_token.expose().as_bytes();
    bool::from(token.as_bytes().ct_eq(expected))
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
