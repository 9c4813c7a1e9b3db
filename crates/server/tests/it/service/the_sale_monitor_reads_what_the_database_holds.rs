//! The sale monitor behind the admin dashboard and the oversold gauge: it counts orders and stock as
//! the database holds them, and it sees an oversell that the stock row alone would hide.

use flashgate_testkit::Backend;
use flashgate_testkit::TestDatabase;
use flashgate_testkit::key;
use sqlx::{Connection, Executor, PgConnection, SqliteConnection};

on_each_backend!(the_sale_monitor_counts_orders_and_stock_and_sees_an_oversell);

/// Writes behind the service's back, as a bug or a bad manual fix would.
async fn tamper(db: &TestDatabase, sql: &str) {
    if db.is_postgres() {
        let mut connection = PgConnection::connect(&db.url).await.unwrap();
        connection.execute(sql).await.unwrap();
    } else {
        let mut connection = SqliteConnection::connect(&db.url).await.unwrap();
        connection.execute(sql).await.unwrap();
    }
}

async fn the_sale_monitor_counts_orders_and_stock_and_sees_an_oversell(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let api = app.api(0);
    let product = api.product(5, None).await;
    api.place_order(&api.token("cus_mon_1"), &key(), product, 1)
        .await
        .assert_status(201);
    api.place_order(&api.token("cus_mon_2"), &key(), product, 2)
        .await
        .assert_status(201);
    let monitor = &app.instances[0].state.monitor;

    let snapshot = monitor.run_once().await.unwrap();
    assert_eq!(snapshot.orders["pending_payment"], 2);
    assert_eq!(snapshot.orders["paid"], 0);
    assert_eq!(snapshot.orders["payment_review"], 0);
    assert_eq!(snapshot.orders["payment_review_released"], 0);
    assert_eq!(snapshot.orders["refund_failed"], 0);
    assert_eq!(snapshot.orders.len(), 9, "every status is reported");
    assert_eq!(snapshot.orders_total, 2);
    let stock = &snapshot.products[0];
    assert_eq!(stock.id.0, product);
    assert_eq!(
        (
            stock.total,
            stock.available,
            stock.reserved,
            stock.sold,
            stock.held
        ),
        (5, 2, 3, 0, 3)
    );
    assert_eq!(snapshot.oversold, 0);
    assert!(snapshot.settlements.values().all(|n| *n == 0));

    // A stock row that still balances, but promises fewer units than the orders hold.
    tamper(
        &app.db,
        &format!(
            "UPDATE inventory SET total = 1, available = 0, reserved = 1, sold = 0 WHERE product_id = {product}"
        ),
    )
    .await;
    let snapshot = monitor.run_once().await.unwrap();
    assert_eq!(snapshot.oversold, 2);
}
