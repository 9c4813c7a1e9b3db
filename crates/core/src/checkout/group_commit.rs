//! Group commit for gated reservations: callers hand in one reservation each and wait on a oneshot;
//! a collector task writes them in batches of up to `max_batch`, each in one transaction, with a
//! bounded number of batches written at once. The batch size follows the queue: as soon as a writer
//! is free, it takes whatever arrived while the others were busy (a lone buyer is written at once,
//! a crowd in large batches), lingering up to `max_wait` for more only if that is set. A reservation
//! whose caller has gone (its request timed out or was dropped) before its batch is written is left
//! out and its admission given back.

use super::gated::{AdmissionGate, GroupCommit, Ticket};
use crate::error::StoreError;
use crate::ids::{CustomerId, IdempotencyKey};
use crate::ports::Reservations;
use crate::purchase::{GatedOutcome, GatedReservation, StoredAnswer};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct CommitSettings {
    pub max_batch: usize,
    pub max_wait: Duration,
    pub concurrent_batches: usize,
    pub duplicate_wait: Duration,
}

struct Job {
    reservation: GatedReservation,
    reply: oneshot::Sender<Result<GatedOutcome, StoreError>>,
}

pub struct GroupCommitter {
    jobs: mpsc::Sender<Job>,
    reservations: Arc<dyn Reservations>,
    duplicate_wait: Duration,
}

impl GroupCommitter {
    /// Starts the collector; it ends when the committer is dropped.
    pub fn spawn(
        reservations: Arc<dyn Reservations>,
        gate: Arc<dyn AdmissionGate>,
        settings: CommitSettings,
    ) -> Self {
        let (jobs, queue) = mpsc::channel(settings.max_batch.saturating_mul(64).max(64));
        tokio::spawn(collect(queue, Arc::clone(&reservations), gate, settings));
        Self {
            jobs,
            reservations,
            duplicate_wait: settings.duplicate_wait,
        }
    }
}

async fn collect(
    mut queue: mpsc::Receiver<Job>,
    reservations: Arc<dyn Reservations>,
    gate: Arc<dyn AdmissionGate>,
    settings: CommitSettings,
) {
    let writers = Arc::new(Semaphore::new(settings.concurrent_batches));
    loop {
        // While every writer is busy, the next batch fills in the queue.
        let Ok(writer) = Arc::clone(&writers).acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < settings.max_batch {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let deadline = Instant::now() + settings.max_wait;
        while batch.len() < settings.max_batch && !settings.max_wait.is_zero() {
            match tokio::time::timeout_at(deadline, queue.recv()).await {
                Ok(Some(job)) => batch.push(job),
                Ok(None) | Err(_) => break,
            }
        }
        let (reservations, gate) = (Arc::clone(&reservations), Arc::clone(&gate));
        tokio::spawn(async move {
            let batch = leave_out_abandoned(gate.as_ref(), batch).await;
            if !batch.is_empty() {
                write(reservations.as_ref(), batch).await;
            }
            drop(writer);
        });
    }
}

/// Nobody waits for these any more: they are not written, and what their admission took goes back.
async fn leave_out_abandoned(gate: &dyn AdmissionGate, batch: Vec<Job>) -> Vec<Job> {
    let (live, gone): (Vec<Job>, Vec<Job>) = batch.into_iter().partition(|j| !j.reply.is_closed());
    for job in gone {
        let g = &job.reservation;
        let r = &g.reservation;
        let ticket = Ticket {
            product_id: r.order.product_id,
            customer: r.order.customer.clone(),
            key: r.idempotency_key.clone(),
            quantity: r.order.quantity,
            at: r.order.created_at,
        };
        metrics::counter!("flashgate_group_commit_abandoned_total").increment(1);
        gate.release(&ticket, g.gate_epoch, None).await;
    }
    live
}

async fn write(reservations: &dyn Reservations, batch: Vec<Job>) {
    metrics::histogram!("flashgate_group_commit_batch_size").record(batch.len() as f64);
    let items: Vec<GatedReservation> = batch.iter().map(|j| j.reservation.clone()).collect();
    match reservations.reserve_batch(&items).await {
        Ok(outcomes) if outcomes.len() == batch.len() => {
            for (job, outcome) in batch.into_iter().zip(outcomes) {
                let _ = job.reply.send(Ok(outcome));
            }
        }
        Ok(outcomes) => {
            let error = format!(
                "a batch of {} answered {} outcomes",
                batch.len(),
                outcomes.len()
            );
            for job in batch {
                let _ = job.reply.send(Err(StoreError::internal(error.clone())));
            }
        }
        Err(error) => {
            tracing::warn!(%error, size = batch.len(), "group commit failed");
            for job in batch {
                let _ = job.reply.send(Err(error.clone()));
            }
        }
    }
}

#[async_trait]
impl GroupCommit for GroupCommitter {
    async fn commit(&self, reservation: GatedReservation) -> Result<GatedOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { reservation, reply })
            .await
            .map_err(|_| StoreError::internal("the group committer has stopped"))?;
        answer
            .await
            .map_err(|_| StoreError::internal("the group committer dropped a reservation"))?
    }

    async fn await_answer(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        let deadline = Instant::now() + self.duplicate_wait;
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(stored) = self.reservations.lookup(customer, key).await? {
                return Ok(Some(stored));
            }
            if Instant::now() + pause > deadline {
                return Ok(None);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}
