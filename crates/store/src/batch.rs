//! The gated group commit: many admitted reservations written in one transaction, each fenced to the
//! gate epoch it was admitted under.

use crate::SqlStore;
use crate::error::store_error;
use crate::reservations::{Attempt, conditional, without_stock};
use crate::sql::{Dialect, Fields, Finish, Sql, args};
use flashgate_core::StoreError;
use flashgate_core::purchase::{GatedOutcome, GatedReservation, Reservation, ReserveOutcome};
use std::collections::{BTreeMap, HashMap};

/// Each product's gate epoch; a product without a stock row is unknown.
type Epochs = HashMap<i64, Option<i64>>;

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
        let attempts = match self.taking_stock_last(batch, &order, &products).await {
            Ok(Some(attempts)) => attempts,
            // The fence moved, or a race the quick path does not untangle: one reservation at a
            // time under the stock rows' locks decides each on its own.
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

    /// The group commit proper: every reservation's key, holding, order and ledger row first, then
    /// one conditional update per product for all of its units, fenced to the gate epoch, so the
    /// hot stock row is locked for one statement and the commit. `None` (everything rolled back)
    /// when a product's update is refused: its epoch moved or it lacks the units.
    async fn taking_stock_last(
        &self,
        batch: &[GatedReservation],
        order: &[usize],
        products: &[i64],
    ) -> Result<Option<Vec<Attempt>>, sqlx::Error> {
        let epochs = {
            let mut conn = self.0.reader().await?;
            epochs::<D>(&mut conn, products, "").await?
        };
        let mut tx = self.0.begin().await?;
        let mut attempts: Vec<Option<Attempt>> = vec![None; batch.len()];
        let mut to_write = Vec::with_capacity(batch.len());
        for &i in order {
            match fenced(&epochs, &batch[i]) {
                Some(refused) => attempts[i] = Some(refused),
                None => to_write.push(i),
            }
        }
        let reservations: Vec<&Reservation> =
            to_write.iter().map(|&i| &batch[i].reservation).collect();
        let written = match D::without_stock_all(&mut tx, &reservations).await? {
            Some(written) => written,
            None => {
                let mut written = Vec::with_capacity(reservations.len());
                for r in &reservations {
                    written.push(without_stock::<D>(&mut tx, r).await?);
                }
                written
            }
        };
        // product -> (epoch, units)
        let mut takes: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        for (i, attempt) in to_write.into_iter().zip(written) {
            let g = &batch[i];
            if attempt == Attempt::Created {
                let order = &g.reservation.order;
                let take = takes.entry(order.product_id.0).or_insert((g.gate_epoch, 0));
                take.1 += order.quantity.get();
            }
            attempts[i] = Some(attempt);
        }
        for (product, (epoch, units)) in takes {
            let taken = tx
                .exec(
                    "UPDATE inventory SET available = available - $2, reserved = reserved + $2 \
                     WHERE product_id = $1 AND available >= $2 AND gate_epoch = $3",
                    args![product, units, epoch],
                )
                .await?;
            if taken == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
        }
        tx.commit().await?;
        Ok(attempts.into_iter().collect())
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
        // move while the batch is written.
        let sql = format!(
            "SELECT held FROM customer_holdings WHERE customer_id = $1 AND product_id = $2{}",
            D::LOCK
        );
        for &i in order {
            let o = &batch[i].reservation.order;
            tx.row(&sql, args![o.customer.as_str(), o.product_id.0])
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
fn fenced(epochs: &Epochs, g: &GatedReservation) -> Option<Attempt> {
    match epochs.get(&g.reservation.order.product_id.0) {
        None => Some(Attempt::Rejected(ReserveOutcome::UnknownProduct)),
        Some(epoch) if *epoch != Some(g.gate_epoch) => Some(Attempt::StaleGate),
        Some(_) => None,
    }
}

async fn epochs<D: Dialect>(
    conn: &mut D::Conn,
    products: &[i64],
    suffix: &str,
) -> Result<Epochs, sqlx::Error> {
    let sql = format!(
        "SELECT product_id, gate_epoch FROM inventory WHERE {}{suffix}",
        D::PRODUCTS_IN
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
