//! The operator's view of orders: a filtered search paged by (created_at, id), and one order's
//! ledger and gateway messages. A filter left out is bound as NULL and matches every order.

use crate::SqlStore;
use crate::error::store_error;
use crate::rows::status;
use crate::sql::{Dialect, Fields, Sql, args};
use async_trait::async_trait;
use flashgate_core::order_search::{
    LedgerEntry, OrderCursor, OrderFilter, OrderSearch, PAYMENT_RECORDS_SHOWN, PaymentRecord,
    SearchPage,
};
use flashgate_core::{OrderId, StoreError};

const SEARCH: &str = "WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR product_id = $2) \
     AND ($3 IS NULL OR customer_id = $3) AND ($4 IS NULL OR created_at >= $4) \
     AND ($5 IS NULL OR created_at < $5) AND ($6 IS NULL OR (created_at, id) < ($6, $7)) \
     ORDER BY created_at DESC, id DESC LIMIT $8";

#[async_trait]
impl<D: Dialect> OrderSearch for SqlStore<D> {
    async fn search(&self, f: &OrderFilter) -> Result<SearchPage, StoreError> {
        // One more than the page holds says whether another page follows: a full last page
        // gets no cursor to an empty one.
        let args = args![
            f.status.map(|s| s.as_str()),
            f.product_id.map(|p| p.0),
            f.customer.as_ref().map(|c| c.as_str()),
            f.created_from,
            f.created_before,
            f.after.map(|c| c.created_at),
            f.after.map(|c| c.id.0),
            f.limit.saturating_add(1)
        ];
        let mut orders = self.read_orders(SEARCH, args).await?;
        let limit = usize::try_from(f.limit).unwrap_or(0);
        let more = orders.len() > limit;
        orders.truncate(limit);
        let next = orders.last().filter(|_| more).map(OrderCursor::of);
        Ok(SearchPage { orders, next })
    }

    async fn ledger(&self, id: OrderId) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut conn = self.0.reader().await.map_err(store_error)?;
        let rows = conn
            .rows(
                "SELECT from_status, to_status, reason, at FROM order_events WHERE order_id = $1 ORDER BY id",
                args![id.0],
            )
            .await
            .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                Ok(LedgerEntry {
                    from: match row.opt_text("from_status")? {
                        Some(_) => Some(status(row, "from_status")?),
                        None => None,
                    },
                    to: status(row, "to_status")?,
                    reason: row.text("reason")?,
                    at: row.time("at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(store_error)
    }

    async fn payment_records(&self, id: OrderId) -> Result<Vec<PaymentRecord>, StoreError> {
        let mut conn = self.0.reader().await.map_err(store_error)?;
        let rows = conn
            .rows(
                "SELECT source, CAST(CASE WHEN verified THEN 1 ELSE 0 END AS BIGINT) AS verified, outcome, raw, received_at \
                 FROM (SELECT id, source, verified, outcome, raw, received_at FROM payment_events \
                 WHERE order_id = $1 ORDER BY id DESC LIMIT $2) AS newest ORDER BY id",
                args![id.0, PAYMENT_RECORDS_SHOWN],
            )
            .await
            .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                Ok(PaymentRecord {
                    source: row.text("source")?,
                    verified: row.int("verified")? != 0,
                    outcome: row.text("outcome")?,
                    raw: row.text("raw")?,
                    at: row.time("received_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(store_error)
    }
}
