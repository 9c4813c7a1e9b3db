//! Buyers' sessions: `POST /sessions` trades a valid buyer token (or, when the demo setting allows it,
//! a bare `customer_id`) for an opaque session id; `DELETE /sessions/current` revokes it at once. Also
//! how a request's buyer is found: `Authorization: Bearer <JWT>` or `Authorization: Session <id>`,
//! each accepted only when `auth.buyers` allows it. A header, not a cookie: no CSRF to defend against,
//! and API clients and browsers' scripts send both kinds the same way.

use super::extract::{ApiJson, credentials};
use super::openapi::{
    BadBody, InvalidRequest, PayloadTooLarge, SessionEndRefused, SessionStartRefused,
    SessionsDisabled, Unavailable, UnsupportedMediaType,
};
use super::problem::Problem;
use super::rate_limit::{CustomerCounted, per_customer};
use crate::auth::{BuyerCredentials, TokenError};
use crate::shared::limits::CUSTOMER_SESSIONS;
use crate::state::AppState;
use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flashgate_core::CustomerId;
use flashgate_core::session::{SESSION_ID_BYTES, SessionError, SessionId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// The challenge of a 401 where a session was expected.
const SESSION: &[&str] = &["Session"];

/// The challenges of a 401 to a request without a usable credential: each kind `auth.buyers` allows.
fn offered(allowed: BuyerCredentials) -> &'static [&'static str] {
    match allowed {
        BuyerCredentials::Tokens => &["Bearer"],
        BuyerCredentials::Sessions => SESSION,
        BuyerCredentials::Both => &["Bearer", "Session"],
    }
}

/// What a request presents as its buyer.
enum Credential<'a> {
    Token(&'a str),
    Session(&'a str),
}

/// The credential a request presents. `expected` (the schemes the route takes) shapes the refusal:
/// its challenges and what it tells the client to send.
fn credential<'a>(
    headers: &'a HeaderMap,
    expected: &'static [&'static str],
) -> Result<Credential<'a>, Problem> {
    let refused = |detail: String| Err(Problem::unauthorized(detail).challenging(expected));
    let wanted = || {
        let forms: Vec<&str> = expected
            .iter()
            .map(|scheme| match *scheme {
                "Bearer" => "Bearer <token>",
                _ => "Session <id>",
            })
            .collect();
        forms.join(" or ")
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return refused(format!("Send Authorization: {}.", wanted()));
    };
    let Ok(value) = value.to_str() else {
        return refused("The Authorization header is not readable.".to_owned());
    };
    if let Some(token) = credentials(value, "Bearer") {
        Ok(Credential::Token(token))
    } else if let Some(id) = credentials(value, "Session") {
        Ok(Credential::Session(id))
    } else {
        refused(format!("The Authorization header must be {}.", wanted()))
    }
}

fn token_problem(error: TokenError) -> Problem {
    match error {
        TokenError::UnknownKey(_) => Problem::new(
            StatusCode::UNAUTHORIZED,
            "unknown_signing_key",
            "The token's signing key is not known",
            error.to_string(),
        ),
        TokenError::AlgorithmNotAllowed(_) => Problem::new(
            StatusCode::UNAUTHORIZED,
            "algorithm_not_allowed",
            "The token's algorithm is not allowed for its key",
            error.to_string(),
        ),
        other => Problem::unauthorized(other.to_string()),
    }
}

fn invalid_session(detail: impl Into<std::borrow::Cow<'static, str>>) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid_session",
        "The session is not valid",
        detail,
    )
    .challenging(SESSION)
}

fn session_problem(error: SessionError) -> Problem {
    match error {
        SessionError::Unknown => invalid_session(error.to_string()),
        SessionError::Expired => Problem::new(
            StatusCode::UNAUTHORIZED,
            "session_expired",
            "The session has expired",
            error.to_string(),
        )
        .challenging(SESSION),
        SessionError::Store(e) => e.into(),
    }
}

