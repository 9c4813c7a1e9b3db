//! The operator's order tools: search orders, read one order's whole history, refund an order in
//! full through the gateway (again, after the gateway refused it too often), settle an order whose
//! payment is under review, and record a refund the gateway refused as made by other means.

use super::extract::{Admin, ApiJson, ApiQuery, IdempotencyKeyHeader, PathId};
use super::openapi::{
    AdminOnly, BadRefund, DatabaseDown, InvalidRequest, JsonBodyRefused, NotRefundFailed,
    NotRefundable, NotUnderReview, OrderNotFound,
};
use super::problem::Problem;
use crate::payments::operator::{OperatorError, ReviewDecision};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use flashgate_core::order_search::{LedgerEntry, OrderCursor, OrderFilter, PaymentRecord};
use flashgate_core::product::parse_line;
use flashgate_core::{CustomerId, Order, OrderId, OrderStatus, ProductId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// An order as the operator sees it: the buyer's view plus who bought it and the gateway's number.
#[derive(Serialize, ToSchema)]
pub struct AdminOrderView {
    #[schema(format = "uuid")]
    id: String,
    #[schema(value_type = String, pattern = "^(pending_payment|payment_review|payment_review_released|paid|payment_failed|expired|refund_pending|refund_failed|refunded)$")]
    status: &'static str,
    customer: String,
    product_id: i64,
    quantity: i64,
    amount_vnd: i64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schema(value_type = OffsetDateTime)]
    paid_at: Option<OffsetDateTime>,
    /// The gateway's number for the payment, once one is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway_transaction_no: Option<i64>,
}

