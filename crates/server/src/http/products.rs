//! Products as buyers see them: `GET /products` and `GET /products/{id}`.

use super::extract::PathId;
use super::openapi::{ClientLimited, DatabaseDown, ProductNotFound};
use super::problem::Problem;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flashgate_core::ports::Products;
use flashgate_core::{Product, ProductId};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct ProductView {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub price_vnd: i64,
    pub available: i64,
    #[schema(required)]
    pub per_customer_limit: Option<i64>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required)]
    pub sale_starts_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required)]
    pub sale_ends_at: Option<OffsetDateTime>,
}

impl From<&Product> for ProductView {
    fn from(p: &Product) -> Self {
        Self {
            id: p.id.0,
            sku: p.sku.as_str().to_owned(),
            name: p.name.clone(),
            price_vnd: p.price.get(),
            available: p.stock.available,
            per_customer_limit: p.per_customer_limit,
            sale_starts_at: p.window.starts_at,
            sale_ends_at: p.window.ends_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProductList {
    pub products: Vec<ProductView>,
}

#[utoipa::path(
    get,
    path = "/products",
    operation_id = "list_products",
    tag = "products",
    params(("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer.")),
    responses(
        (status = 200, description = "Every product, with the units left to buy.", body = ProductList,
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "The list has not changed since the `If-None-Match` tag.",
            headers(("ETag" = String), ("Cache-Control" = String))),
        ClientLimited,
        DatabaseDown,
    ),
)]
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Problem> {
    let products = state.shared.products.list().await?;
    let mut views = Vec::with_capacity(products.len());
    for product in &products {
        views.push(live_view(&state, product).await);
    }
    Ok(cacheable(
        &state,
        &headers,
        &ProductList { products: views },
    ))
}

#[utoipa::path(
    get,
    path = "/products/{id}",
    operation_id = "get_product",
    tag = "products",
    params(
        ("id" = i64, Path, minimum = 1, description = "The product's id; anything else is 404."),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer."),
    ),
    responses(
        (status = 200, description = "The product, with the units left to buy.", body = ProductView,
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "The product has not changed since the `If-None-Match` tag.",
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 404, description = "No such product.", body = ProductNotFound, content_type = "application/problem+json"),
        ClientLimited,
        DatabaseDown,
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let id = parse_product_id(&id)?;
    let product = state.shared.products.get(id).await?.ok_or_else(|| {
        Problem::not_found(
            "product_not_found",
            format!("There is no product {}.", id.0),
        )
    })?;
    Ok(cacheable(
        &state,
        &headers,
        &live_view(&state, &product).await,
    ))
}

/// The product with the gate's live count of units left, when purchases go through the gate.
async fn live_view(state: &AppState, product: &Product) -> ProductView {
    let mut view = ProductView::from(product);
    if let Some(gate) = &state.shared.gate
        && let Some(available) = gate.available(product.id).await
    {
        view.available = available;
    }
    view
}

/// A JSON answer with a strong `ETag` over its bytes and a short `Cache-Control`; a matching
/// `If-None-Match` gets 304 without a body.
fn cacheable<T: Serialize>(state: &AppState, request: &HeaderMap, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    let max_age = format!(
        "public, max-age={}",
        state.settings.cache.http_max_age.as_secs()
    );
    let matches = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            // If-None-Match compares weakly (RFC 9110, 13.1.2): `W/"x"` matches `"x"`.
            v.split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
        });
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = (StatusCode::OK, bytes).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(max_age) = HeaderValue::from_str(&max_age) {
        headers.insert(header::CACHE_CONTROL, max_age);
    }
    response
}

/// Path ids are parsed by hand so that `/products/abc` is a clear 404, not a framework error.
pub fn parse_product_id(raw: &str) -> Result<ProductId, Problem> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(ProductId)
        .ok_or_else(|| {
            Problem::not_found("product_not_found", format!("There is no product {raw:?}."))
        })
}