fn not_accepted(kind: &str) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "credential_not_accepted",
        "This kind of credential is not accepted",
        format!("Buyers may not authenticate with {kind} here (setting auth.buyers)."),
    )
}

fn session_id(raw: &str) -> Result<SessionId, Problem> {
    // A malformed id is refused before any lookup.
    SessionId::parse(raw).map_err(|e| invalid_session(e.to_string()))
}

/// The buyer behind a request, by token or session as `auth.buyers` allows. Refusals are counted by
/// kind and code, so an operator sees forged sessions or a key the shop forgot to configure.
pub async fn authenticate(headers: &HeaderMap, state: &AppState) -> Result<CustomerId, Problem> {
    let allowed = state.settings.auth.buyers;
    let presented = credential(headers, offered(allowed))?;
    let (kind, outcome) = match presented {
        Credential::Token(token) => (
            "token",
            if allowed.allows_tokens() {
                state.tokens.verify(token).await.map_err(token_problem)
            } else {
                Err(not_accepted("tokens").challenging(offered(allowed)))
            },
        ),
        Credential::Session(raw) => (
            "session",
            if allowed.allows_sessions() {
                match session_id(raw) {
                    Ok(id) => state
                        .sessions
                        .authenticate(&id, state.clock.now())
                        .await
                        .map_err(session_problem),
                    Err(problem) => Err(problem),
                }
            } else {
                Err(not_accepted("sessions").challenging(offered(allowed)))
            },
        ),
    };
    if let Err(problem) = &outcome {
        metrics::counter!("flashgate_buyer_auth_refused_total", "kind" => kind, "code" => problem.code)
            .increment(1);
    }
    outcome
}

/// The demo's body: the customer to start a session for, on their word alone.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BareCustomer {
    #[schema(min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    customer_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// Send it as `Authorization: Session <id>`. Shown this once: the service keeps only its hash.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    session_id: String,
    customer_id: String,
    /// Refused from then on unless used before; each use moves it (`auth.sessions.idle_timeout_seconds`).
    #[serde(with = "time::serde::rfc3339")]
    idle_expires_at: OffsetDateTime,
    /// Refused from then on however busy (`auth.sessions.max_lifetime_seconds`), and never later than
    /// the token it was started with expires (unless `auth.sessions.outlive_token`).
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// The customer a new session is for, and the end of the token it was opened with: the verified
/// token's, or the demo body's. A token holder's body is optional and not used, but one that is sent
/// must still be the documented body, so the document and the service agree on what is valid.
async fn customer_for_session(
    request: Request,
    state: &AppState,
) -> Result<(CustomerId, Option<OffsetDateTime>), Problem> {
    let headers = request.headers();
    if headers.contains_key(header::AUTHORIZATION) {
        let verified = match credential(headers, &["Bearer"])? {
            Credential::Token(token) => state
                .tokens
                .verify_token(token)
                .await
                .map_err(token_problem)?,
            Credential::Session(_) => {
                return Err(Problem::unauthorized(
                    "A session is started with a buyer token: Authorization: Bearer <token>.",
                ));
            }
        };
        if has_body(headers) {
            bare_customer(request, state).await?;
        }
        return Ok((verified.customer, verified.expires_at));
    }
    if !state.settings.auth.sessions.allow_bare_customer {
        return Err(Problem::unauthorized(
            "Send Authorization: Bearer <token> to start a session.",
        ));
    }
    Ok((bare_customer(request, state).await?, None))
}

/// The customer a body names.
async fn bare_customer(request: Request, state: &AppState) -> Result<CustomerId, Problem> {
    let ApiJson(bare) = ApiJson::<BareCustomer>::from_request(request, state).await?;
    CustomerId::parse(&bare.customer_id).map_err(|e| Problem::invalid_request(e.to_string()))
}

