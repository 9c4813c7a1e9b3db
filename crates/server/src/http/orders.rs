//! Buyers' orders: `POST /orders` (idempotent, one order per key), `GET /orders`, `GET /orders/{id}`.

use super::extract::{ApiJson, ApiQuery, Buyer, ClientIp, IdempotencyKeyHeader, PathId};
use super::openapi::{
    BadPurchase, BuyerUnauthorized, ClientLimited, DatabaseDown, InvalidPurchase, InvalidRequest,
    LimitExceeded, OrderNotFound, PayloadTooLarge, PurchaseConflict, PurchaseUnavailable,
    UnsupportedMediaType,
};
use super::problem::Problem;
use crate::metrics;
use crate::payments::VnpayGateway;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flashgate_core::checkout::{OrderAnswer, PlaceOrderError, PlaceOrderOutcome, Purchaser};
use flashgate_core::purchase::PurchaseRequest;
use flashgate_core::{Order, OrderId, ProductId, Quantity};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::LazyLock;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    #[schema(minimum = 1)]
    product_id: i64,
    #[schema(minimum = 1, maximum = 1_000)]
    quantity: i64,
}

#[derive(Serialize, ToSchema)]
pub struct OrderView {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(value_type = String, pattern = "^(pending_payment|payment_review|payment_review_released|paid|payment_failed|expired|refund_pending|refund_failed|refunded)$")]
    pub status: &'static str,
    pub product_id: i64,
    pub quantity: i64,
    pub amount_vnd: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schema(value_type = OffsetDateTime)]
    pub paid_at: Option<OffsetDateTime>,
    /// The signed link to pay at the gateway, while the order waits for payment.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, format = "uri")]
    pub payment_url: Option<String>,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        Self {
            id: o.id.to_string(),
            status: o.status.as_str(),
            product_id: o.product_id.0,
            quantity: o.quantity.get(),
            amount_vnd: o.amount.get(),
            created_at: o.created_at,
            expires_at: o.expires_at,
            paid_at: o.paid_at,
            // A link to pay is only useful while the order waits for payment.
            payment_url: o
                .payment_url
                .clone()
                .filter(|_| o.status == flashgate_core::OrderStatus::PendingPayment),
        }
    }
}

/// Renders the answer stored with a new order, with its signed payment link.
pub struct JsonOrderAnswer<'a> {
    gateway: &'a VnpayGateway,
    client_ip: IpAddr,
}

impl<'a> JsonOrderAnswer<'a> {
    /// `client_ip` is the buyer's address, which VNPay records with the payment.
    pub fn new(gateway: &'a VnpayGateway, client_ip: IpAddr) -> Self {
        Self { gateway, client_ip }
    }
}

impl OrderAnswer for JsonOrderAnswer<'_> {
    fn payment_url(&self, order: &Order) -> Option<String> {
        self.gateway.payment_url(order, self.client_ip)
    }

    fn render(&self, order: &Order) -> Vec<u8> {
        serde_json::to_vec(&OrderView::from(order)).unwrap_or_default()
    }
}

#[utoipa::path(
    post,
    path = "/orders",
    operation_id = "create_order",
    tag = "orders",
    security(("buyer_jwt" = []), ("buyer_session" = [])),
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "Unique per purchase; a retry with the same key and body replays the first answer.")),
    request_body = CreateOrder,
    responses(
        (status = 201, description = "The order, holding the units until `expires_at`, with the link to pay.", body = OrderView,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to an earlier request with the key."))),
        (status = 400, description = "The body is not JSON, or the `Idempotency-Key` is missing or not valid.", body = BadPurchase, content_type = "application/problem+json"),
        (status = 401, description = "No valid buyer token or session.", body = BuyerUnauthorized, content_type = "application/problem+json"),
        (status = 403, description = "The order would take the buyer over the product's per-customer limit.", body = LimitExceeded, content_type = "application/problem+json"),
        (status = 409, description = "Sold out, the sale is not active, or the key was used for another request.", body = PurchaseConflict, content_type = "application/problem+json"),
        (status = 413, description = "The body is larger than `http.body_limit_bytes`.", body = PayloadTooLarge, content_type = "application/problem+json"),
        (status = 415, description = "The body is not sent as `application/json`.", body = UnsupportedMediaType, content_type = "application/problem+json"),
        (status = 422, description = "The body is not a valid order, names no product, or its price × quantity cannot be paid through the gateway (`amount_not_payable`: 5,000 up to, not including, 1,000,000,000 VND).", body = InvalidPurchase, content_type = "application/problem+json"),
        ClientLimited,
        (status = 503, description = "The database does not answer, or too many purchases are in progress.", body = PurchaseUnavailable, content_type = "application/problem+json"),
    ),
)]
pub async fn create(
    ClientIp(client_ip): ClientIp,
    Buyer(customer): Buyer,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateOrder>,
) -> Result<Response, Problem> {
    let request = PurchaseRequest {
        product_id: ProductId(body.product_id),
        quantity: Quantity::parse(body.quantity)
            .map_err(|e| Problem::invalid_request(e.to_string()))?,
    };
    // Below the schema's minimum: a malformed request, not a product that happens not to exist.
    if body.product_id <= 0 {
        return Err(Problem::invalid_request("product_id: must be at least 1"));
    }
    let answer = JsonOrderAnswer::new(&state.gateway, client_ip);
    let purchaser = Purchaser { customer, key };
    let strategy = state.checkout.strategy().as_str();
    let placed = state.checkout.place(&purchaser, request, &answer).await;
    let (status, body, replayed) = match placed {
        Ok(PlaceOrderOutcome::Created { status, body }) => {
            metrics::purchase(strategy, "created");
            (status, body, false)
        }
        Ok(PlaceOrderOutcome::Replayed { status, body }) => {
            metrics::purchase(strategy, "replayed");
            (status, body, true)
        }
        Err(error) => {
            let problem = purchase_problem(error, body.product_id);
            metrics::purchase(strategy, problem.code);
            return Err(problem);
        }
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

fn unknown_product(id: i64) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_product",
        "No such product",
        format!("There is no product {id}."),
    )
}

