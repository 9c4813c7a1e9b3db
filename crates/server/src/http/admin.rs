//! The admin API: create a product, change it, restock it. Every answer shows the full stock counters.

use super::extract::{Admin, ApiJson, PathId};
use super::openapi::{
    AdminOnly, DatabaseDown, DuplicateSku, InvalidProduct, InvalidRequest, JsonBodyRefused,
    LimitBelowHoldings, ProductNotFound,
};
use super::problem::Problem;
use super::products::{ProductView, parse_product_id};
use crate::payments::payable;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use flashgate_core::ids::ParseError;
use flashgate_core::ports::CatalogError;
use flashgate_core::product::{SaleWindow, Stock, parse_limit, parse_name, parse_stock};
use flashgate_core::{NewProduct, Product, ProductPatch, Sku};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
    sku: String,
    /// Shown to buyers: at most 200 characters, some not blank, none a control character; spaces
    /// around it are dropped.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\u0000-\\u001F\\u007F-\\u009F\\s][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    name: String,
    /// What the gateway can take: 5,000 up to, not including, 1,000,000,000 VND.
    #[schema(minimum = 5_000, maximum = 999_999_999)]
    price_vnd: i64,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    stock: i64,
    #[schema(minimum = 1, maximum = 1_000_000)]
    per_customer_limit: Option<i64>,
    #[serde(default, with = "super::times::option")]
    sale_starts_at: Option<OffsetDateTime>,
    /// After `sale_starts_at` when both are set.
    #[serde(default, with = "super::times::option")]
    sale_ends_at: Option<OffsetDateTime>,
}

/// A partial update. A field left out stays as it is; `null` clears the limit or a window end.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProduct {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\u0000-\\u001F\\u007F-\\u009F\\s][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    name: Option<String>,
    #[schema(minimum = 5_000, maximum = 999_999_999)]
    price_vnd: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000)]
    per_customer_limit: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present_time")]
    #[schema(value_type = Option<OffsetDateTime>)]
    sale_starts_at: Option<Option<OffsetDateTime>>,
    /// After the sale's start (as changed here, or as it is) when both are set.
    #[serde(default, deserialize_with = "present_time")]
    #[schema(value_type = Option<OffsetDateTime>)]
    sale_ends_at: Option<Option<OffsetDateTime>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Restock {
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    quantity: i64,
}

#[derive(Serialize, ToSchema)]
pub struct AdminProductView {
    #[serde(flatten)]
    product: ProductView,
    stock: Stock,
}

impl From<&Product> for AdminProductView {
    fn from(p: &Product) -> Self {
        Self {
            product: ProductView::from(p),
            stock: p.stock,
        }
    }
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

fn present_time<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<OffsetDateTime>>, D::Error> {
    super::times::option::deserialize(d).map(Some)
}

fn invalid(e: ParseError) -> Problem {
    Problem::invalid_request(e.to_string())
}

fn catalog_problem(error: CatalogError) -> Problem {
    match error {
        CatalogError::DuplicateSku => Problem::conflict(
            "duplicate_sku",
            "The sku is taken",
            "A product with this sku already exists.",
        ),
        CatalogError::NotFound => {
            Problem::not_found("product_not_found", "There is no such product.")
        }
        CatalogError::Invalid(why) => Problem::invalid_request(why),
        CatalogError::LimitBelowHoldings(held) => Problem::conflict(
            "limit_below_holdings",
            "Customers already hold more than that",
            format!(
                "per_customer_limit: a customer already holds {held} units of this product; the limit can go no lower."
            ),
        ),
        CatalogError::Store(e) => e.into(),
    }
}

#[utoipa::path(
    post,
    path = "/admin/products",
    operation_id = "create_product",
    tag = "admin",
    security(("admin_token" = [])),
    request_body = CreateProduct,
    responses(
        (status = 201, description = "The product, created.", body = AdminProductView),
        JsonBodyRefused,
        AdminOnly,
        (status = 409, description = "The sku is taken.", body = DuplicateSku, content_type = "application/problem+json"),
        (status = 422, description = "The body is not a valid product, or its price cannot be paid through the gateway (`price_not_payable`: 5,000 up to, not including, 1,000,000,000 VND).", body = InvalidProduct, content_type = "application/problem+json"),
        DatabaseDown,
    ),
)]
pub async fn create(
    _: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateProduct>,
) -> Result<(StatusCode, Json<AdminProductView>), Problem> {
    let product = NewProduct {
        sku: Sku::parse(&body.sku).map_err(invalid)?,
        name: parse_name(&body.name).map_err(invalid)?,
        price: payable::price(body.price_vnd)?,
        stock: parse_stock(body.stock, "stock").map_err(invalid)?,
        per_customer_limit: body
            .per_customer_limit
            .map(parse_limit)
            .transpose()
            .map_err(invalid)?,
        window: SaleWindow::new(body.sale_starts_at, body.sale_ends_at).map_err(invalid)?,
    };
    let created = state
        .store
        .catalog
        .create(&product)
        .await
        .map_err(catalog_problem)?;
    tracing::info!(
        product_id = created.id.0,
        sku = created.sku.as_str(),
        "product created"
    );
    Ok((StatusCode::CREATED, Json(AdminProductView::from(&created))))
}