/// Whether the request says it carries a body: a length above zero, or one sent in chunks.
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// `POST /sessions`: 201 with the session id, which is shown this once and never again.
#[utoipa::path(
    post,
    path = "/sessions",
    operation_id = "create_session",
    tag = "sessions",
    // No credential at all only with the demo setting `auth.sessions.allow_bare_customer`.
    security(("buyer_jwt" = []), ()),
    request_body(content = Option<BareCustomer>, description = "Without an Authorization header and \
        with the demo setting `auth.sessions.allow_bare_customer`: the customer to act for. With a token \
        it may be left out and is not used, but one that is sent must still be valid."),
    responses(
        (status = 201, description = "The session, for the token's customer (or the demo body's).", body = SessionView,
            headers(("Cache-Control" = String, description = "`no-store`: the body holds a credential."))),
        (status = 400, description = "A body was sent and is not JSON.", body = BadBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid buyer token (a session does not start another), or no \
            Authorization header without the demo setting.", body = SessionStartRefused, content_type = "application/problem+json"),
        (status = 403, description = "`auth.buyers` is `tokens`: sessions are not offered.", body = SessionsDisabled, content_type = "application/problem+json"),
        (status = 413, description = "A body was sent and is larger than `http.body_limit_bytes`.", body = PayloadTooLarge, content_type = "application/problem+json"),
        (status = 415, description = "A body was sent, not as `application/json`.", body = UnsupportedMediaType, content_type = "application/problem+json"),
        (status = 422, description = "A body was sent and is not a valid customer (one property, `customer_id`).", body = InvalidRequest, content_type = "application/problem+json"),
        (status = 503, description = "Where sessions are kept (Redis, else the database) does not answer.", body = Unavailable, content_type = "application/problem+json"),
    ),
)]
pub async fn create(State(state): State<AppState>, request: Request) -> Result<Response, Problem> {
    if !state.settings.auth.buyers.allows_sessions() {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "sessions_disabled",
            "Sessions are not offered",
            "Buyers authenticate with tokens here (setting auth.buyers).",
        ));
    }
    let (customer, token_expires_at) = customer_for_session(request, &state).await?;
    let not_after = token_expires_at.filter(|_| !state.settings.auth.sessions.outlive_token);
    // A token past its expiry is still accepted within the leeway, but the session it would start
    // could not outlive it: it would be over before its first use.
    if not_after.is_some_and(|end| end <= state.clock.now()) {
        return Err(token_problem(TokenError::Expired));
    }
    let counted = match &state.shared.limits {
        Some(limits) => match per_customer(limits, CUSTOMER_SESSIONS, &customer).await {
            Ok(decision) => decision,
            Err(refusal) => return Ok(refusal),
        },
        None => None,
    };
    let mut bytes = [0_u8; SESSION_ID_BYTES];
    // The thread RNG is a CSPRNG seeded from the operating system.
    rand::rng().fill_bytes(&mut bytes);
    let id = SessionId::from_random(bytes);
    let session = state
        .sessions
        .start(&id, customer, state.clock.now(), not_after)
        .await?;
    let view = SessionView {
        session_id: id.expose().to_owned(),
        customer_id: session.customer.as_str().to_owned(),
        idle_expires_at: session.idle_expires_at,
        expires_at: session.expires_at,
    };
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(decision) = counted {
        response.extensions_mut().insert(CustomerCounted(decision));
    }
    Ok(response)
}

/// `DELETE /sessions/current`: 204, and the id is refused everywhere from now on.
#[utoipa::path(
    delete,
    path = "/sessions/current",
    operation_id = "end_session",
    tag = "sessions",
    security(("buyer_session" = [])),
    responses(
        (status = 204, description = "Ended: every instance refuses the id from now on."),
        (status = 401, description = "No session: none sent, or one never started or already ended.", body = SessionEndRefused, content_type = "application/problem+json"),
        (status = 503, description = "Where sessions are kept (Redis, else the database) does not answer.", body = Unavailable, content_type = "application/problem+json"),
    ),
)]
pub async fn delete_current(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let presented = credential(&headers, SESSION)?;
    let Credential::Session(raw) = presented else {
        return Err(invalid_session(
            "Send the session to end as Authorization: Session <id>.",
        ));
    };
    if state.sessions.end(&session_id(raw)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(session_problem(SessionError::Unknown))
    }
}
