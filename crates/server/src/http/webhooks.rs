//! The shop's webhook endpoints, kept through the admin API: register one (its secret is shown this
//! once), list them, change one (its URL, its event types, enable or disable it, rotate its secret
//! while the old one keeps signing for `webhooks.previous_secret_seconds`), delete one, and replay
//! to one what it missed since a time.

use super::events::EventType;
use super::extract::{Admin, ApiJson, PathId};
use super::openapi::{AdminOnly, DatabaseDown, InvalidWebhook, JsonBodyRefused, WebhookNotFound};
use super::problem::Problem;
use crate::state::AppState;
use crate::webhooks::signature;
use crate::webhooks::target::{self, TargetError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use flashgate_core::events::{KINDS, status_of};
use flashgate_core::webhooks::{Endpoint, EndpointPatch};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// An endpoint as the admin sees it; its secret only when it was just made.
#[derive(Serialize, ToSchema)]
pub struct EndpointView {
    #[schema(format = "uuid")]
    id: String,
    url: String,
    /// The event types sent there; absent: every type.
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<Vec<String>>,
    enabled: bool,
    /// Why the dispatcher disabled it: a delivery failed for the whole retry schedule (absent when
    /// an operator disabled it).
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// `whsec_…`, shown once: when the endpoint is registered and when its secret is rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl EndpointView {
    fn of(e: &Endpoint, show_secret: bool) -> Self {
        Self {
            id: e.id.to_string(),
            url: e.url.clone(),
            events: e.events.clone(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            created_at: e.created_at,
            secret: show_secret.then(|| e.secret.clone()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    endpoints: Vec<EndpointView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// `https://…` on a public address (unless `webhooks.allow_private_targets`).
    #[schema(min_length = 1, max_length = 2000, format = "uri")]
    url: String,
    /// Only these event types; left out: every type.
    #[schema(min_items = 1, max_items = 8, value_type = Option<Vec<EventType>>)]
    events: Option<Vec<String>>,
}

/// A change; a field left out stays as it is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    #[schema(min_length = 1, max_length = 2000, format = "uri")]
    url: Option<String>,
    /// Only these event types; `null`: every type.
    #[serde(default, deserialize_with = "present")]
    #[schema(min_items = 1, max_items = 8, value_type = Option<Vec<EventType>>)]
    events: Option<Option<Vec<String>>>,
    /// `false` pauses the endpoint: nothing is sent to it while it is disabled. `true` resumes it,
    /// whether an operator or the dispatcher disabled it: what was given up and every event it
    /// subscribes to that happened while it was disabled are sent, each once, each order's in
    /// sequence, from the first attempt.
    enabled: Option<bool>,
    /// A new secret, answered once; the old one keeps signing beside it for a while.
    rotate_secret: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// Every event at or after this time (RFC 3339) is sent again.
    #[serde(with = "super::times")]
    since: OffsetDateTime,
}

#[derive(Serialize, ToSchema)]
pub struct Replayed {
    /// Deliveries queued.
    replayed: u64,
}

fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Vec<String>>>, D::Error> {
    Option::<Vec<String>>::deserialize(d).map(Some)
}

fn not_found(raw: &str) -> Problem {
    Problem::not_found(
        "webhook_not_found",
        format!("There is no webhook endpoint {raw}."),
    )
}

fn endpoint_id(raw: &str) -> Result<Uuid, Problem> {
    Uuid::try_parse(raw).map_err(|_| not_found(raw))
}

/// The most event types a list may name (the schema's `maxItems`).
const EVENTS_AT_MOST: usize = 8;
/// The longest URL an endpoint may have, in characters (the schema's `maxLength`).
const URL_MAX_CHARS: usize = 2000;

fn event_types(events: Option<Vec<String>>) -> Result<Option<Vec<String>>, Problem> {
    let Some(mut events) = events else {
        return Ok(None);
    };
    if events.is_empty()
        || events.len() > EVENTS_AT_MOST
        || events.iter().any(|e| status_of(e).is_none())
    {
        return Err(Problem::invalid_request(format!(
            "events: a list of 1 to {EVENTS_AT_MOST} of {}",
            KINDS.join(", ")
        )));
    }
    events.sort_unstable();
    events.dedup();
    Ok(Some(events))
}

async fn checked_url(state: &AppState, url: &str) -> Result<String, Problem> {
    if url.is_empty() || url.chars().count() > URL_MAX_CHARS {
        return Err(Problem::invalid_request(format!(
            "url: must be 1 to {URL_MAX_CHARS} characters"
        )));
    }
    let allowed = state.settings.private_webhook_targets_allowed();
    match target::check(url, allowed).await {
        Ok(url) => Ok(url.to_string()),
        // Not a URL at all is a malformed request, not a place webhooks may not go.
        Err(e @ TargetError::NotAUrl(_)) => Err(Problem::invalid_request(format!("url: {e}"))),
        Err(e) => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "target_refused",
            "Webhooks cannot go there",
            format!("url: {e}"),
        )),
    }
}

#[utoipa::path(
    post,
    path = "/admin/webhooks",
    operation_id = "create_webhook",
    tag = "admin",
    security(("admin_token" = [])),
    request_body = CreateEndpoint,
    responses(
        (status = 201, description = "The endpoint, with its `secret` (shown this once).", body = EndpointView),
        JsonBodyRefused,
        AdminOnly,
        (status = 422, description = "Not a valid endpoint, or one on an address webhooks may not reach.", body = InvalidWebhook, content_type = "application/problem+json"),
        DatabaseDown,
    ),
)]
pub async fn create(
    _: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateEndpoint>,
) -> Result<(StatusCode, Json<EndpointView>), Problem> {
    let events = event_types(body.events)?;
    let url = checked_url(&state, &body.url).await?;
    // An endpoint hears of events from its registration on; orders are stamped to the millisecond,
    // so one placed in the same millisecond counts as after it.
    let now = state.clock.now();
    let now = now.replace_millisecond(now.millisecond()).unwrap_or(now);
    let endpoint = Endpoint {
        id: Uuid::now_v7(),
        url,
        events,
        secret: signature::new_secret(),
        previous_secret: None,
        previous_until: None,
        enabled: true,
        disabled_reason: None,
        created_at: now,
        updated_at: now,
    };
    state.store.webhooks.create(&endpoint).await?;
    Ok((StatusCode::CREATED, Json(EndpointView::of(&endpoint, true))))
}

