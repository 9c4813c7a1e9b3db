//! Webhook endpoints and their deliveries. The fan-out reads the ledger through the feed's query
//! (commit order, see `events`) from the position it last stored, under that row's lock so that one
//! instance at a time moves it; claims lease deliveries as the workers lease orders (see `leases`).
//! A disabled endpoint keeps the fan-out's position when it was disabled, and enabling it writes
//! what the fan-out passed by meanwhile.

use crate::SqlStore;
use crate::error::store_error;
use crate::events::{event_rows, feed_position, positions_after};
use crate::sql::{Dialect, Fields, Finish, Sql, args};
use async_trait::async_trait;
use flashgate_core::StoreError;
use flashgate_core::events::FeedPosition;
use flashgate_core::webhooks::{
    Claimed, DeliveryHealth, Endpoint, EndpointPatch, WebhookDeliveries, WebhookEndpoints,
};
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

const ENDPOINT_SELECT: &str = "SELECT id, url, events, secret, previous_secret, previous_until, \
     CAST(CASE WHEN enabled THEN 1 ELSE 0 END AS BIGINT) AS enabled, disabled_reason, created_at, updated_at \
     FROM webhook_endpoints";

/// The event type of a ledger row `e`, as the endpoints' `events` lists name it.
const KIND: &str = "(CASE WHEN e.to_status = 'pending_payment' THEN 'order.created' ELSE 'order.' || e.to_status END)";

/// Deliveries, due at `due`, of the ledger rows `e` that `events` picks to the endpoints `ep` that
/// `endpoints` picks and that take the event's type; the conflict's action follows.
fn deliveries(endpoints: &str, events: &str, due: &str) -> String {
    format!(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, order_id, sequence, event_at, next_attempt_at) \
         SELECT ep.id, e.id, e.order_id, \
           (SELECT COUNT(*) FROM order_events s WHERE s.order_id = e.order_id AND s.id <= e.id), e.at, {due} \
         FROM order_events e JOIN webhook_endpoints ep ON {endpoints} \
         WHERE {events} AND (ep.events IS NULL OR (',' || ep.events || ',') LIKE ('%,' || {KIND} || ',%')) \
         ORDER BY e.id, ep.id \
         ON CONFLICT (endpoint_id, event_id) DO "
    )
}

/// Ledger rows read at a time when an enabled endpoint catches up.
const CATCH_UP_PAGE: i64 = 1_000;

/// Disables the endpoint `$1` (with the dispatcher's reason `$2`, or none), keeping where the fan-out
/// stood when it was first disabled. Read without the fan-out's lock, that position may lag behind a
/// page being fanned out, which then reached the endpoint too: catching up skips what is there.
const PAUSE: &str = "UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $2, updated_at = $3, \
       missed_after_xid = COALESCE(missed_after_xid, (SELECT xid FROM webhook_fanout WHERE id = 1)), \
       missed_after_event_id = COALESCE(missed_after_event_id, (SELECT event_id FROM webhook_fanout WHERE id = 1)) \
     WHERE id = $1";

