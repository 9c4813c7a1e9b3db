//! The events feed: ledger rows read as order events, in commit order. Each dialect picks the rows
//! after a position that are safe to hand out (`Dialect::EVENTS_AFTER`); the order as it stood after
//! each change is read here, once for both.

use crate::SqlStore;
use crate::error::store_error;
use crate::rows::order;
use crate::sql::{Dialect, Fields, Sql, Value, args, bad_column};
use async_trait::async_trait;
use flashgate_core::events::{EventFeed, FeedPage, FeedPosition, OrderEvent};
use flashgate_core::{OrderStatus, StoreError};

/// The order as of the event, the same however late it is read: its status is the event's, it shows
/// `paid_at` only from its first `paid` event on (an order is paid once, and its time never changes
/// after), and the gateway's number as the ledger row recorded it; the rest never changes after the
/// order's creation. One order's ledger rows are written under its row lock, so their ids follow
/// their commit order and count the order's sequence.
const EVENT_SELECT: &str = "SELECT page.position, e.id AS event_id, e.at AS event_at, \
       (SELECT CAST(COUNT(*) AS BIGINT) FROM order_events s WHERE s.order_id = e.order_id AND s.id <= e.id) AS sequence, \
       o.id, o.customer_id, o.product_id, o.quantity, o.amount_vnd, e.to_status AS status, o.created_at, o.expires_at, \
       CASE WHEN EXISTS (SELECT 1 FROM order_events p WHERE p.order_id = e.order_id AND p.id <= e.id AND p.to_status = 'paid') \
         THEN o.paid_at END AS paid_at, \
       o.payment_url, e.gateway_transaction_no \
     FROM page JOIN order_events e ON e.id = page.id JOIN orders o ON o.id = e.order_id";

#[async_trait]
impl<D: Dialect> EventFeed for SqlStore<D> {
    async fn page(
        &self,
        after: FeedPosition,
        limit: i64,
        only: Option<OrderStatus>,
    ) -> Result<FeedPage, StoreError> {
        let mut conn = self.0.reader().await.map_err(store_error)?;
        let events = events_after::<D>(&mut conn, after, limit, only)
            .await
            .map_err(store_error)?;
        let next = events.last().map_or(after, |(position, _)| *position);
        Ok(FeedPage {
            events: events.into_iter().map(|(_, event)| event).collect(),
            next,
        })
    }
}

/// The events after `after` in commit order, at most `limit`, with their positions.
pub(crate) async fn events_after<D: Dialect>(
    conn: &mut D::Conn,
    after: FeedPosition,
    limit: i64,
    only: Option<OrderStatus>,
) -> Result<Vec<(FeedPosition, OrderEvent)>, sqlx::Error> {
    let xid = after.xid.to_string();
    let mut events = event_rows::<D>(
        conn,
        D::EVENTS_AFTER,
        args![xid.as_str(), after.id, only.map(OrderStatus::as_str), limit],
    )
    .await?;
    events.sort_by_key(|(position, _)| *position);
    events.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(events)
}

/// The positions of the events after `after` in commit order, at most `limit`, without the events.
pub(crate) async fn positions_after<D: Dialect>(
    conn: &mut D::Conn,
    after: FeedPosition,
    limit: i64,
) -> Result<Vec<FeedPosition>, sqlx::Error> {
    let xid = after.xid.to_string();
    let rows = conn
        .rows(
            D::EVENTS_AFTER,
            args![xid.as_str(), after.id, None::<&str>, limit],
        )
        .await?;
    let mut positions = rows
        .iter()
        .map(|row| feed_position(row, "position", "id"))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    positions.sort();
    positions.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(positions)
}

/// A feed position read from a row: the writing transaction as text (`xid`) and the ledger id (`id`).
pub(crate) fn feed_position(
    row: &impl Fields,
    xid: &str,
    id: &str,
) -> Result<FeedPosition, sqlx::Error> {
    Ok(FeedPosition {
        xid: row.text(xid)?.parse().map_err(|e| bad_column(xid, e))?,
        id: row.int(id)?,
    })
}

/// The events whose ids (`id`) and positions (`position`, text) `page` selects, in no order.
pub(crate) async fn event_rows<D: Dialect>(
    conn: &mut D::Conn,
    page: &str,
    args: &[Value<'_>],
) -> Result<Vec<(FeedPosition, OrderEvent)>, sqlx::Error> {
    let sql = format!("WITH page AS ({page}) {EVENT_SELECT}");
    let rows = conn.rows(&sql, args).await?;
    rows.iter()
        .map(|row| {
            let position = feed_position(row, "position", "event_id")?;
            let event = OrderEvent {
                id: row.int("event_id")?,
                sequence: row.int("sequence")?,
                at: row.time("event_at")?,
                order: order(row)?,
            };
            Ok((position, event))
        })
        .collect()
}
