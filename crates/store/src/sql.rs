//! What lets every transaction be written once for both databases: values to bind and columns to read
//! in the domain's own types (each dialect stores ids and times its own way: PostgreSQL as `UUID` and
//! `TIMESTAMPTZ`, SQLite as text and integer microseconds), a connection that runs a statement with
//! such values, and a [`Dialect`] that hands out connections and the few statements that differ.
//! Both databases read `$n` parameters, so the SQL text itself is shared wherever the dialects agree.

use crate::reservations::Attempt;
use flashgate_core::StoreError;
use flashgate_core::audit::AuditReport;
use flashgate_core::overview::PoolStats;
use flashgate_core::purchase::GatedReservation;
use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Transaction, Type};
use std::future::Future;
use time::OffsetDateTime;
use uuid::Uuid;

/// One value to bind, in the domain's type; the dialect decides how it is stored.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Plain(Plain<'a>),
    Id(Uuid),
    OptId(Option<Uuid>),
    Time(OffsetDateTime),
    OptTime(Option<OffsetDateTime>),
    /// Lists, matched by the dialect's `Dialect::one_of`.
    Ints(&'a [i64]),
    Texts(&'a [&'a str]),
}

/// A value both databases store alike.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Plain<'a> {
    Int(i64),
    OptInt(Option<i64>),
    Small(i16),
    Bool(bool),
    Text(&'a str),
    OptText(Option<&'a str>),
    Bytes(&'a [u8]),
}

macro_rules! value_from {
    ($($t:ty => $variant:ident $(via $plain:ident)?),* $(,)?) => {$(
        impl<'a> From<$t> for Value<'a> {
            fn from(v: $t) -> Self {
                value_from!(@make v, $variant $(, $plain)?)
            }
        }
    )*};
    (@make $v:ident, $variant:ident) => { Value::$variant($v) };
    (@make $v:ident, $variant:ident, $plain:ident) => { Value::Plain(Plain::$plain($v)) };
}

value_from! {
    i64 => Plain via Int,
    Option<i64> => Plain via OptInt,
    i16 => Plain via Small,
    bool => Plain via Bool,
    &'a str => Plain via Text,
    Option<&'a str> => Plain via OptText,
    &'a [u8] => Plain via Bytes,
    Uuid => Id,
    Option<Uuid> => OptId,
    OffsetDateTime => Time,
    Option<OffsetDateTime> => OptTime,
    &'a [i64] => Ints,
    &'a [&'a str] => Texts,
}

/// The values of one statement, in `$n` order.
macro_rules! args {
    ($($value:expr),* $(,)?) => { &[$($crate::sql::Value::from($value)),*] };
}
pub(crate) use args;

/// A connection of either database, running one statement with domain values.
pub(crate) trait Sql: Send {
    type Row: Fields + Send;

    /// Runs a statement; the rows it changed.
    fn exec<'a>(
        &'a mut self,
        sql: &'a str,
        args: &'a [Value<'a>],
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a;

    fn row<'a>(
        &'a mut self,
        sql: &'a str,
        args: &'a [Value<'a>],
    ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send + 'a;

    fn rows<'a>(
        &'a mut self,
        sql: &'a str,
        args: &'a [Value<'a>],
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + 'a;
}

/// A pooled connection, alone or in a transaction, with how its statements travel.
///
/// Directly to the database a statement is prepared once per connection under a name and reused.
/// Through a transaction pooler (PgBouncer in transaction mode) the server connection may change
/// after every transaction and after every protocol sync: a named statement would be missing there,
/// or be another client's. So each statement is sent unnamed, and one outside a transaction runs in
/// one of its own, which keeps its parse and its execution on the same server connection.
pub(crate) struct Link<DB: Database> {
    pub(crate) handle: Handle<DB>,
    pub(crate) pooled: bool,
}

pub(crate) enum Handle<DB: Database> {
    Alone(PoolConnection<DB>),
    InTransaction(Transaction<'static, DB>),
}

impl<DB: Database> Link<DB> {
    pub(crate) fn alone(conn: PoolConnection<DB>, pooled: bool) -> Self {
        Self {
            handle: Handle::Alone(conn),
            pooled,
        }
    }

    pub(crate) fn in_transaction(tx: Transaction<'static, DB>, pooled: bool) -> Self {
        Self {
            handle: Handle::InTransaction(tx),
            pooled,
        }
    }
}

/// How a transaction from [`Dialect::begin`] ends; on a connection alone both are no-ops, as each
/// of its statements committed on its own.
pub(crate) trait Finish: Sized {
    fn commit(self) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    fn rollback(self) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

impl<DB: Database> Finish for Link<DB> {
    async fn commit(self) -> Result<(), sqlx::Error> {
        match self.handle {
            Handle::InTransaction(tx) => tx.commit().await,
            Handle::Alone(_) => Ok(()),
        }
    }