impl From<&Order> for AdminOrderView {
    fn from(o: &Order) -> Self {
        Self {
            id: o.id.to_string(),
            status: o.status.as_str(),
            customer: o.customer.as_str().to_owned(),
            product_id: o.product_id.0,
            quantity: o.quantity.get(),
            amount_vnd: o.amount.get(),
            created_at: o.created_at,
            expires_at: o.expires_at,
            paid_at: o.paid_at,
            gateway_transaction_no: o.gateway_transaction_no,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrderPage {
    orders: Vec<AdminOrderView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Only orders in this status.
    #[param(
        pattern = "^(pending_payment|payment_review|payment_review_released|paid|payment_failed|expired|refund_pending|refund_failed|refunded)$"
    )]
    status: Option<String>,
    /// Only orders of this product.
    #[param(minimum = 1)]
    product_id: Option<i64>,
    /// Only orders of this customer.
    #[param(min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    customer: Option<String>,
    /// Only orders created at or after this time (RFC 3339).
    #[serde(default, with = "super::times::option")]
    #[param(value_type = Option<OffsetDateTime>)]
    created_from: Option<OffsetDateTime>,
    /// Only orders created before this time (RFC 3339).
    #[serde(default, with = "super::times::option")]
    #[param(value_type = Option<OffsetDateTime>)]
    created_before: Option<OffsetDateTime>,
    /// The `next_cursor` of the previous page.
    #[param(min_length = 1, max_length = 64)]
    cursor: Option<String>,
    /// How many orders per page, newest first.
    #[param(minimum = 1, maximum = 100, default = 50)]
    limit: Option<i64>,
}

impl SearchParams {
    fn filter(self) -> Result<OrderFilter, Problem> {
        let invalid = |why: &str| Problem::invalid_request(why.to_owned());
        let limit = self.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(invalid("limit: must be between 1 and 100"));
        }
        Ok(OrderFilter {
            status: self
                .status
                .map(|s| {
                    OrderStatus::parse(&s).ok_or_else(|| invalid("status: not an order status"))
                })
                .transpose()?,
            product_id: self
                .product_id
                .map(|id| {
                    (id >= 1)
                        .then_some(ProductId(id))
                        .ok_or_else(|| invalid("product_id: must be at least 1"))
                })
                .transpose()?,
            customer: self
                .customer
                .map(|c| CustomerId::parse(&c).map_err(|e| Problem::invalid_request(e.to_string())))
                .transpose()?,
            created_from: self.created_from,
            created_before: self.created_before,
            after: self
                .cursor
                .map(|c| {
                    OrderCursor::decode(&c)
                        .ok_or_else(|| invalid("cursor: not a cursor this API gave"))
                })
                .transpose()?,
            limit,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct LedgerView {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    from: Option<&'static str>,
    to: &'static str,
    reason: String,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

impl From<&LedgerEntry> for LedgerView {
    fn from(e: &LedgerEntry) -> Self {
        Self {
            from: e.from.map(OrderStatus::as_str),
            to: e.to.as_str(),
            reason: e.reason.clone(),
            at: e.at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PaymentEventView {
    /// `ipn`, `return`, `querydr` or `refund`.
    source: String,
    verified: bool,
    outcome: String,
    /// The message as it was received.
    raw: String,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

impl From<&PaymentRecord> for PaymentEventView {
    fn from(r: &PaymentRecord) -> Self {
        Self {
            source: r.source.clone(),
            verified: r.verified,
            outcome: r.outcome.clone(),
            raw: r.raw.clone(),
            at: r.at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrderDetail {
    order: AdminOrderView,
    /// Every state change, oldest first.
    ledger: Vec<LedgerView>,
    /// The gateway messages about the order, verified or not, oldest first: the newest 100 of them
    /// (a verified message repeated word for word is stored once).
    #[schema(max_items = 100)]
    payment_events: Vec<PaymentEventView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleReview {
    decision: ReviewDecision,
}

/// The longest reason an operator may give, in characters.
const REASON_MAX_CHARS: usize = 500;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundedElsewhere {
    /// How the money went back (e.g. "bank transfer 2026-12-03, ref 88123"); kept in the ledger. One
    /// line: not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\u0000-\\u001F\\u007F-\\u009F\\s][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    reason: String,
}

fn order_id(raw: &str) -> Result<OrderId, Problem> {
    Uuid::try_parse(raw)
        .map(OrderId)
        .map_err(|_| not_found(raw))
}

fn not_found(raw: &str) -> Problem {
    Problem::not_found("order_not_found", format!("There is no order {raw}."))
}

fn operator_problem(error: OperatorError, raw: &str, wrong_state: &'static str) -> Problem {
    match error {
        OperatorError::NotFound => not_found(raw),
        OperatorError::WrongState(status) => Problem::conflict(
            wrong_state,
            "The order is not in a state this applies to",
            format!("The order is {}.", status.as_str()),
        ),
        OperatorError::Store(e) => e.into(),
    }
}

#[utoipa::path(
    get,
    path = "/admin/orders",
    operation_id = "search_orders",
    tag = "admin",
    security(("admin_token" = [])),
    params(SearchParams),
    responses(
        (status = 200, description = "A page of matching orders, newest first.", body = OrderPage),
        AdminOnly,
        (status = 422, description = "The query is not valid.", body = InvalidRequest, content_type = "application/problem+json"),
        DatabaseDown,
    ),
)]
pub async fn search(
    _: Admin,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<OrderPage>, Problem> {
    let filter = params.filter()?;
    let page = state.store.order_search.search(&filter).await?;
    Ok(Json(OrderPage {
        orders: page.orders.iter().map(AdminOrderView::from).collect(),
        next_cursor: page.next.map(|next| next.encode()),
    }))
}

#[utoipa::path(
    get,
    path = "/admin/orders/{id}",
    operation_id = "get_order_detail",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, format = "uuid", description = "The order's id.")),
    responses(
        (status = 200, description = "The order, its ledger and its payment events.", body = OrderDetail),
        AdminOnly,
        (status = 404, description = "No such order.", body = OrderNotFound, content_type = "application/problem+json"),
        DatabaseDown,
    ),
)]
pub async fn detail(
    _: Admin,
    State(state): State<AppState>,
    PathId(raw): PathId,
) -> Result<Json<OrderDetail>, Problem> {
    let id = order_id(&raw)?;
    let order = state
        .store
        .orders
        .get(id)
        .await?
        .ok_or_else(|| not_found(&raw))?;
    let ledger = state.store.order_search.ledger(id).await?;
    let events = state.store.order_search.payment_records(id).await?;
    Ok(Json(OrderDetail {
        order: AdminOrderView::from(&order),
        ledger: ledger.iter().map(LedgerView::from).collect(),
        payment_events: events.iter().map(PaymentEventView::from).collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/admin/orders/{id}/refund",
    operation_id = "refund_order",
    tag = "admin",
    security(("admin_token" = [])),
    params(
        ("id" = String, Path, format = "uuid", description = "The order's id."),
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
            description = "A retry with the same key answers the order as it is now and refunds nothing twice."),
    ),
    responses(
        (status = 202, description = "The full refund is on its way through the gateway (`refund_pending`, then `refunded`); for a `refund_failed` order, the gateway is asked again.", body = AdminOrderView),
        (status = 400, description = "The `Idempotency-Key` is missing or not valid.", body = BadRefund, content_type = "application/problem+json"),
        AdminOnly,
        (status = 404, description = "No such order.", body = OrderNotFound, content_type = "application/problem+json"),
        (status = 409, description = "Only a paid order, one under review, or one whose refund failed can be refunded.", body = NotRefundable, content_type = "application/problem+json"),
        DatabaseDown,
    ),
)]
pub async fn refund(
    _: Admin,
    State(state): State<AppState>,
    PathId(raw): PathId,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
) -> Result<(StatusCode, Json<AdminOrderView>), Problem> {
    let id = order_id(&raw)?;
    let order = state
        .operator
        .refund(id, &key)
        .await
        .map_err(|e| operator_problem(e, &raw, "not_refundable"))?;
    Ok((StatusCode::ACCEPTED, Json(AdminOrderView::from(&order))))
}

#[utoipa::path(
    post,
    path = "/admin/orders/{id}/review",
    operation_id = "settle_review",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, format = "uuid", description = "The order's id.")),
    request_body = SettleReview,
    responses(
        (status = 200, description = "The order, settled: `paid` (`accept_paid`) or `refund_pending` (`refund`, then `refunded` once the gateway accepts). An order in `payment_review_released` whose units are gone by then goes to `refund_pending` on `accept_paid` too: the money is good, but there is nothing left to sell.", body = AdminOrderView),
        JsonBodyRefused,
        AdminOnly,
        (status = 404, description = "No such order.", body = OrderNotFound, content_type = "application/problem+json"),
        (status = 409, description = "The order is not under review (`payment_review` or `payment_review_released`).", body = NotUnderReview, content_type = "application/problem+json"),
        (status = 422, description = "The body is not a decision (`accept_paid` or `refund`).", body = InvalidRequest, content_type = "application/problem+json"),
        DatabaseDown,
    ),
)]
pub async fn settle_review(
    _: Admin,
    State(state): State<AppState>,
    PathId(raw): PathId,
    ApiJson(body): ApiJson<SettleReview>,
) -> Result<Json<AdminOrderView>, Problem> {
    let id = order_id(&raw)?;
    let order = state
        .operator
        .settle_review(id, body.decision)
        .await
        .map_err(|e| operator_problem(e, &raw, "not_under_review"))?;
    Ok(Json(AdminOrderView::from(&order)))
}

#[utoipa::path(
    post,
    path = "/admin/orders/{id}/refunded",
    operation_id = "mark_refunded",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, format = "uuid", description = "The order's id.")),
    request_body = RefundedElsewhere,
    responses(
        (status = 200, description = "The order, `refunded`: its money went back by other means, as the reason (now in the ledger) says.", body = AdminOrderView),
        JsonBodyRefused,
        AdminOnly,
        (status = 404, description = "No such order.", body = OrderNotFound, content_type = "application/problem+json"),
        (status = 409, description = "Only an order whose refund the gateway refused (`refund_failed`) can be marked refunded.", body = NotRefundFailed, content_type = "application/problem+json"),
        (status = 422, description = "The body is not a reason of 1 to 500 characters, not blank, without control characters.", body = InvalidRequest, content_type = "application/problem+json"),
        DatabaseDown,
    ),
)]
pub async fn mark_refunded(
    _: Admin,
    State(state): State<AppState>,
    PathId(raw): PathId,
    ApiJson(body): ApiJson<RefundedElsewhere>,
) -> Result<Json<AdminOrderView>, Problem> {
    let reason = parse_line(&body.reason, "reason", REASON_MAX_CHARS)
        .map_err(|e| Problem::invalid_request(e.to_string()))?;
    let id = order_id(&raw)?;
    let order = state
        .operator
        .mark_refunded(id, &reason)
        .await
        .map_err(|e| operator_problem(e, &raw, "not_refund_failed"))?;
    Ok(Json(AdminOrderView::from(&order)))
}
