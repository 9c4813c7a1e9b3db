//! Reading a test's database directly, beside the service: what the ledger and tables hold, whatever
//! the API says. Queries are written in SQL both dialects speak.

use crate::spawn::Backend;
use flashgate_store::testing::TestDatabase;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Connection, PgConnection, PgPool, SqliteConnection, SqlitePool};
use std::collections::HashMap;
use std::str::FromStr;

pub enum Direct {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl Direct {
    pub async fn connect(db: &TestDatabase) -> Self {
        if db.is_postgres() {
            let pool = PgPoolOptions::new()
                .max_connections(2)
                .connect(&db.url)
                .await
                .expect("a direct PostgreSQL connection");
            Self::Postgres(pool)
        } else {
            let options = SqliteConnectOptions::from_str(&db.url)
                .expect("a SQLite URL")
                .read_only(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .expect("a direct SQLite connection");
            Self::Sqlite(pool)
        }
    }

    /// A single integer, e.g. `SELECT COUNT(*) FROM orders`.
    pub async fn count(&self, sql: &str) -> i64 {
        match self {
            Self::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Self::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Text keys with integer values, e.g. a count per order.
    pub async fn counts_by(&self, sql: &str) -> HashMap<String, i64> {
        let rows: Vec<(String, i64)> = match self {
            Self::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            Self::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.into_iter().collect()
    }

    /// How many times the ledger recorded each order moving to `status`, keyed by order id.
    pub async fn ledger_moves_to(&self, status: &str) -> HashMap<String, i64> {
        assert!(status.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        self.counts_by(&format!(
            "SELECT CAST(order_id AS TEXT), CAST(COUNT(*) AS BIGINT) FROM order_events \
             WHERE to_status = '{status}' GROUP BY order_id"
        ))
        .await
    }

    /// Rows written by purchases: orders, ledger events and idempotency records.
    pub async fn purchase_rows(&self) -> i64 {
        self.count(
            "SELECT CAST((SELECT COUNT(*) FROM orders) + (SELECT COUNT(*) FROM order_events) \
             + (SELECT COUNT(*) FROM idempotency) + (SELECT COUNT(*) FROM customer_holdings) AS BIGINT)",
        )
        .await
    }
}

/// A lock that every purchase of the product waits behind: the product's stock row (PostgreSQL) or
/// SQLite's write lock, held by a connection of the test's own.
pub enum StockLock {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl StockLock {
    pub async fn take(backend: Backend, url: &str, product: i64) -> Self {
        match backend {
            Backend::Postgres => {
                let mut conn = PgConnection::connect(url).await.expect("a connection");
                sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
                sqlx::query("SELECT 1 FROM inventory WHERE product_id = $1 FOR UPDATE")
                    .bind(product)
                    .execute(&mut conn)
                    .await
                    .expect("the stock row is locked");
                Self::Postgres(conn)
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::connect(url).await.expect("a connection");
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .expect("the write lock is taken");
                Self::Sqlite(conn)
            }
        }
    }

    pub async fn release(&mut self) {
        match self {
            Self::Postgres(conn) => sqlx::query("COMMIT").execute(conn).await.map(drop),
            Self::Sqlite(conn) => sqlx::query("COMMIT").execute(conn).await.map(drop),
        }
        .expect("the lock is released");
    }
}
