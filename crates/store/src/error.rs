//! Turning driver errors into the ports' errors: connection trouble is `Unavailable` (an honest 503),
//! anything else is `Internal`.

use flashgate_core::{Cause, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("database URL must start with postgres:// or sqlite:")]
    UnsupportedUrl,
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error(
        "migrations cannot run through a transaction pooler (they hold a session lock): set \
         database.migrations_url to PostgreSQL itself, or migrate beforehand and start with \
         database.migrate_on_start = false"
    )]
    MigrationsThroughPooler,
    #[error("cannot apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The driver's error becomes the cause, so its chain reaches the log.
pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    if is_unavailable(&error) {
        StoreError::Unavailable(Cause::new(error))
    } else {
        StoreError::Internal(Cause::new(error))
    }
}

fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // PostgreSQL: connection exceptions, shutdown, too many connections, lock and
            // serialisation conflicts worth retrying.
            Some(code) if code.starts_with("08") || code.starts_with("57P") => true,
            Some("53300" | "40001" | "40P01") => true,
            // SQLite: busy or locked beyond the busy timeout.
            Some("5" | "6" | "517" | "261") => true,
            // PostgreSQL ends the session with a FATAL error when it refuses a connection (e.g. a
            // database that is not accepting connections, 55000): the database is unreachable.
            _ => db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some_and(|pg| pg.severity() == sqlx::postgres::PgSeverity::Fatal),
        },
        _ => false,
    }
}

/// The database is out of reach (no connection in time, the connection lost, the server going
/// down), as opposed to a conflict with another transaction that trying again would settle.
pub(crate) fn is_unreachable(error: &sqlx::Error) -> bool {
    let conflict = matches!(error, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40001" | "40P01")));
    is_unavailable(error) && !conflict
}

/// PostgreSQL could not serialise a transaction against one that committed while it ran.
pub(crate) fn is_serialization_failure(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("40001"))
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub(crate) fn is_check_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_check_violation())
}