#[utoipa::path(
    patch,
    path = "/admin/products/{id}",
    operation_id = "update_product",
    tag = "admin",
    security(("admin_token" = [])),
    params(
        ("id" = i64, Path, minimum = 1, description = "The product's id; anything else is 404."),
    ),
    request_body = UpdateProduct,
    responses(
        (status = 200, description = "The product, changed.", body = AdminProductView),
        JsonBodyRefused,
        AdminOnly,
        (status = 404, description = "No such product.", body = ProductNotFound, content_type = "application/problem+json"),
        (status = 409, description = "A customer already holds more units than the new `per_customer_limit`.", body = LimitBelowHoldings, content_type = "application/problem+json"),
        (status = 422, description = "The body is not a valid change, or the new price cannot be paid through the gateway (`price_not_payable`).", body = InvalidProduct, content_type = "application/problem+json"),
        DatabaseDown,
    ),
)]
pub async fn update(
    _: Admin,
    State(state): State<AppState>,
    PathId(id): PathId,
    ApiJson(body): ApiJson<UpdateProduct>,
) -> Result<Json<AdminProductView>, Problem> {
    let id = parse_product_id(&id)?;
    let patch = ProductPatch {
        name: body
            .name
            .as_deref()
            .map(parse_name)
            .transpose()
            .map_err(invalid)?,
        price: body.price_vnd.map(payable::price).transpose()?,
        per_customer_limit: body
            .per_customer_limit
            .map(|limit| limit.map(parse_limit).transpose())
            .transpose()
            .map_err(invalid)?,
        sale_starts_at: body.sale_starts_at,
        sale_ends_at: body.sale_ends_at,
    };
    let updated = state
        .store
        .catalog
        .update(id, &patch)
        .await
        .map_err(catalog_problem)?;
    Ok(Json(AdminProductView::from(&updated)))
}

#[utoipa::path(
    post,
    path = "/admin/products/{id}/restock",
    operation_id = "restock_product",
    tag = "admin",
    security(("admin_token" = [])),
    params(
        ("id" = i64, Path, minimum = 1, description = "The product's id; anything else is 404."),
    ),
    request_body = Restock,
    responses(
        (status = 200, description = "The product, with the units added.", body = AdminProductView),
        JsonBodyRefused,
        AdminOnly,
        (status = 404, description = "No such product.", body = ProductNotFound, content_type = "application/problem+json"),
        (status = 422, description = "The body is not a valid restock.", body = InvalidRequest, content_type = "application/problem+json"),
        DatabaseDown,
    ),
)]
pub async fn restock(
    _: Admin,
    State(state): State<AppState>,
    PathId(id): PathId,
    ApiJson(body): ApiJson<Restock>,
) -> Result<Json<AdminProductView>, Problem> {
    let id = parse_product_id(&id)?;
    if !(1..=1_000_000_000).contains(&body.quantity) {
        return Err(Problem::invalid_request(
            "quantity: must be between 1 and 1000000000",
        ));
    }
    let product = state
        .store
        .catalog
        .restock(id, body.quantity)
        .await
        .map_err(catalog_problem)?;
    tracing::info!(
        product_id = id.0,
        quantity = body.quantity,
        "product restocked"
    );
    Ok(Json(AdminProductView::from(&product)))
}