    async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.handle {
            Handle::InTransaction(tx) => tx.rollback().await,
            Handle::Alone(_) => Ok(()),
        }
    }
}

/// Runs a built query with one of sqlx's fetches on a [`Link`], as the link's travel requires.
macro_rules! fetch_on {
    ($link:expr, $query:expr, $fetch:ident) => {{
        let query = $query.persistent(!$link.pooled);
        match &mut $link.handle {
            $crate::sql::Handle::InTransaction(tx) => query.$fetch(&mut **tx).await,
            $crate::sql::Handle::Alone(conn) if $link.pooled => {
                let mut tx = sqlx::Connection::begin(&mut **conn).await?;
                let fetched = query.$fetch(&mut *tx).await?;
                tx.commit().await?;
                Ok(fetched)
            }
            $crate::sql::Handle::Alone(conn) => query.$fetch(&mut **conn).await,
        }
    }};
}
pub(crate) use fetch_on;

/// Implements [`Sql`] for a dialect's [`Link`], given how it binds one [`Value`].
macro_rules! impl_sql {
    ($db:ty, $row:ty, $bind:path) => {
        impl $crate::sql::Sql for $crate::sql::Link<$db> {
            type Row = $row;

            fn exec<'a>(
                &'a mut self,
                sql: &'a str,
                args: &'a [$crate::sql::Value<'a>],
            ) -> impl std::future::Future<Output = Result<u64, sqlx::Error>> + Send + 'a {
                let query = args.iter().fold(sqlx::query(sql), |q, v| $bind(q, *v));
                async move {
                    let done = $crate::sql::fetch_on!(self, query, execute)?;
                    Ok(done.rows_affected())
                }
            }

            fn row<'a>(
                &'a mut self,
                sql: &'a str,
                args: &'a [$crate::sql::Value<'a>],
            ) -> impl std::future::Future<Output = Result<Option<$row>, sqlx::Error>> + Send + 'a
            {
                let query = args.iter().fold(sqlx::query(sql), |q, v| $bind(q, *v));
                async move { $crate::sql::fetch_on!(self, query, fetch_optional) }
            }

            fn rows<'a>(
                &'a mut self,
                sql: &'a str,
                args: &'a [$crate::sql::Value<'a>],
            ) -> impl std::future::Future<Output = Result<Vec<$row>, sqlx::Error>> + Send + 'a {
                let query = args.iter().fold(sqlx::query(sql), |q, v| $bind(q, *v));
                async move { $crate::sql::fetch_on!(self, query, fetch_all) }
            }
        }
    };
}
pub(crate) use impl_sql;

type Q<'q, DB> = Query<'q, DB, <DB as Database>::Arguments<'q>>;

/// Binds a value both databases store alike.
pub(crate) fn bind_plain<'q, DB: Database>(query: Q<'q, DB>, value: Plain<'q>) -> Q<'q, DB>
where
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB>,
    Option<&'q str>: Encode<'q, DB>,
    i16: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    &'q [u8]: Encode<'q, DB> + Type<DB>,
{
    match value {
        Plain::Int(v) => query.bind(v),
        Plain::OptInt(v) => query.bind(v),
        Plain::Small(v) => query.bind(v),
        Plain::Bool(v) => query.bind(v),
        Plain::Text(v) => query.bind(v),
        Plain::OptText(v) => query.bind(v),
        Plain::Bytes(v) => query.bind(v),
    }
}

/// A row's columns, read into the domain's types.
pub(crate) trait Fields {
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    fn small(&self, column: &str) -> Result<i16, sqlx::Error>;
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error>;
    fn id(&self, column: &str) -> Result<Uuid, sqlx::Error>;
    fn opt_time(&self, column: &str) -> Result<Option<OffsetDateTime>, sqlx::Error>;

    fn time(&self, column: &str) -> Result<OffsetDateTime, sqlx::Error> {
        self.opt_time(column)?
            .ok_or_else(|| sqlx::Error::ColumnDecode {
                index: column.to_owned(),
                source: "unexpected NULL".into(),
            })
    }
}

/// Reads a column both databases store alike.
pub(crate) fn get<'r, R, T>(row: &'r R, column: &str) -> Result<T, sqlx::Error>
where
    R: sqlx::Row,
    T: Decode<'r, R::Database> + Type<R::Database>,
    for<'c> &'c str: ColumnIndex<R>,
{
    row.try_get(column)
}

