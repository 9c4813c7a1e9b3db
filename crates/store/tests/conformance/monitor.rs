//! The sale monitor's counts: kept by folding the ledger since the last fold, they always equal what
//! a full count of the orders gives, whatever order transactions commit in.

use crate::{Fixture, conformance, now, race, reservation};
use flashgate_core::OrderStatus;
use flashgate_core::overview::SaleOverview;
use flashgate_core::ports::Transition;
use flashgate_core::purchase::WriteMode;
use sqlx::{Connection, PgConnection, SqliteConnection};
use std::sync::Arc;
use std::time::Duration;

conformance!(
    the_counts_equal_a_full_count_while_buyers_race_the_monitor,
    a_ledger_row_that_commits_after_a_fold_is_counted_by_the_next,
    clearing_the_fold_position_rebuilds_the_same_counts,
    figures_folded_within_the_freshness_asked_for_are_read_not_folded_again,
);

/// Figures as of now: `fresh_for` zero always folds.
async fn overview(fx: &Fixture) -> SaleOverview {
    let monitor = &fx.store.monitor;
    monitor.overview(now(), Duration::ZERO).await.unwrap()
}

/// Orders per status and units held by live and paid orders, as the overview tells them.
fn kept(overview: &SaleOverview) -> (Vec<(String, i64)>, i64) {
    let mut by_status: Vec<_> = (overview.orders_by_status.iter())
        .filter(|(_, n)| *n != 0)
        .map(|(status, n)| (status.as_str().to_owned(), *n))
        .collect();
    by_status.sort();
    (by_status, overview.products.iter().map(|p| p.held).sum())
}

/// The same by a full read of the orders, as the monitor read them before it kept counts.
async fn counted(fx: &Fixture) -> (Vec<(String, i64)>, i64) {
    let by_status =
        "SELECT status, CAST(COUNT(*) AS BIGINT) FROM orders GROUP BY status ORDER BY status";
    let held = "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM orders \
                WHERE status IN ('pending_payment', 'payment_review', 'paid')";
    if fx.db.is_postgres() {
        let mut conn = PgConnection::connect(&fx.db.url).await.unwrap();
        let rows = sqlx::query_as(by_status).fetch_all(&mut conn).await;
        let held: (i64,) = sqlx::query_as(held).fetch_one(&mut conn).await.unwrap();
        (rows.unwrap(), held.0)
    } else {
        let mut conn = SqliteConnection::connect(&fx.db.url).await.unwrap();
        let rows = sqlx::query_as(by_status).fetch_all(&mut conn).await;
        let held: (i64,) = sqlx::query_as(held).fetch_one(&mut conn).await.unwrap();
        (rows.unwrap(), held.0)
    }
}

fn expiry(order: flashgate_core::OrderId) -> Transition {
    Transition {
        order_id: order,
        from: OrderStatus::PendingPayment,
        to: OrderStatus::Expired,
        reason: "hold_expired".into(),
        at: now(),
        payment: None,
    }
}

async fn the_counts_equal_a_full_count_while_buyers_race_the_monitor(fx: Fixture) {
    let product = fx.product(1_000, None).await;
    let fx = Arc::new(fx);
    // 40 buyers, every fourth of whom then lets the hold expire, race 8 readers of the monitor.
    race(48, |i| {
        let (fx, product) = (fx.clone(), product.clone());
        async move {
            if i >= 40 {
                overview(&fx).await;
                return;
            }
            let quantity = 1 + i as i64 % 3;
            let r = reservation(&product, &format!("cus_{i}"), quantity, &format!("k{i}"));
            fx.created(WriteMode::Conditional, &r).await;
            if i % 4 == 0 {
                fx.store
                    .transitions
                    .apply(&expiry(r.order.id))
                    .await
                    .unwrap();
            }
        }
    })
    .await;
    let figures = kept(&overview(&fx).await);
    assert_eq!(figures, counted(&fx).await);
    assert_eq!(
        figures.0,
        vec![("expired".into(), 10), ("pending_payment".into(), 30)]
    );
}

