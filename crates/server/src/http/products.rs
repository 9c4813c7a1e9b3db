//! Products as buyers see them: `GET /products` and `GET /products/{id}`.

use super::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use flashgate_core::{Product, ProductId};
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Serialize)]
pub struct ProductView {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub price_vnd: i64,
    pub available: i64,
    pub per_customer_limit: Option<i64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sale_starts_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
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

#[derive(Serialize)]
pub struct ProductList {
    pub products: Vec<ProductView>,
}

pub async fn list(State(state): State<AppState>) -> Result<Json<ProductList>, Problem> {
    let products = state.store.catalog.list().await?;
    Ok(Json(ProductList {
        products: products.iter().map(ProductView::from).collect(),
    }))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ProductView>, Problem> {
    let id = parse_product_id(&id)?;
    let product = state.store.catalog.get(id).await?.ok_or_else(|| {
        Problem::not_found(
            "product_not_found",
            format!("There is no product {}.", id.0),
        )
    })?;
    Ok(Json(ProductView::from(&product)))
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
