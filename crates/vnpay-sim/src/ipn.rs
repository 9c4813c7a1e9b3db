//! IPN delivery (spec §4.4): the first call right after completion, then retries at a fixed
//! interval up to a total number of calls, stopping on `RspCode` 00 or 02. Non-200, non-JSON,
//! a missing `RspCode`, a connection error or a timeout are all retried. Faults (drop,
//! duplicate, delay, reorder, failed first calls) apply here; every attempt is recorded.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::faults::Faults;

/// One try at calling the merchant's IPN URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AttemptResult {
    /// The merchant answered.
    Answered {
        /// HTTP status.
        status: u16,
        /// The body, as text.
        body: String,
        /// `RspCode` from a JSON body, when there is one.
        rsp_code: Option<String>,
    },
    /// The call failed: connection error or timeout.
    Failed {
        /// What went wrong.
        error: String,
    },
    /// A simulated network failure: no call was made.
    Injected,
}

impl AttemptResult {
    /// 200 with `RspCode` 00 or 02: VNPay stops calling.
    pub fn ends_delivery(&self) -> bool {
        matches!(self, Self::Answered { status: 200, rsp_code: Some(code), .. } if code == "00" || code == "02")
    }
}

/// One delivery of one callback, with all its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpnDelivery {
    /// Sequence number, in submission order.
    pub id: u64,
    /// Terminal.
    pub tmn_code: String,
    /// The payment's TxnRef.
    pub txn_ref: String,
    /// The full URL called (IPN URL plus the signed query).
    pub url: String,
    /// Set on the extra copy made by the duplicate fault.
    pub duplicate_of: Option<u64>,
    /// Dropped by the drop fault: never called.
    pub dropped: bool,
    /// Every attempt so far, in order.
    pub attempts: Vec<AttemptResult>,
    /// No more attempts will be made.
    pub finished: bool,
}

impl IpnDelivery {
    /// Whether the merchant acknowledged it (00 or 02).
    pub fn acknowledged(&self) -> bool {
        self.attempts
            .last()
            .is_some_and(AttemptResult::ends_delivery)
    }
}

/// What the dispatcher needs to deliver one callback.
#[derive(Debug, Clone)]
pub struct IpnJob {
    /// Terminal.
    pub tmn_code: String,
    /// TxnRef.
    pub txn_ref: String,
    /// Full URL to GET.
    pub url: String,
}

/// Retry policy.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Time between calls.
    pub interval: Duration,
    /// Calls in total.
    pub max_calls: u32,
}

/// Gap between the first calls of IPNs released together by the reorder fault.
const REORDER_STAGGER: Duration = Duration::from_millis(15);

#[derive(Debug, Default)]
struct Reorder {
    held: Vec<u64>,
    generation: u64,
}

