//! The gated group commit: many admitted reservations written in one transaction, each fenced to the
//! gate epoch it was admitted under. Each dialect has a quick path that writes a whole batch in a
//! fixed number of statements (`batch_pg`, `batch_lite`) and gives up, having written nothing, when
//! any part is refused; the careful path here then decides each reservation alone.

use crate::SqlStore;
use crate::error::{is_unreachable, store_error};
use crate::reservations::{Attempt, conditional};
use crate::sql::{Dialect, Fields, Finish, Sql, args};
use flashgate_core::StoreError;
use flashgate_core::purchase::{GatedOutcome, GatedReservation, ReserveOutcome};
use std::collections::HashMap;

/// Each product's gate epoch; a product without a stock row is unknown.
pub(crate) type Epochs = HashMap<i64, Option<i64>>;

impl<D: Dialect> SqlStore<D> {
    pub(crate) async fn write_batch(
        &self,
        batch: &[GatedReservation],
    ) -> Result<Vec<GatedOutcome>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // Keys and holdings are locked in one order by every batch, so batches cannot deadlock.
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by(|&a, &b| sort_key(&batch[a]).cmp(&sort_key(&batch[b])));
        let mut products: Vec<i64> = batch
            .iter()
            .map(|g| g.reservation.order.product_id.0)
            .collect();
        products.sort_unstable();
        products.dedup();
        let sorted: Vec<&GatedReservation> = order.iter().map(|&i| &batch[i]).collect();
        let attempts = match self.0.write_batch_at_once(&sorted, &products).await {
            // Back from the lock order to the batch's.
            Ok(Some(sorted)) => {
                let mut attempts = vec![Attempt::StaleGate; batch.len()];
                for (&i, attempt) in order.iter().zip(sorted) {
                    attempts[i] = attempt;
                }
                attempts
            }
            // Out of reach: the careful path would wait for a connection again (a second pool
            // timeout) before its callers hear; the gate rebuilds what the batch may have taken.
            Err(error) if is_unreachable(&error) => return Err(store_error(error)),
            // Part of the batch was refused, or a race the quick path does not untangle: one
            // reservation at a time under the stock rows' locks decides each on its own.
            Ok(None) | Err(_) => self
                .one_by_one(batch, &order, &products)
                .await
                .map_err(store_error)?,
        };
        let mut outcomes = Vec::with_capacity(batch.len());
        for (attempt, g) in attempts.into_iter().zip(batch) {
            outcomes.push(self.finish_gated(attempt, &g.reservation).await?);
        }
        Ok(outcomes)
    }

    /// Each reservation in its own savepoint under the stock rows' locks, exactly as the
    /// conditional write mode writes it.
    async fn one_by_one(
        &self,
        batch: &[GatedReservation],
        order: &[usize],
        products: &[i64],
    ) -> Result<Vec<Attempt>, sqlx::Error> {
        let mut tx = self.0.begin().await?;
        // The one lock order (see `reservations`): the holdings the batch will change, in the
        // order every batch takes them, then the stock rows in id order, so that the fence cannot
        // move while the batch is written. A holding not yet there is written empty to be locked:
        // inserting it later, under the stock row's lock, would wait on a batch that inserted it
        // first and waits for that stock row.
        for &i in order {
            let o = &batch[i].reservation.order;
            tx.exec(
                "INSERT INTO customer_holdings AS h (customer_id, product_id, held) \
                 SELECT $1, $2, 0 WHERE EXISTS (SELECT 1 FROM products WHERE id = $2) \
                 ON CONFLICT (customer_id, product_id) DO UPDATE SET held = h.held",
                args![o.customer.as_str(), o.product_id.0],
            )
            .await?;
        }
        let lock = format!(" ORDER BY product_id{}", D::LOCK);
        let epochs = epochs::<D>(&mut tx, products, &lock).await?;
        let mut attempts = vec![Attempt::Rejected(ReserveOutcome::UnknownProduct); batch.len()];
        for &i in order {
            let g = &batch[i];
            attempts[i] = match fenced(&epochs, g) {
                Some(refused) => refused,
                None => {
                    tx.exec("SAVEPOINT reservation", args![]).await?;
                    let attempt =
                        conditional::<D>(&mut tx, &g.reservation, Some(g.gate_epoch)).await?;
                    if attempt != Attempt::Created {
                        tx.exec("ROLLBACK TO SAVEPOINT reservation", args![])
                            .await?;
                    }
                    tx.exec("RELEASE SAVEPOINT reservation", args![]).await?;
                    attempt
                }
            };
        }
        tx.commit().await?;
        Ok(attempts)
    }
}

/// The refusal of a reservation whose product is unknown or whose gate epoch is not the row's.
pub(crate) fn fenced(epochs: &Epochs, g: &GatedReservation) -> Option<Attempt> {
    match epochs.get(&g.reservation.order.product_id.0) {
        None => Some(Attempt::Rejected(ReserveOutcome::UnknownProduct)),
        Some(epoch) if *epoch != Some(g.gate_epoch) => Some(Attempt::StaleGate),
        Some(_) => None,
    }
}

pub(crate) async fn epochs<D: Dialect>(
    conn: &mut D::Conn,
    products: &[i64],
    suffix: &str,
) -> Result<Epochs, sqlx::Error> {
    let sql = format!(
        "SELECT product_id, gate_epoch FROM inventory WHERE {}{suffix}",
        D::one_of("product_id")
    );
    let rows = conn.rows(&sql, args![products]).await?;
    rows.iter()
        .map(|row| Ok((row.int("product_id")?, row.opt_int("gate_epoch")?)))
        .collect()
}

fn sort_key(g: &GatedReservation) -> (&str, i64, &str) {
    let r = &g.reservation;
    (
        r.order.customer.as_str(),
        r.order.product_id.0,
        r.idempotency_key.as_str(),
    )
}
