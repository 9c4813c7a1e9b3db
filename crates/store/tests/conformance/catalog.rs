//! The catalogue: products are created with their stock, skus are unique, updates and restocks
//! change only what they name, and the list reads back everything in id order.

use crate::{Fixture, conformance};
use flashgate_core::ports::CatalogError;
use flashgate_core::{NewProduct, ProductId, ProductPatch, SaleWindow, Sku, Vnd};

conformance!(
    creates_and_reads_back_a_product,
    refuses_a_duplicate_sku,
    updates_only_the_named_fields,
    restocks_total_and_available,
    lists_in_id_order,
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
