//! Rows into domain values, once for both dialects. A stored value that no longer parses is a
//! decoding error (reported as `Internal`), with the parse error as its cause.

use crate::sql::{Fields, bad_column};
use flashgate_core::product::{SaleWindow, Stock};
use flashgate_core::{
    CustomerId, Order, OrderId, OrderStatus, Product, ProductId, Quantity, Sku, Vnd,
};

pub(crate) const ORDER_COLUMNS: &str = "id, customer_id, product_id, quantity, amount_vnd, status, \
     created_at, expires_at, paid_at, payment_url, gateway_transaction_no";

pub(crate) const PRODUCT_SELECT: &str = "SELECT p.id, p.sku, p.name, p.price_vnd, p.per_customer_limit, \
     p.sale_starts_at, p.sale_ends_at, i.total, i.available, i.reserved, i.sold \
     FROM products p JOIN inventory i ON i.product_id = p.id";

#[derive(Debug, thiserror::Error)]
#[error("unknown order status {0:?}")]
struct UnknownStatus(String);

pub(crate) fn customer(row: &impl Fields, column: &str) -> Result<CustomerId, sqlx::Error> {
    CustomerId::parse(&row.text(column)?).map_err(|e| bad_column(column, e))
}

pub(crate) fn status(row: &impl Fields, column: &str) -> Result<OrderStatus, sqlx::Error> {
    let stored = row.text(column)?;
    OrderStatus::parse(&stored).ok_or_else(|| bad_column(column, UnknownStatus(stored)))
}

pub(crate) fn order(row: &impl Fields) -> Result<Order, sqlx::Error> {
    Ok(Order {
        id: OrderId(row.id("id")?),
        customer: customer(row, "customer_id")?,
        product_id: ProductId(row.int("product_id")?),
        quantity: Quantity::from_stored(row.int("quantity")?),
        amount: Vnd::from_stored(row.int("amount_vnd")?),
        status: status(row, "status")?,
        created_at: row.time("created_at")?,
        expires_at: row.time("expires_at")?,
        paid_at: row.opt_time("paid_at")?,
        payment_url: row.opt_text("payment_url")?,
        gateway_transaction_no: row.opt_int("gateway_transaction_no")?,
    })
}

pub(crate) fn orders<R: Fields>(rows: &[R]) -> Result<Vec<Order>, sqlx::Error> {
    rows.iter().map(order).collect()
}

pub(crate) fn product(row: &impl Fields) -> Result<Product, sqlx::Error> {
    Ok(Product {
        id: ProductId(row.int("id")?),
        sku: Sku::parse(&row.text("sku")?).map_err(|e| bad_column("sku", e))?,
        name: row.text("name")?,
        price: Vnd::from_stored(row.int("price_vnd")?),
        stock: Stock {
            total: row.int("total")?,
            available: row.int("available")?,
            reserved: row.int("reserved")?,
            sold: row.int("sold")?,
        },
        per_customer_limit: row.opt_int("per_customer_limit")?,
        window: window(row)?,
    })
}

pub(crate) fn window(row: &impl Fields) -> Result<SaleWindow, sqlx::Error> {
    Ok(SaleWindow {
        starts_at: row.opt_time("sale_starts_at")?,
        ends_at: row.opt_time("sale_ends_at")?,
    })
}
