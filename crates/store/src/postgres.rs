//! The PostgreSQL dialect: production storage. Row locks, `FOR UPDATE SKIP LOCKED` and a deferred
//! foreign key do the concurrency work; the CHECK constraints are the last word on stock. Ids and times
//! are stored natively (`UUID`, `TIMESTAMPTZ`).

use crate::PoolSettings;
use crate::error::OpenError;
use crate::reservations::Attempt;
use crate::sql::{Dialect, Fields, Link, Value, bind_plain, impl_sql, plain_fields};
use flashgate_core::StoreError;
use flashgate_core::audit::AuditReport;
use flashgate_core::overview::PoolStats;
use flashgate_core::purchase::GatedReservation;
use sqlx::Row;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::query::Query;
use std::future::Future;
use std::str::FromStr;
use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) struct Pg {
    pool: PgPool,
    /// `database_url` names a transaction pooler (PgBouncer): see [`Link`].
    pooled: bool,
}

impl Pg {
    pub(crate) async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, OpenError> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(OpenError::Connect)?
            .application_name("flashgate");
        if let Some(ca) = &settings.root_ca_file {
            options = options.ssl_root_cert(ca);
        }
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        Ok(Self {
            pool,
            pooled: settings.transaction_pooling,
        })
    }

    /// sqlx's migrator holds a session-level advisory lock while it works, which a transaction
    /// pooler cannot keep on one server connection: behind one, migrations run over a direct
    /// connection to PostgreSQL (`migrations_url`).
    pub(crate) async fn migrate(&self, settings: &PoolSettings) -> Result<(), OpenError> {
        let migrator = &MIGRATOR;
        if !self.pooled {
            migrator.run(&self.pool).await?;
            return Ok(());
        }
        let url = settings
            .migrations_url
            .as_deref()
            .ok_or(OpenError::MigrationsThroughPooler)?;
        let direct = Self::connect(
            url,
            &PoolSettings {
                max_connections: 1,
                transaction_pooling: false,
                ..settings.clone()
            },
        )
        .await?;
        migrator.run(&direct.pool).await?;
        direct.pool.close().await;
        Ok(())
    }
}

/// The schema this build needs.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

impl Dialect for Pg {
    type DB = Postgres;
    type Conn = Link<Postgres>;

