//! The SQLite dialect: the embedded default, one file, no server. SQLite has one writer at a time, so
//! writes go through a single-connection pool (they queue in the pool, bounded by its acquire timeout,
//! instead of spinning on SQLITE_BUSY) and write transactions begin `IMMEDIATE` (the write lock is the
//! row lock of a database with one writer), while reads use a pool of their own; WAL lets reads
//! proceed during writes. Ids are stored as text, times as integer microseconds since the Unix epoch.

use crate::PoolSettings;
use crate::error::OpenError;
use crate::reservations::Attempt;
use crate::sql::{Dialect, Fields, Link, Value, bad_column, bind_plain, impl_sql, plain_fields};
use flashgate_core::StoreError;
use flashgate_core::audit::AuditReport;
use flashgate_core::overview::PoolStats;
use flashgate_core::purchase::GatedReservation;
use sqlx::Row;
use sqlx::migrate::Migrator;
use sqlx::query::Query;
use sqlx::sqlite::{
    Sqlite, SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) struct Lite {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl Lite {
    /// `create`: make the file when it is missing. Only a caller that will migrate it wants that; an
    /// empty file helps no one else (`flashgate audit` in the wrong folder would leave one behind).
    pub(crate) async fn connect(
        url: &str,
        settings: &PoolSettings,
        create: bool,
    ) -> Result<Self, OpenError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(OpenError::Connect)?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL under WAL loses at most the last transactions on power loss, never consistency.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options.clone())
            .await
            .map_err(OpenError::Connect)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options.read_only(true))
            .await
            .map_err(OpenError::Connect)?;
        Ok(Self { writer, reader })
    }

    pub(crate) async fn migrate(&self) -> Result<(), OpenError> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }
}

/// The schema this build needs.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

impl Dialect for Lite {
    type DB = Sqlite;
    type Conn = Link<Sqlite>;

    const LOCK: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    const INSERT_ORDER: &'static [&'static str] = &[
        "INSERT INTO orders (id, customer_id, product_id, quantity, amount_vnd, status, created_at, expires_at, payment_url) \
         VALUES ($1, $2, $3, $4, $5, 'pending_payment', $6, $7, $8)",
        "INSERT INTO order_events (order_id, from_status, to_status, reason, at) \
         VALUES ($1, NULL, 'pending_payment', 'reserved', $6)",
    ];
    // With a gate epoch the update also requires the row to carry it; without one it clears the
    // row's epoch, as the gate did not see this write.
    const TAKE_UNITS: &'static str = "UPDATE inventory SET available = available - $4, reserved = reserved + $4, \
           gate_epoch = CASE WHEN $9 IS NULL THEN NULL ELSE gate_epoch END \
         WHERE product_id = $3 AND available >= $4 AND ($9 IS NULL OR gate_epoch = $9)";
    const TAKE_WRITES_ORDER: bool = false;
    const ONE_SNAPSHOT: Option<&'static str> = None;
    const HOLDINGS_STEADY: Option<&'static str> = None;
    // The one writer gives ledger ids in commit order.
    const LEDGER_SINCE: &'static str = "e.id > CAST($1 AS INTEGER)";
    const LEDGER_POSITION: &'static str =
        "SELECT CAST(COALESCE(MAX(id), 0) AS TEXT) AS position FROM order_events";
    // One writer at a time: ids are handed out in commit order, and a reader sees whole commits.
    const EVENTS_AFTER: &'static str = "SELECT id, '0' AS position FROM order_events \
         WHERE id > $2 AND ($3 IS NULL OR to_status = $3) AND $1 IS NOT NULL ORDER BY id LIMIT $4";
    const FIRST_EVENT_AFTER: &'static str = "SELECT MIN(at) AS at FROM ( \
         SELECT at FROM order_events WHERE id > $2 AND $1 IS NOT NULL ORDER BY id LIMIT 1)";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn one_of(column: &str) -> String {
        format!("{column} IN (SELECT value FROM json_each($1))")
    }

    fn write_batch_at_once<'a>(
        &'a self,
        batch: &'a [&'a GatedReservation],
        products: &'a [i64],
    ) -> impl Future<Output = Result<Option<Vec<Attempt>>, sqlx::Error>> + Send + 'a {
        crate::batch_lite::write(self, batch, products)
    }

    async fn begin(&self) -> Result<Link<Sqlite>, sqlx::Error> {
        let tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Link::in_transaction(tx, false))
    }

    async fn writer(&self) -> Result<Link<Sqlite>, sqlx::Error> {
        Ok(Link::alone(self.writer.acquire().await?, false))
    }

    async fn reader(&self) -> Result<Link<Sqlite>, sqlx::Error> {
        Ok(Link::alone(self.reader.acquire().await?, false))
    }

    fn audit(&self) -> impl Future<Output = Result<AuditReport, StoreError>> + Send {
        crate::audit::run(&self.reader)
    }

    fn pools(&self) -> Vec<PoolStats> {
        vec![
            crate::overview::pool_stats("writer", &self.writer),
            crate::overview::pool_stats("reader", &self.reader),
        ]
    }
}

pub(crate) fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// A JSON array, the list form `json_each` reads.
fn json_list<T: Copy + Into<serde_json::Value>>(items: &[T]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

fn bind<'q>(
    query: Query<'q, Sqlite, SqliteArguments<'q>>,
    value: Value<'q>,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    match value {
        Value::Plain(plain) => bind_plain(query, plain),
        Value::Id(id) => query.bind(id.to_string()),
        Value::OptId(id) => query.bind(id.map(|id| id.to_string())),
        Value::Time(at) => query.bind(micros(at)),
        Value::OptTime(at) => query.bind(at.map(micros)),
        Value::Ints(ids) => query.bind(json_list(ids)),
        Value::Texts(texts) => query.bind(json_list(texts)),
    }
}

impl_sql!(Sqlite, SqliteRow, bind);

impl Fields for SqliteRow {
    plain_fields!();

    fn id(&self, column: &str) -> Result<Uuid, sqlx::Error> {
        let text: String = self.try_get(column)?;
        Uuid::try_parse(&text).map_err(|e| bad_column(column, e))
    }

    fn opt_time(&self, column: &str) -> Result<Option<OffsetDateTime>, sqlx::Error> {
        let Some(value) = self.try_get::<Option<i64>, _>(column)? else {
            return Ok(None);
        };
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(value) * 1_000)
            .map(Some)
            .map_err(|e| bad_column(column, e))
    }
}
