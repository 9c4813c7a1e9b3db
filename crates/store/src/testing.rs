//! Each test owns its database: a freshly created PostgreSQL database (dropped when the guard goes) or
//! a SQLite file in a temporary folder. PostgreSQL is found through `FLASHGATE_TEST_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`); a test that cannot reach it fails loudly.

use sqlx::{Connection, PgConnection};

/// The server every PostgreSQL test database is created on.
pub fn postgres_admin_url() -> String {
    std::env::var("FLASHGATE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// PgBouncer in transaction pooling mode in front of that server, through
/// `FLASHGATE_TEST_PGBOUNCER_URL` (default `postgres://postgres@127.0.0.1:56432/postgres`, as
/// `scripts/test.sh` starts it); any database name passes through to PostgreSQL.
pub fn pgbouncer_url() -> String {
    std::env::var("FLASHGATE_TEST_PGBOUNCER_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:56432/postgres".to_owned())
}

/// A database that lives as long as this value.
pub struct TestDatabase {
    pub url: String,
    name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A new, empty PostgreSQL database with a unique `fg_test_` name.
    pub async fn postgres() -> Self {
        let admin = postgres_admin_url();
        let name = format!("fg_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is required for this test and is not reachable at {admin}: {e}")
        });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = conn.close().await;
        Self {
            url: on_server(&admin, &name),
            name: Some(name),
            _dir: None,
        }
    }

    /// A new SQLite file in a temporary folder.
    pub fn sqlite() -> Self {
        let dir =
            tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temporary folder: {e}"));
        let url = format!("sqlite:{}", dir.path().join("flashgate.db").display());
        Self {
            url,
            name: None,
            _dir: Some(dir),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.name.is_some()
    }

    /// The same PostgreSQL database through PgBouncer ([`pgbouncer_url`]).
    pub fn through_pgbouncer(&self) -> String {
        let name = self
            .name
            .as_deref()
            .unwrap_or_else(|| panic!("only a PostgreSQL test database is behind PgBouncer"));
        on_server(&pgbouncer_url(), name)
    }
}

/// The URL of database `name` on the server that `url` names.
fn on_server(url: &str, name: &str) -> String {
    let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
    format!("{base}/{name}")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.name.take() else { return };
        // Drop runs outside any async context we can rely on, so the clean-up gets its own thread and
        // runtime; a leftover is dropped by the test command's next run anyway.
        let admin = postgres_admin_url();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// One ledger row: from, to and why.
pub type LedgerRow = (Option<String>, String, String);

/// One payment event: source, verified and outcome.
pub type PaymentEventRow = (String, bool, String);

impl TestDatabase {
    /// An order's ledger, oldest first, read straight from the database.
    pub async fn ledger(&self, order_id: uuid::Uuid) -> Vec<LedgerRow> {
        let sql = "SELECT from_status, to_status, reason FROM order_events WHERE CAST(order_id AS TEXT) = $1 ORDER BY id";
        self.fetch(sql, order_id.to_string()).await
    }

    /// The gateway messages recorded for an order, oldest first.
    pub async fn payment_events(&self, order_id: uuid::Uuid) -> Vec<PaymentEventRow> {
        let sql = "SELECT source, verified, outcome FROM payment_events WHERE CAST(order_id AS TEXT) = $1 ORDER BY id";
        self.fetch(sql, order_id.to_string()).await
    }

    async fn fetch<T>(&self, sql: &str, arg: String) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + Send
            + Unpin,
    {
        if self.is_postgres() {
            fetch_with::<PgConnection, T>(&self.url, sql, arg).await
        } else {
            fetch_with::<sqlx::SqliteConnection, T>(&self.url, sql, arg).await
        }
    }
}

async fn fetch_with<C, T>(url: &str, sql: &str, arg: String) -> Vec<T>
where
    C: Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
    for<'q> <C::Database as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, C::Database>,
    for<'q> String: sqlx::Encode<'q, C::Database> + sqlx::Type<C::Database>,
    T: for<'r> sqlx::FromRow<'r, <C::Database as sqlx::Database>::Row> + Send + Unpin,
{
    let mut conn = C::connect(url).await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query_as(sql)
        .bind(arg)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}