/// Sends IPNs in the background and records what happened.
#[derive(Debug, Clone)]
pub struct IpnDispatcher(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    http: reqwest::Client,
    policy: RetryPolicy,
    faults: Arc<Mutex<Faults>>,
    rng: Mutex<StdRng>,
    log: Mutex<Vec<IpnDelivery>>,
    reorder: Mutex<Reorder>,
    active: watch::Sender<usize>,
    shutdown: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl IpnDispatcher {
    /// A dispatcher; `faults` is shared with the rest of the simulator.
    pub fn new(
        policy: RetryPolicy,
        timeout: Duration,
        faults: Arc<Mutex<Faults>>,
        seed: u64,
        shutdown: CancellationToken,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Self(Arc::new(Shared {
            http,
            policy,
            faults,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            log: Mutex::new(Vec::new()),
            reorder: Mutex::new(Reorder::default()),
            active: watch::Sender::new(0),
            shutdown,
        })))
    }

    /// Queues one callback for delivery, applying the drop, duplicate and reorder faults.
    pub fn submit(&self, job: IpnJob) {
        let faults = lock(&self.0.faults).clone();
        let (dropped, duplicated) = {
            let mut rng = lock(&self.0.rng);
            let dropped = draw(&mut rng, faults.ipn_drop_rate);
            let duplicated = !dropped && draw(&mut rng, faults.ipn_duplicate_rate);
            (dropped, duplicated)
        };
        let id = self.record(&job, None, dropped);
        if dropped {
            tracing::info!(txn_ref = %job.txn_ref, "IPN dropped by fault injection");
            return;
        }
        self.schedule(id, &faults);
        if duplicated {
            let copy = self.record(&job, Some(id), false);
            self.schedule(copy, &faults);
        }
    }

    fn record(&self, job: &IpnJob, duplicate_of: Option<u64>, dropped: bool) -> u64 {
        let mut log = lock(&self.0.log);
        let id = log.len() as u64 + 1;
        log.push(IpnDelivery {
            id,
            tmn_code: job.tmn_code.clone(),
            txn_ref: job.txn_ref.clone(),
            url: job.url.clone(),
            duplicate_of,
            dropped,
            attempts: Vec::new(),
            finished: dropped,
        });
        id
    }

    fn schedule(&self, id: u64, faults: &Faults) {
        self.0.active.send_modify(|n| *n += 1);
        if faults.ipn_reorder_window <= 1 {
            self.start(id);
            return;
        }
        let mut reorder = lock(&self.0.reorder);
        reorder.held.push(id);
        if reorder.held.len() >= faults.ipn_reorder_window {
            self.release(&mut reorder);
        } else if reorder.held.len() == 1 {
            let generation = reorder.generation;
            let hold = Duration::from_millis(match faults.ipn_reorder_max_hold_ms {
                0 => 1_000,
                ms => ms,
            });
            let this = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(hold).await;
                let mut reorder = lock(&this.0.reorder);
                if reorder.generation == generation {
                    this.release(&mut reorder);
                }
            });
        }
    }

    /// Starts every held delivery, newest first, a few milliseconds apart so the reversed
    /// order survives concurrent sends.
    fn release(&self, reorder: &mut Reorder) {
        reorder.generation += 1;
        for (i, id) in reorder.held.drain(..).rev().enumerate() {
            self.start_after(id, REORDER_STAGGER * i as u32);
        }
    }

    fn start(&self, id: u64) {
        self.start_after(id, Duration::ZERO);
    }

    fn start_after(&self, id: u64, stagger: Duration) {
        let this = self.clone();
        tokio::spawn(async move {
            if stagger.is_zero() || this.sleep(stagger).await {
                this.deliver(id).await;
            } else {
                this.finish(id);
            }
            this.0.active.send_modify(|n| *n = n.saturating_sub(1));
        });
    }

    async fn deliver(&self, id: u64) {
        let Some(url) = lock(&self.0.log)
            .get(id as usize - 1)
            .map(|d| d.url.clone())
        else {
            return;
        };
        let delay = Duration::from_millis(lock(&self.0.faults).ipn_delay_ms);
        if !delay.is_zero() && !self.sleep(delay).await {
            return self.finish(id);
        }
        for call in 1..=self.0.policy.max_calls {
            if call > 1 && !self.sleep(self.0.policy.interval).await {
                break;
            }
            let result = if self.take_injected_failure() {
                AttemptResult::Injected
            } else {
                self.call(&url).await
            };
            let done = result.ends_delivery();
            tracing::debug!(delivery = id, call, ?result, "IPN attempt");
            if let Some(d) = lock(&self.0.log).get_mut(id as usize - 1) {
                d.attempts.push(result);
            }
            if done {
                break;
            }
        }
        self.finish(id);
    }

    fn finish(&self, id: u64) {
        if let Some(d) = lock(&self.0.log).get_mut(id as usize - 1) {
            d.finished = true;
        }
    }

    /// Sleeps unless the simulator shuts down first; `false` on shutdown.
    async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(d) => true,
            () = self.0.shutdown.cancelled() => false,
        }
    }

    fn take_injected_failure(&self) -> bool {
        let mut faults = lock(&self.0.faults);
        if faults.ipn_fail_first > 0 {
            faults.ipn_fail_first -= 1;
            true
        } else {
            false
        }
    }

    async fn call(&self, url: &str) -> AttemptResult {
        let response = match self.0.http.get(url).send().await {
            Ok(r) => r,
            Err(e) => {
                return AttemptResult::Failed {
                    error: e.to_string(),
                };
            }
        };
        let status = response.status().as_u16();
        match response.text().await {
            Ok(body) => {
                let rsp_code = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("RspCode").and_then(|c| c.as_str()).map(str::to_owned));
                AttemptResult::Answered {
                    status,
                    body,
                    rsp_code,
                }
            }
            Err(e) => AttemptResult::Failed {
                error: e.to_string(),
            },
        }
    }

    /// A snapshot of every delivery so far.
    pub fn deliveries(&self) -> Vec<IpnDelivery> {
        lock(&self.0.log).clone()
    }

    /// Waits until no delivery is pending, held back or retrying.
    pub async fn idle(&self) {
        let mut rx = self.0.active.subscribe();
        // The sender lives as long as `self`, so this only ends when the count reaches zero.
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

fn draw(rng: &mut StdRng, rate: f64) -> bool {
    rate > 0.0 && (rate >= 1.0 || rng.random::<f64>() < rate)
}