fn endpoint(row: &impl Fields) -> Result<Endpoint, sqlx::Error> {
    Ok(Endpoint {
        id: row.id("id")?,
        url: row.text("url")?,
        events: row
            .opt_text("events")?
            .map(|list| list.split(',').map(str::to_owned).collect()),
        secret: row.text("secret")?,
        previous_secret: row.opt_text("previous_secret")?,
        previous_until: row.opt_time("previous_until")?,
        enabled: row.int("enabled")? != 0,
        disabled_reason: row.opt_text("disabled_reason")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

fn joined(events: &Option<Vec<String>>) -> Option<String> {
    events.as_ref().map(|list| list.join(","))
}

impl<D: Dialect> SqlStore<D> {
    async fn endpoints(
        &self,
        filter: &str,
        args: &[crate::sql::Value<'_>],
    ) -> Result<Vec<Endpoint>, StoreError> {
        let mut conn = self.0.reader().await.map_err(store_error)?;
        let rows = conn
            .rows(&format!("{ENDPOINT_SELECT} {filter}"), args)
            .await
            .map_err(store_error)?;
        rows.iter()
            .map(endpoint)
            .collect::<Result<_, _>>()
            .map_err(store_error)
    }
}

#[async_trait]
impl<D: Dialect> WebhookEndpoints for SqlStore<D> {
    async fn create(&self, e: &Endpoint) -> Result<(), StoreError> {
        let mut conn = self.0.writer().await.map_err(store_error)?;
        conn.exec(
            "INSERT INTO webhook_endpoints (id, url, events, secret, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
            args![e.id, e.url.as_str(), joined(&e.events).as_deref(), e.secret.as_str(), e.enabled, e.created_at],
        )
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Endpoint>, StoreError> {
        self.endpoints("ORDER BY created_at, id", args![]).await
    }

    async fn get(&self, id: Uuid) -> Result<Option<Endpoint>, StoreError> {
        Ok(self.endpoints("WHERE id = $1", args![id]).await?.pop())
    }

    async fn update(
        &self,
        id: Uuid,
        p: &EndpointPatch,
        now: OffsetDateTime,
    ) -> Result<Option<Endpoint>, StoreError> {
        let mut tx = self.0.begin().await.map_err(store_error)?;
        let events = p.events.as_ref().map(joined);
        let (secret, until) = match &p.rotate {
            Some((secret, until)) => (Some(secret.as_str()), Some(*until)),
            None => (None, None),
        };
        let row = tx
            .row(
                "UPDATE webhook_endpoints SET url = COALESCE($2, url), \
                   events = CASE WHEN $3 = 1 THEN $4 ELSE events END, \
                   previous_secret = CASE WHEN $5 IS NULL THEN previous_secret ELSE secret END, \
                   previous_until = CASE WHEN $5 IS NULL THEN previous_until ELSE $6 END, \
                   secret = COALESCE($5, secret), updated_at = $7 \
                 WHERE id = $1 RETURNING CAST(CASE WHEN enabled THEN 1 ELSE 0 END AS BIGINT) AS enabled, \
                   missed_after_xid, missed_after_event_id",
                args![
                    id,
                    p.url.as_deref(),
                    i64::from(events.is_some()),
                    events.flatten().as_deref(),
                    secret,
                    until,
                    now
                ],
            )
            .await
            .map_err(store_error)?;
        let Some(row) = row else {
            tx.rollback().await.map_err(store_error)?;
            return Ok(None);
        };
        let was_enabled = row.int("enabled").map_err(store_error)? != 0;
        match p.enabled {
            Some(false) => {
                tx.exec(PAUSE, args![id, None::<&str>, now])
                    .await
                    .map_err(store_error)?;
            }
            Some(true) if !was_enabled => {
                // Where the fan-out stood when it was disabled; not known when a build before
                // migration 0013 disabled it (in a rolling deploy).
                let since = match row.opt_text("missed_after_xid").map_err(store_error)? {
                    Some(_) => Some(
                        feed_position(&row, "missed_after_xid", "missed_after_event_id")
                            .map_err(store_error)?,
                    ),
                    None => None,
                };
                resume::<D>(&mut tx, id, since, now)
                    .await
                    .map_err(store_error)?;
            }
            _ => {}
        }
        tx.commit().await.map_err(store_error)?;
        self.get(id).await
    }

    async fn delete(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.0.begin().await.map_err(store_error)?;
        tx.exec(
            "DELETE FROM webhook_deliveries WHERE endpoint_id = $1",
            args![id],
        )
        .await
        .map_err(store_error)?;
        let gone = tx
            .exec("DELETE FROM webhook_endpoints WHERE id = $1", args![id])
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(gone > 0)
    }

    async fn replay(
        &self,
        id: Uuid,
        since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let sql = deliveries("ep.id = $1", "e.at >= $2", "$3")
            + "UPDATE SET delivered_at = NULL, failed_at = NULL, attempts = 0, next_attempt_at = $3, \
               lease_until = NULL, lease_token = NULL";
        let mut conn = self.0.writer().await.map_err(store_error)?;
        conn.exec(&sql, args![id, since, now])
            .await
            .map_err(store_error)
    }
}

#[async_trait]
impl<D: Dialect> WebhookDeliveries for SqlStore<D> {
    async fn fan_out(&self, now: OffsetDateTime, limit: i64) -> Result<usize, StoreError> {
        self.fan_out_page(now, limit).await.map_err(store_error)
    }

    async fn claim(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        token: Uuid,
        limit: i64,
        except: &[Uuid],
    ) -> Result<Vec<Claimed>, StoreError> {
        self.claim_due(now, lease_until, token, limit, except)
            .await
            .map_err(store_error)
    }

    async fn delivered(&self, id: i64, token: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
        self.settle_delivery("delivered_at = $3, last_error = NULL", args![id, token, at])
            .await
    }

    async fn retry_at(
        &self,
        id: i64,
        token: Uuid,
        next: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        self.settle_delivery(
            "next_attempt_at = $3, last_error = $4",
            args![id, token, next, error],
        )
        .await
    }

    async fn give_up(
        &self,
        id: i64,
        token: Uuid,
        at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.0.begin().await.map_err(store_error)?;
        let row = tx
            .row(
                "UPDATE webhook_deliveries SET failed_at = $3, last_error = $4, lease_until = NULL, lease_token = NULL \
                 WHERE id = $1 AND lease_token = $2 RETURNING endpoint_id",
                args![id, token, at, error],
            )
            .await
            .map_err(store_error)?;
        if let Some(row) = row {
            let endpoint = row.id("endpoint_id").map_err(store_error)?;
            tx.exec(PAUSE, args![endpoint, error, at])
                .await
                .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)
    }

    async fn health(&self) -> Result<DeliveryHealth, StoreError> {
        let mut conn = self.0.reader().await.map_err(store_error)?;
        let row = conn
            .row(
                "SELECT (SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_endpoints) AS endpoints, \
                   (SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_endpoints WHERE NOT enabled) AS disabled, \
                   (SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries WHERE delivered_at IS NULL AND failed_at IS NULL) AS pending, \
                   (SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries WHERE delivered_at IS NULL AND failed_at IS NULL AND last_error IS NOT NULL) AS retrying, \
                   (SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries WHERE failed_at IS NOT NULL) AS failed, \
                   (SELECT MIN(event_at) FROM webhook_deliveries WHERE delivered_at IS NULL AND failed_at IS NULL) AS oldest, \
                   (SELECT xid FROM webhook_fanout WHERE id = 1) AS fanned_xid, \
                   (SELECT event_id FROM webhook_fanout WHERE id = 1) AS fanned_event_id",
                args![],
            )
            .await
            .map_err(store_error)?
            .ok_or_else(|| StoreError::internal("no health row"))?;
        let fanned = feed_position(&row, "fanned_xid", "fanned_event_id").map_err(store_error)?;
        let fanned_xid = fanned.xid.to_string();
        let unread = conn
            .row(D::FIRST_EVENT_AFTER, args![fanned_xid.as_str(), fanned.id])
            .await
            .map_err(store_error)?
            .ok_or_else(|| StoreError::internal("no first event row"))?;
        let read = || -> Result<DeliveryHealth, sqlx::Error> {
            Ok(DeliveryHealth {
                endpoints: row.int("endpoints")?,
                disabled_endpoints: row.int("disabled")?,
                pending: row.int("pending")?,
                retrying: row.int("retrying")?,
                failed: row.int("failed")?,
                oldest_pending_at: row.opt_time("oldest")?,
                unread_event_at: unread.opt_time("at")?,
            })
        };
        read().map_err(store_error)
    }

    async fn prune_delivered(&self, before: OffsetDateTime, limit: i64) -> Result<u64, StoreError> {
        let mut conn = self.0.writer().await.map_err(store_error)?;
        conn.exec(
            "DELETE FROM webhook_deliveries WHERE id IN ( \
             SELECT id FROM webhook_deliveries WHERE delivered_at < $1 ORDER BY delivered_at LIMIT $2)",
            args![before, limit],
        )
        .await
        .map_err(store_error)
    }
}

/// Where the fan-out stands, read under its lock: until the transaction ends, no page moves it.
async fn fanout_position<D: Dialect>(tx: &mut D::Conn) -> Result<FeedPosition, sqlx::Error> {
    let sql = format!(
        "SELECT xid, event_id FROM webhook_fanout WHERE id = 1{}",
        D::LOCK
    );
    let row = tx
        .row(&sql, args![])
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    feed_position(&row, "xid", "event_id")
}

/// Enables the disabled endpoint `id`: writes what it missed since the fan-out stood at `since`
/// (when known), and makes every delivery it has waiting due now, from the first attempt.
async fn resume<D: Dialect>(
    tx: &mut D::Conn,
    id: Uuid,
    since: Option<FeedPosition>,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    if let Some(since) = since {
        catch_up::<D>(tx, id, since, now).await?;
    }
    tx.exec(
        "UPDATE webhook_endpoints SET enabled = TRUE, disabled_reason = NULL, \
           missed_after_xid = NULL, missed_after_event_id = NULL WHERE id = $1",
        args![id],
    )
    .await?;
    tx.exec(
        "UPDATE webhook_deliveries SET failed_at = NULL, attempts = 0, next_attempt_at = $2 \
         WHERE endpoint_id = $1 AND delivered_at IS NULL",
        args![id, now],
    )
    .await?;
    Ok(())
}

/// Writes the deliveries to the endpoint `id`, due at `now`, of the events after `since` that the
/// fan-out has passed by and that it subscribes to; those it has already stay as they are. The
/// fan-out's lock, held to the end of the transaction, keeps a page from being fanned out meanwhile
/// to the endpoint still disabled; the pages after it reach the endpoint enabled.
async fn catch_up<D: Dialect>(
    tx: &mut D::Conn,
    id: Uuid,
    since: FeedPosition,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let fanned = fanout_position::<D>(tx).await?;
    let missed = deliveries(
        "ep.id = $2 AND ep.created_at <= e.at",
        &D::one_of("e.id"),
        "$3",
    ) + "NOTHING";
    let mut after = since;
    loop {
        let page = positions_after::<D>(tx, after, CATCH_UP_PAGE).await?;
        let ids: Vec<i64> = page
            .iter()
            .take_while(|p| **p <= fanned)
            .map(|p| p.id)
            .collect();
        if !ids.is_empty() {
            tx.exec(&missed, args![ids.as_slice(), id, now]).await?;
        }
        let full = i64::try_from(page.len()).unwrap_or(i64::MAX) >= CATCH_UP_PAGE;
        match page.last() {
            Some(last) if full && *last < fanned => after = *last,
            _ => return Ok(()),
        }
    }
}

impl<D: Dialect> SqlStore<D> {
    async fn fan_out_page(&self, now: OffsetDateTime, limit: i64) -> Result<usize, sqlx::Error> {
        let mut tx = self.0.begin().await?;
        let after = fanout_position::<D>(&mut tx).await?;
        let events = positions_after::<D>(&mut tx, after, limit).await?;
        if let Some(last) = events.last() {
            // The page's deliveries in one statement, whatever its size.
            let ids: Vec<i64> = events.iter().map(|p| p.id).collect();
            let sql = deliveries(
                "ep.enabled AND ep.created_at <= e.at",
                &D::one_of("e.id"),
                "$2",
            ) + "NOTHING";
            tx.exec(&sql, args![ids.as_slice(), now]).await?;
            let xid = last.xid.to_string();
            tx.exec(
                "UPDATE webhook_fanout SET xid = $1, event_id = $2 WHERE id = 1",
                args![xid.as_str(), last.id],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(events.len())
    }

    async fn claim_due(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        token: Uuid,
        limit: i64,
        except: &[Uuid],
    ) -> Result<Vec<Claimed>, sqlx::Error> {
        // The endpoints are read in a subquery, not joined, so that SKIP LOCKED locks deliveries only.
        let free = "(lease_until IS NULL OR lease_until <= $2)";
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_until = $3, lease_token = $4, attempts = attempts + 1 \
             WHERE id IN ( \
               SELECT d.id FROM webhook_deliveries d \
               WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt_at <= $2 \
                 AND (d.lease_until IS NULL OR d.lease_until <= $2) \
                 AND d.endpoint_id IN (SELECT id FROM webhook_endpoints WHERE enabled) \
                 AND NOT ({}) \
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries x WHERE x.endpoint_id = d.endpoint_id \
                   AND x.order_id = d.order_id AND x.sequence < d.sequence AND x.delivered_at IS NULL) \
               ORDER BY d.next_attempt_at, d.id LIMIT $5{} \
             ) AND {free} RETURNING id, endpoint_id, event_id, attempts",
            D::one_of("CAST(d.endpoint_id AS TEXT)"),
            D::SKIP_LOCKED
        );
        let except: Vec<String> = except.iter().map(Uuid::to_string).collect();
        let except: Vec<&str> = except.iter().map(String::as_str).collect();
        let mut conn = self.0.writer().await?;
        let rows = conn
            .rows(
                &sql,
                args![except.as_slice(), now, lease_until, token, limit],
            )
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut reader = self.0.reader().await?;
        let endpoints: HashMap<Uuid, Endpoint> = reader
            .rows(
                &format!(
                    "{ENDPOINT_SELECT} WHERE id IN (SELECT endpoint_id FROM webhook_deliveries WHERE lease_token = $1)"
                ),
                args![token],
            )
            .await?
            .iter()
            .map(|row| endpoint(row).map(|e| (e.id, e)))
            .collect::<Result<_, _>>()?;
        let events: HashMap<i64, _> = event_rows::<D>(
            &mut reader,
            "SELECT event_id AS id, CAST('0' AS TEXT) AS position FROM webhook_deliveries WHERE lease_token = $1",
            args![token],
        )
        .await?
        .into_iter()
        .map(|(_, event)| (event.id, event))
        .collect();
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let (Some(endpoint), Some(event)) = (
                endpoints.get(&row.id("endpoint_id")?),
                events.get(&row.int("event_id")?),
            ) else {
                continue;
            };
            claimed.push(Claimed {
                id: row.int("id")?,
                attempts: u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX),
                endpoint: endpoint.clone(),
                event: event.clone(),
            });
        }
        Ok(claimed)
    }

    async fn settle_delivery(
        &self,
        set: &str,
        args: &[crate::sql::Value<'_>],
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE webhook_deliveries SET {set}, lease_until = NULL, lease_token = NULL \
             WHERE id = $1 AND lease_token = $2"
        );
        let mut conn = self.0.writer().await.map_err(store_error)?;
        conn.exec(&sql, args).await.map_err(store_error)?;
        Ok(())
    }
}
