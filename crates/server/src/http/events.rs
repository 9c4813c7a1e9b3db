//! The events feed (`GET /admin/events`), for shops that pull rather than receive webhooks, and the
//! one JSON shape of an order event, which webhooks deliver too.

use super::admin_orders::AdminOrderView;
use super::extract::{Admin, ApiQuery};
use super::openapi::{AdminOnly, DatabaseDown, InvalidRequest};
use super::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flashgate_core::events::{FeedPosition, KINDS, OrderEvent, status_of};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// An event type, as the webhook endpoints' `events` lists name them.
pub struct EventType;

impl utoipa::PartialSchema for EventType {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(KINDS))
            .into()
    }
}

impl ToSchema for EventType {}

/// An order event, in the Standard Webhooks payload shape (`type`, `timestamp`, `data`).
#[derive(Serialize, ToSchema)]
pub struct EventView {
    /// Stable and unique: the `webhook-id` of its deliveries, to deduplicate by.
    #[schema(pattern = "^evt_[0-9]+$")]
    id: String,
    #[serde(rename = "type")]
    #[schema(value_type = String, pattern = "^order\\.(created|payment_review|payment_review_released|paid|payment_failed|expired|refund_pending|refund_failed|refunded)$")]
    kind: &'static str,
    /// When the change happened.
    #[serde(with = "time::serde::rfc3339")]
    timestamp: OffsetDateTime,
    /// 1 for the order's creation, then one more per change of the same order.
    #[schema(minimum = 1)]
    sequence: i64,
    /// The order as it was right after the change.
    data: AdminOrderView,
}

impl From<&OrderEvent> for EventView {
    fn from(e: &OrderEvent) -> Self {
        Self {
            id: e.public_id(),
            kind: e.kind(),
            timestamp: e.at,
            sequence: e.sequence,
            data: AdminOrderView::from(&e.order),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    /// In commit order.
    events: Vec<EventView>,
    /// Pass as `after` for the next page; present even when this page is empty (ask again later).
    next: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// The `next` of the previous page; left out, the feed starts at the first event.
    #[param(min_length = 1, max_length = 64)]
    after: Option<String>,
    /// How many events per page.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<i64>,
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(
        rename = "type",
        pattern = "^order\\.(created|payment_review|payment_review_released|paid|payment_failed|expired|refund_pending|refund_failed|refunded)$"
    )]
    kind: Option<String>,
}

/// A position as an opaque token: clients only hand it back.
pub fn encode_cursor(position: FeedPosition) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", position.xid, position.id))
}

pub fn decode_cursor(raw: &str) -> Option<FeedPosition> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    let (xid, id) = text.split_once('.')?;
    let position = FeedPosition {
        xid: xid.parse().ok()?,
        id: id.parse().ok()?,
    };
    (position.id >= 0).then_some(position)
}

#[utoipa::path(
    get,
    path = "/admin/events",
    operation_id = "list_events",
    tag = "admin",
    security(("admin_token" = [])),
    params(FeedParams),
    responses(
        (status = 200, description = "The next events in commit order, and where the page after starts. \
            Paging with `next` sees every event exactly once.", body = EventPage),
        AdminOnly,
        (status = 422, description = "The query is not valid.", body = InvalidRequest, content_type = "application/problem+json"),
        DatabaseDown,
    ),
)]
pub async fn feed(
    _: Admin,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<FeedParams>,
) -> Result<Json<EventPage>, Problem> {
    let invalid = |why: &str| Problem::invalid_request(why.to_owned());
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(invalid("limit: must be between 1 and 1000"));
    }
    let after = match params.after {
        Some(raw) => {
            decode_cursor(&raw).ok_or_else(|| invalid("after: not a cursor this API gave"))?
        }
        None => FeedPosition::default(),
    };
    let only = params
        .kind
        .map(|k| status_of(&k).ok_or_else(|| invalid("type: not an event type")))
        .transpose()?;
    let page = state.store.events.page(after, limit, only).await?;
    Ok(Json(EventPage {
        events: page.events.iter().map(EventView::from).collect(),
        next: encode_cursor(page.next),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_round_trip_and_nonsense_is_no_cursor() {
        let position = FeedPosition {
            xid: 123_456_789_012,
            id: 42,
        };
        assert_eq!(decode_cursor(&encode_cursor(position)), Some(position));
        assert_eq!(decode_cursor("nonsense"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("1.-3")), None);
    }
}