/// Ledger ids come from a sequence on PostgreSQL: a transaction can take an id, and commit after a
/// fold has read past it. The next fold still counts its row. (SQLite's one writer commits in id
/// order, and a fold waits for the writer: there the two simply happen one after the other.)
async fn a_ledger_row_that_commits_after_a_fold_is_counted_by_the_next(fx: Fixture) {
    let product = fx.product(10, None).await;
    let first = reservation(&product, "cus_first", 1, "k1");
    fx.created(WriteMode::Conditional, &first).await;
    assert_eq!(
        kept(&overview(&fx).await).0,
        vec![("pending_payment".into(), 1)]
    );

    let mut late = None;
    if fx.db.is_postgres() {
        // An order written by hand in a transaction left open: its ledger row takes the next id.
        let mut conn = PgConnection::connect(&fx.db.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        let sql = format!(
            "WITH o AS (INSERT INTO orders (id, customer_id, product_id, quantity, amount_vnd, status, created_at, expires_at) \
             VALUES (gen_random_uuid(), 'cus_late', {}, 2, 200000, 'pending_payment', now(), now() + interval '15 minutes') RETURNING id) \
             INSERT INTO order_events (order_id, from_status, to_status, reason, at) SELECT id, NULL, 'pending_payment', 'reserved', now() FROM o",
            product.id.0
        );
        sqlx::query(&sql).execute(&mut conn).await.unwrap();
        late = Some(conn);
    }
    let second = reservation(&product, "cus_second", 1, "k2");
    fx.created(WriteMode::Conditional, &second).await;
    fx.store
        .transitions
        .apply(&expiry(first.order.id))
        .await
        .unwrap();
    let folded = kept(&overview(&fx).await);
    assert_eq!(
        folded.0,
        vec![("expired".into(), 1), ("pending_payment".into(), 1)]
    );

    if let Some(mut conn) = late {
        sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
        let folded = kept(&overview(&fx).await);
        assert_eq!(
            folded,
            (
                vec![("expired".into(), 1), ("pending_payment".into(), 2)],
                3
            )
        );
    }
    assert_eq!(kept(&overview(&fx).await), counted(&fx).await);
}

async fn clearing_the_fold_position_rebuilds_the_same_counts(fx: Fixture) {
    let product = fx.product(10, None).await;
    for i in 0..4 {
        let r = reservation(&product, &format!("cus_{i}"), 2, &format!("k{i}"));
        fx.created(WriteMode::Conditional, &r).await;
        if i == 0 {
            fx.store
                .transitions
                .apply(&expiry(r.order.id))
                .await
                .unwrap();
        }
    }
    let before = kept(&overview(&fx).await);
    fx.plant("UPDATE monitor_fold SET position = NULL").await;
    fx.plant("UPDATE monitor_orders SET orders = orders + 100")
        .await;
    assert_eq!(kept(&overview(&fx).await), before);
    assert_eq!(before, counted(&fx).await);
}

/// One instance folds for all: another asking within the freshness it allows reads those figures.
async fn figures_folded_within_the_freshness_asked_for_are_read_not_folded_again(fx: Fixture) {
    let product = fx.product(10, None).await;
    let first = reservation(&product, "cus_first", 1, "k1");
    fx.created(WriteMode::Conditional, &first).await;
    let monitor = &fx.store.monitor;
    let folded_at = now();
    let minute = Duration::from_secs(60);
    assert_eq!(
        monitor.overview(folded_at, minute).await.unwrap().orders(),
        1
    );
    let second = reservation(&product, "cus_second", 1, "k2");
    fx.created(WriteMode::Conditional, &second).await;

    let soon = folded_at + time::Duration::seconds(30);
    assert_eq!(monitor.overview(soon, minute).await.unwrap().orders(), 1);
    let later = folded_at + time::Duration::seconds(61);
    assert_eq!(monitor.overview(later, minute).await.unwrap().orders(), 2);
}