/// Implements the columns both databases store alike; the dialect adds `id` and `opt_time`.
macro_rules! plain_fields {
    () => {
        fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
            $crate::sql::get(self, column)
        }
        fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
            $crate::sql::get(self, column)
        }
        fn small(&self, column: &str) -> Result<i16, sqlx::Error> {
            $crate::sql::get(self, column)
        }
        fn text(&self, column: &str) -> Result<String, sqlx::Error> {
            $crate::sql::get(self, column)
        }
        fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
            $crate::sql::get(self, column)
        }
        fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error> {
            $crate::sql::get(self, column)
        }
    };
}
pub(crate) use plain_fields;

/// A stored value that does not parse into the domain's type: a decoding error, which the ports
/// report as `Internal`.
pub(crate) fn bad_column(
    column: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(error),
    }
}

/// One database: its connections and the statements in which the dialects differ.
pub(crate) trait Dialect: Send + Sync + 'static {
    type DB: Database;
    /// A [`Link`] of the database.
    type Conn: Sql + Finish + Send;

    /// Appended to a `SELECT` whose rows stay locked until the transaction ends (PostgreSQL); SQLite's
    /// write transactions hold the whole database already.
    const LOCK: &'static str;
    /// Appended to a lease claim's inner `SELECT`, so concurrent claimers take disjoint rows without
    /// waiting on each other.
    const SKIP_LOCKED: &'static str;
    /// A new order and its first ledger row from the binds of `reservations::order_args`; PostgreSQL
    /// writes both in one statement.
    const INSERT_ORDER: &'static [&'static str];
    /// Takes a reservation's units (binds of `order_args` and the gate epoch as `$9`). PostgreSQL's
    /// statement also writes the order and its ledger row, so the hot row is locked for one round
    /// trip; SQLite's takes the units only.
    const TAKE_UNITS: &'static str;
    const TAKE_WRITES_ORDER: bool;
    /// Makes every statement of a transaction from [`Dialect::begin`] read one snapshot, when they
    /// would not already (SQLite's write transaction is alone).
    const ONE_SNAPSHOT: Option<&'static str>;
    /// Holds every customer's holdings still until the transaction ends: in-flight purchases commit
    /// first, later ones wait, so a limit checked against the holdings cannot miss a purchase that
    /// read the old limit (PostgreSQL; SQLite's write transaction is alone).
    const HOLDINGS_STEADY: Option<&'static str>;
    /// The ledger rows `e` written after the position bound as `$1`, a position being what
    /// [`Dialect::LEDGER_POSITION`] reads: which rows a transaction sees, in commit order.
    const LEDGER_SINCE: &'static str;
    /// The ledger's present position (a row with one text column, `position`).
    const LEDGER_POSITION: &'static str;
    /// The ledger rows after a feed position (`$1` its transaction as text, `$2` its id), of one status
    /// (`$3`, or every one when NULL), at most `$4`: `id` and `position` (the writing transaction as
    /// text), only rows that no transaction still running can precede in commit order.
    const EVENTS_AFTER: &'static str;
    /// When the first ledger row after a feed position (`$1`, `$2` as in [`Dialect::EVENTS_AFTER`])
    /// was written, whether the feed hands it out yet or not: `at`, NULL when there is none.
    const FIRST_EVENT_AFTER: &'static str;

    /// The migrations of the schema this build needs.
    fn migrator() -> &'static sqlx::migrate::Migrator;

    /// `column` is one of the ids bound as `$1` (a [`Value::Ints`]).
    fn one_of(column: &str) -> String;

    /// The quick path of a gated batch (see `batch`): every reservation of `batch` (in the lock
    /// order, of `products`) written and the units taken in a fixed number of statements; `None`,
    /// with nothing written, when the dialect's path gives up.
    fn write_batch_at_once<'a>(
        &'a self,
        batch: &'a [&'a GatedReservation],
        products: &'a [i64],
    ) -> impl Future<Output = Result<Option<Vec<Attempt>>, sqlx::Error>> + Send + 'a;

    /// A write transaction, holding whatever lock the dialect's writes need.
    fn begin(&self) -> impl Future<Output = Result<Self::Conn, sqlx::Error>> + Send;

    /// A connection for one write outside a transaction.
    fn writer(&self) -> impl Future<Output = Result<Self::Conn, sqlx::Error>> + Send;

    /// A connection for reads.
    fn reader(&self) -> impl Future<Output = Result<Self::Conn, sqlx::Error>> + Send;

    /// The invariant checks, on the read pool (written once against sqlx in `audit`).
    fn audit(&self) -> impl Future<Output = Result<AuditReport, StoreError>> + Send;

    fn pools(&self) -> Vec<PoolStats>;
}