    const LOCK: &'static str = " FOR UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const INSERT_ORDER: &'static [&'static str] = &["WITH created AS ( \
           INSERT INTO orders (id, customer_id, product_id, quantity, amount_vnd, status, created_at, expires_at, payment_url) \
           VALUES ($1, $2, $3, $4, $5, 'pending_payment', $6, $7, $8) RETURNING id \
         ) \
         INSERT INTO order_events (order_id, from_status, to_status, reason, at) \
         SELECT id, NULL, 'pending_payment', 'reserved', $6 FROM created"];
    // With a gate epoch the update also requires the row to carry it; without one it clears the
    // row's epoch, as the gate did not see this write.
    const TAKE_UNITS: &'static str = "WITH taken AS ( \
           UPDATE inventory SET available = available - $4, reserved = reserved + $4, \
             gate_epoch = CASE WHEN $9::BIGINT IS NULL THEN NULL ELSE gate_epoch END \
           WHERE product_id = $3 AND available >= $4 \
             AND ($9::BIGINT IS NULL OR gate_epoch = $9::BIGINT) RETURNING product_id \
         ), created AS ( \
           INSERT INTO orders (id, customer_id, product_id, quantity, amount_vnd, status, created_at, expires_at, payment_url) \
           SELECT $1, $2, product_id, $4, $5, 'pending_payment', $6, $7, $8 FROM taken RETURNING id \
         ) \
         INSERT INTO order_events (order_id, from_status, to_status, reason, at) \
         SELECT id, NULL, 'pending_payment', 'reserved', $6 FROM created";
    const TAKE_WRITES_ORDER: bool = true;
    const ONE_SNAPSHOT: Option<&'static str> =
        Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    // SHARE conflicts with the ROW EXCLUSIVE of every holdings write, and a statement's snapshot is
    // taken after its table locks: a purchase that waited reads the new limit.
    const HOLDINGS_STEADY: Option<&'static str> =
        Some("LOCK TABLE customer_holdings IN SHARE MODE");
    // Ledger ids come from a sequence and commit out of order; the snapshot a reader read at tells
    // exactly which rows it saw (migration 0009 records each row's transaction).
    const LEDGER_SINCE: &'static str = "e.xid >= pg_snapshot_xmin(CAST($1 AS pg_snapshot)) \
         AND NOT pg_visible_in_snapshot(e.xid, CAST($1 AS pg_snapshot))";
    const LEDGER_POSITION: &'static str = "SELECT CAST(pg_current_snapshot() AS TEXT) AS position";
    // Every transaction below the snapshot's xmin has ended, so no row can still commit before one
    // handed out. Rows written before the ledger recorded transactions (no xid) come first, at 0.
    const EVENTS_AFTER: &'static str = "(SELECT id, CAST('0' AS TEXT) AS position FROM order_events \
           WHERE xid IS NULL AND $1 = '0' AND id > $2 AND (CAST($3 AS TEXT) IS NULL OR to_status = $3) \
           ORDER BY id LIMIT $4) \
         UNION ALL \
         (SELECT id, CAST(xid AS TEXT) AS position FROM order_events \
           WHERE xid >= CAST($1 AS xid8) AND (xid > CAST($1 AS xid8) OR id > $2) \
             AND xid < pg_snapshot_xmin(pg_current_snapshot()) \
             AND (CAST($3 AS TEXT) IS NULL OR to_status = $3) \
           ORDER BY xid, id LIMIT $4)";
    // Without the snapshot's horizon: what a running transaction holds back counts too.
    const FIRST_EVENT_AFTER: &'static str = "SELECT MIN(at) AS at FROM ( \
           (SELECT at FROM order_events WHERE xid IS NULL AND $1 = '0' AND id > $2 ORDER BY id LIMIT 1) \
           UNION ALL \
           (SELECT at FROM order_events WHERE xid >= CAST($1 AS xid8) AND (xid > CAST($1 AS xid8) OR id > $2) \
             ORDER BY xid, id LIMIT 1)) AS first";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn one_of(column: &str) -> String {
        format!("{column} = ANY($1)")
    }

    async fn write_batch_at_once(
        &self,
        batch: &[&GatedReservation],
        _products: &[i64],
    ) -> Result<Option<Vec<Attempt>>, sqlx::Error> {
        crate::batch_pg::write(&mut self.writer().await?, batch).await
    }

    async fn begin(&self) -> Result<Link<Postgres>, sqlx::Error> {
        Ok(Link::in_transaction(self.pool.begin().await?, self.pooled))
    }

    async fn writer(&self) -> Result<Link<Postgres>, sqlx::Error> {
        Ok(Link::alone(self.pool.acquire().await?, self.pooled))
    }

    async fn reader(&self) -> Result<Link<Postgres>, sqlx::Error> {
        self.writer().await
    }

    fn audit(&self) -> impl Future<Output = Result<AuditReport, StoreError>> + Send {
        crate::audit::run(&self.pool)
    }

    fn pools(&self) -> Vec<PoolStats> {
        vec![crate::overview::pool_stats("main", &self.pool)]
    }
}

fn bind<'q>(
    query: Query<'q, Postgres, PgArguments>,
    value: Value<'q>,
) -> Query<'q, Postgres, PgArguments> {
    match value {
        Value::Plain(plain) => bind_plain(query, plain),
        Value::Id(id) => query.bind(id),
        Value::OptId(id) => query.bind(id),
        Value::Time(at) => query.bind(at),
        Value::OptTime(at) => query.bind(at),
        Value::Ints(ids) => query.bind(ids),
        Value::Texts(texts) => query.bind(texts),
    }
}

impl_sql!(Postgres, PgRow, bind);

impl Fields for PgRow {
    plain_fields!();

    fn id(&self, column: &str) -> Result<Uuid, sqlx::Error> {
        self.try_get(column)
    }

    fn opt_time(&self, column: &str) -> Result<Option<OffsetDateTime>, sqlx::Error> {
        self.try_get(column)
    }
}
