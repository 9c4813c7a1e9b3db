//! The catalogue: products are created with their stock, skus are unique, updates and restocks
//! change only what they name, and the list reads back everything in id order.

use crate::{Fixture, conformance};
use flashgate_core::ports::CatalogError;
use flashgate_core::{NewProduct, ProductId, ProductPatch, SaleWindow, Sku, Vnd};
use sqlx::Connection;
use std::sync::Arc;

conformance!(
    creates_and_reads_back_a_product,
    refuses_a_duplicate_sku,
    updates_only_the_named_fields,
    restocks_total_and_available,
    lists_in_id_order,
    a_lower_limit_waits_for_the_purchases_in_flight_under_the_old_one,
);

async fn creates_and_reads_back_a_product(fx: Fixture) {
    let starts = crate::now();
    let new = NewProduct {
        sku: Sku::parse("PHONE-1").unwrap(),
        name: "Phone".into(),
        price: Vnd::from_stored(9_990_000),
        stock: 25,
        per_customer_limit: Some(2),
        window: SaleWindow {
            starts_at: Some(starts),
            ends_at: Some(starts + time::Duration::hours(1)),
        },
    };
    let created = fx.store.catalog.create(&new).await.unwrap();
    assert_eq!(created.sku, new.sku);
    assert_eq!(created.name, "Phone");
    assert_eq!(created.price, new.price);
    assert_eq!(created.per_customer_limit, Some(2));
    assert_eq!(created.window, new.window);
    assert_eq!(
        (
            created.stock.total,
            created.stock.available,
            created.stock.reserved,
            created.stock.sold
        ),
        (25, 25, 0, 0)
    );
    assert_eq!(
        fx.store.products.get(created.id).await.unwrap(),
        Some(created)
    );
    assert_eq!(
        fx.store.products.get(ProductId(999_999)).await.unwrap(),
        None
    );
}

async fn refuses_a_duplicate_sku(fx: Fixture) {
    let first = fx.product(5, None).await;
    let again = NewProduct {
        sku: first.sku.clone(),
        name: "Another".into(),
        price: Vnd::from_stored(1_000),
        stock: 1,
        per_customer_limit: None,
        window: SaleWindow::default(),
    };
    let refused = fx.store.catalog.create(&again).await;
    assert!(
        matches!(refused, Err(CatalogError::DuplicateSku)),
        "{refused:?}"
    );
    assert_eq!(fx.store.products.list().await.unwrap(), vec![first]);
}

async fn updates_only_the_named_fields(fx: Fixture) {
    let product = fx.product(5, Some(3)).await;
    let renamed = ProductPatch {
        name: Some("Renamed".into()),
        per_customer_limit: Some(None),
        ..ProductPatch::default()
    };
    let updated = fx.store.catalog.update(product.id, &renamed).await.unwrap();
    assert_eq!(updated.name, "Renamed");
    assert_eq!(updated.per_customer_limit, None);
    assert_eq!(updated.price, product.price);
    assert_eq!(updated.stock, product.stock);

    let at = crate::now();
    let backwards = ProductPatch {
        sale_starts_at: Some(Some(at)),
        sale_ends_at: Some(Some(at - time::Duration::minutes(1))),
        ..ProductPatch::default()
    };
    let refused = fx.store.catalog.update(product.id, &backwards).await;
    assert!(
        matches!(refused, Err(CatalogError::Invalid(_))),
        "{refused:?}"
    );
    let missing = fx.store.catalog.update(ProductId(999_999), &renamed).await;
    assert!(
        matches!(missing, Err(CatalogError::NotFound)),
        "{missing:?}"
    );
    assert_eq!(
        fx.store.products.get(product.id).await.unwrap(),
        Some(updated)
    );
}

async fn restocks_total_and_available(fx: Fixture) {
    let product = fx.product(5, None).await;
    let restocked = fx.store.catalog.restock(product.id, 7).await.unwrap();
    assert_eq!((restocked.stock.total, restocked.stock.available), (12, 12));
    let missing = fx.store.catalog.restock(ProductId(999_999), 1).await;
    assert!(
        matches!(missing, Err(CatalogError::NotFound)),
        "{missing:?}"
    );
}

async fn lists_in_id_order(fx: Fixture) {
    assert!(fx.store.products.list().await.unwrap().is_empty());
    let a = fx.product(1, None).await;
    let b = fx.product(2, Some(1)).await;
    let c = fx.product(3, None).await;
    assert_eq!(fx.store.products.list().await.unwrap(), vec![a, b, c]);
}

/// A connection straight to the test database with a transaction left open, as a purchase has one
/// between reading the product's limit and its commit.
enum OpenTransaction {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl OpenTransaction {
    async fn begin(fx: &Fixture) -> Self {
        if fx.db.is_postgres() {
            let mut conn = sqlx::PgConnection::connect(&fx.db.url).await.unwrap();
            sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
            Self::Postgres(conn)
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&fx.db.url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .unwrap();
            Self::Sqlite(conn)
        }
    }

    async fn exec(&mut self, sql: &str) {
        match self {
            Self::Postgres(conn) => sqlx::query(sql).execute(conn).await.map(drop),
            Self::Sqlite(conn) => sqlx::query(sql).execute(conn).await.map(drop),
        }
        .unwrap();
    }
}

/// Whether a statement waits on a lock of the holdings table (PostgreSQL).
async fn holdings_wait(fx: &Fixture) -> bool {
    let mut conn = sqlx::PgConnection::connect(&fx.db.url).await.unwrap();
    let waiting: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'customer_holdings'::regclass",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    waiting > 0
}

/// A purchase that read a limit of 5 and took 4 units commits after an operator lowered the limit
/// to 1: the change must see it and be refused, never leave a customer holding more than the limit.
/// Read committed alone lets each miss the other's write (the purchase reads the old limit, the
/// change reads the holdings without the purchase's units).
async fn a_lower_limit_waits_for_the_purchases_in_flight_under_the_old_one(fx: Fixture) {
    let product = fx.product(100, Some(5)).await;
    let mut purchase = OpenTransaction::begin(&fx).await;
    purchase
        .exec(&format!(
            "INSERT INTO customer_holdings (customer_id, product_id, held) VALUES ('alice', {}, 4)",
            product.id.0
        ))
        .await;
    let catalog = Arc::clone(&fx.store.catalog);
    let lower = ProductPatch {
        per_customer_limit: Some(Some(1)),
        ..ProductPatch::default()
    };
    let change = tokio::spawn(async move { catalog.update(product.id, &lower).await });
    // On PostgreSQL, the change must be seen waiting for the purchase (or have answered without
    // it, which fails below); SQLite's one writer makes it wait anyway.
    if fx.db.is_postgres() {
        while !change.is_finished() && !holdings_wait(&fx).await {
            tokio::task::yield_now().await;
        }
    }
    purchase.exec("COMMIT").await;
    let answer = change.await.unwrap();
    assert!(
        matches!(answer, Err(CatalogError::LimitBelowHoldings(4))),
        "{answer:?}"
    );
    let now = fx.store.products.get(product.id).await.unwrap().unwrap();
    assert_eq!(now.per_customer_limit, Some(5));
}