/// The refusals a crowd gets, rendered once.
static SOLD_OUT: LazyLock<Problem> = LazyLock::new(|| {
    Problem::conflict("sold_out", "Sold out", "There are not enough units left.").rendered_once()
});
static SALE_NOT_ACTIVE: LazyLock<Problem> = LazyLock::new(|| {
    Problem::conflict(
        "sale_not_active",
        "The sale is not active",
        "This product cannot be bought right now.",
    )
    .rendered_once()
});
static LIMIT_EXCEEDED: LazyLock<Problem> = LazyLock::new(|| {
    Problem::new(
        StatusCode::FORBIDDEN,
        "limit_exceeded",
        "Limit reached",
        "This order would take you over the product's per-customer limit.",
    )
    .rendered_once()
});

fn purchase_problem(error: PlaceOrderError, product_id: i64) -> Problem {
    match error {
        PlaceOrderError::SoldOut => SOLD_OUT.clone(),
        PlaceOrderError::SaleNotActive => SALE_NOT_ACTIVE.clone(),
        PlaceOrderError::LimitExceeded => LIMIT_EXCEEDED.clone(),
        PlaceOrderError::UnknownProduct => unknown_product(product_id),
        PlaceOrderError::IdempotencyConflict => Problem::conflict(
            "idempotency_conflict",
            "The idempotency key was used for another request",
            "Use a new Idempotency-Key for a different request.",
        ),
        PlaceOrderError::AmountNotPayable => crate::payments::payable::amount_not_payable(),
        PlaceOrderError::NoPaymentLink => {
            tracing::error!("no payment link for a payable order; check the vnpay settings");
            Problem::internal()
        }
        PlaceOrderError::Store(e) => e.into(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrderList {
    orders: Vec<OrderView>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// How many of the newest orders to show.
    #[param(minimum = 1, maximum = 100, default = 50)]
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/orders",
    operation_id = "list_orders",
    tag = "orders",
    security(("buyer_jwt" = []), ("buyer_session" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "The buyer's newest orders.", body = OrderList),
        (status = 401, description = "No valid buyer token or session.", body = BuyerUnauthorized, content_type = "application/problem+json"),
        (status = 422, description = "The query is not valid.", body = InvalidRequest, content_type = "application/problem+json"),
        ClientLimited,
        DatabaseDown,
    ),
)]
pub async fn list(
    Buyer(customer): Buyer,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<OrderList>, Problem> {
    let limit = params.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(Problem::invalid_request("limit: must be between 1 and 100"));
    }
    let orders = state.store.orders.list_for(&customer, limit).await?;
    Ok(Json(OrderList {
        orders: orders.iter().map(OrderView::from).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/orders/{id}",
    operation_id = "get_order",
    tag = "orders",
    security(("buyer_jwt" = []), ("buyer_session" = [])),
    params(("id" = String, Path, format = "uuid", description = "The order's id; another buyer's order is 404.")),
    responses(
        (status = 200, description = "The order.", body = OrderView),
        (status = 401, description = "No valid buyer token or session.", body = BuyerUnauthorized, content_type = "application/problem+json"),
        (status = 404, description = "The buyer has no such order.", body = OrderNotFound, content_type = "application/problem+json"),
        ClientLimited,
        DatabaseDown,
    ),
)]
pub async fn get(
    Buyer(customer): Buyer,
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<OrderView>, Problem> {
    let not_found = || Problem::not_found("order_not_found", format!("You have no order {id}."));
    let order_id = Uuid::try_parse(&id).map(OrderId).map_err(|_| not_found())?;
    // Someone else's order is answered exactly like a missing one: ids must not be probeable.
    let order = state
        .store
        .orders
        .get_for(&customer, order_id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(OrderView::from(&order)))
}