#[utoipa::path(
    get,
    path = "/admin/webhooks",
    operation_id = "list_webhooks",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Every endpoint, oldest first, without secrets.", body = EndpointList),
        AdminOnly,
        DatabaseDown,
    ),
)]
pub async fn list(_: Admin, State(state): State<AppState>) -> Result<Json<EndpointList>, Problem> {
    let endpoints = state.store.webhooks.list().await?;
    Ok(Json(EndpointList {
        endpoints: endpoints
            .iter()
            .map(|e| EndpointView::of(e, false))
            .collect(),
    }))
}

#[utoipa::path(
    patch,
    path = "/admin/webhooks/{id}",
    operation_id = "update_webhook",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, format = "uuid", description = "The endpoint's id.")),
    request_body = UpdateEndpoint,
    responses(
        (status = 200, description = "The endpoint as changed; its new `secret` when rotated.", body = EndpointView),
        JsonBodyRefused,
        AdminOnly,
        (status = 404, description = "No such endpoint.", body = WebhookNotFound, content_type = "application/problem+json"),
        (status = 422, description = "Not a valid change, or a URL webhooks may not reach.", body = InvalidWebhook, content_type = "application/problem+json"),
        DatabaseDown,
    ),
)]
pub async fn update(
    _: Admin,
    State(state): State<AppState>,
    PathId(raw): PathId,
    ApiJson(body): ApiJson<UpdateEndpoint>,
) -> Result<Json<EndpointView>, Problem> {
    let id = endpoint_id(&raw)?;
    let events = body.events.map(event_types).transpose()?;
    let url = match body.url {
        Some(url) => Some(checked_url(&state, &url).await?),
        None => None,
    };
    let now = state.clock.now();
    let rotated = body.rotate_secret == Some(true);
    let overlap = time::Duration::try_from(state.settings.webhooks.previous_secret)
        .unwrap_or(time::Duration::MAX);
    let patch = EndpointPatch {
        url,
        events,
        enabled: body.enabled,
        rotate: rotated.then(|| (signature::new_secret(), now + overlap)),
    };
    let endpoint = state
        .store
        .webhooks
        .update(id, &patch, now)
        .await?
        .ok_or_else(|| not_found(&raw))?;
    Ok(Json(EndpointView::of(&endpoint, rotated)))
}

#[utoipa::path(
    delete,
    path = "/admin/webhooks/{id}",
    operation_id = "delete_webhook",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, format = "uuid", description = "The endpoint's id.")),
    responses(
        (status = 204, description = "Deleted, with its deliveries."),
        AdminOnly,
        (status = 404, description = "No such endpoint.", body = WebhookNotFound, content_type = "application/problem+json"),
        DatabaseDown,
    ),
)]
pub async fn delete(
    _: Admin,
    State(state): State<AppState>,
    PathId(raw): PathId,
) -> Result<StatusCode, Problem> {
    let id = endpoint_id(&raw)?;
    if state.store.webhooks.delete(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&raw))
    }
}

#[utoipa::path(
    post,
    path = "/admin/webhooks/{id}/replay",
    operation_id = "replay_webhook",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, format = "uuid", description = "The endpoint's id.")),
    request_body = Replay,
    responses(
        (status = 202, description = "Every event since then that the endpoint subscribes to is queued again, delivered or not.", body = Replayed),
        JsonBodyRefused,
        AdminOnly,
        (status = 404, description = "No such endpoint.", body = WebhookNotFound, content_type = "application/problem+json"),
        (status = 422, description = "`since` is not an RFC 3339 time.", body = InvalidWebhook, content_type = "application/problem+json"),
        DatabaseDown,
    ),
)]
pub async fn replay(
    _: Admin,
    State(state): State<AppState>,
    PathId(raw): PathId,
    ApiJson(body): ApiJson<Replay>,
) -> Result<(StatusCode, Json<Replayed>), Problem> {
    let id = endpoint_id(&raw)?;
    if state.store.webhooks.get(id).await?.is_none() {
        return Err(not_found(&raw));
    }
    let replayed = state
        .store
        .webhooks
        .replay(id, body.since, state.clock.now())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(Replayed { replayed })))
}
