//! The database's health, its audit and the sale's aggregates, read from the read pool.

use crate::SqlStore;
use crate::error::store_error;
use crate::sql::{Dialect, Sql, args};
use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::audit::AuditReport;
use flashgate_core::overview::{PoolStats, SaleOverview};
use flashgate_core::ports::{Auditor, Health, SaleMonitor};
use std::time::Duration;
use time::OffsetDateTime;

#[async_trait]
impl<D: Dialect> Health for SqlStore<D> {
    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.0.reader().await.map_err(store_error)?;
        conn.exec("SELECT 1", args![]).await.map_err(store_error)?;
        Ok(())
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
