//! The database's health, its audit and the sale's aggregates, read from the read pool.

use crate::SqlStore;
use crate::error::store_error;
use crate::sql::{Dialect, Fields, Sql, args};
use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::audit::AuditReport;
use flashgate_core::overview::{PoolStats, SaleOverview};
use flashgate_core::ports::{Auditor, Health, SaleMonitor};
use std::time::Duration;
use time::OffsetDateTime;

#[async_trait]
impl<D: Dialect> Health for SqlStore<D> {
    /// Reachable, and its schema is at least the one this build needs: an instance started without
    /// migrating on a database never migrated (or behind this build) would answer every request 500.
    /// A schema ahead of this build is fine: a rolling deploy migrates before the old instances go.
    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.0.reader().await.map_err(store_error)?;
        conn.exec("SELECT 1", args![]).await.map_err(store_error)?;
        let needed = D::migrator().iter().map(|m| m.version).max().unwrap_or(0);
        let applied = conn
            .row(
                "SELECT COALESCE(MAX(version), 0) AS version FROM _sqlx_migrations WHERE success",
                args![],
            )
            .await
            .and_then(|row| row.map(|r| r.int("version")).transpose());
        match applied {
            Ok(Some(applied)) if applied >= needed => Ok(()),
            Ok(applied) => Err(StoreError::unavailable(format!(
                "the database's schema is at migration {}, this build needs {needed}: run `flashgate migrate`",
                applied.unwrap_or(0)
            ))),
            // The connection answered a moment ago: what is missing is the migrations' table.
            Err(e) => Err(StoreError::unavailable(format!(
                "the database holds no flashgate schema ({e}): run `flashgate migrate`"
            ))),
        }
    }
}

#[async_trait]
impl<D: Dialect> Auditor for SqlStore<D> {
    async fn audit(&self) -> Result<AuditReport, StoreError> {
        self.0.audit().await
    }
}

#[async_trait]
impl<D: Dialect> SaleMonitor for SqlStore<D> {
    async fn overview(
        &self,
        now: OffsetDateTime,
        fresh_for: Duration,
    ) -> Result<SaleOverview, StoreError> {
        crate::overview::read(&self.0, now, fresh_for).await
    }

    fn pools(&self) -> Vec<PoolStats> {
        self.0.pools()
    }
}
