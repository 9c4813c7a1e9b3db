//! The simulator's shared state and the operations both the web pages and tests drive.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use vnpay::VnpDateTime;

use crate::complete;
use crate::config::SimConfig;
use crate::faults::{Faults, InvalidFaults};
use crate::ipn::{IpnDelivery, IpnDispatcher, IpnJob, RetryPolicy};
use crate::outcome::Outcome;
use crate::page_error::PageError;
use crate::pay_request;
use crate::store::{Completion, PaymentId, Registered, SimPayment, Store};

/// A payment completed by the buyer (or by a test).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Completed {
    /// Internal id.
    pub payment_id: PaymentId,
    /// The payment's TxnRef.
    pub txn_ref: String,
    /// `vnp_TransactionNo` (0 for cancel or timeout).
    pub transaction_no: u64,
    /// `vnp_ResponseCode`.
    pub response_code: String,
    /// Where the browser is redirected: `vnp_ReturnUrl` plus the signed callback.
    pub return_url: String,
    /// The signed callback query alone (also what the IPN URL receives).
    pub callback_query: String,
}

/// A cheap, cloneable handle on one running simulator.
#[derive(Debug, Clone)]
pub struct SimHandle(pub(crate) Arc<Inner>);

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: SimConfig,
    pub(crate) store: Mutex<Store>,
    pub(crate) faults: Arc<Mutex<Faults>>,
    pub(crate) ipn: IpnDispatcher,
    pub(crate) shutdown: CancellationToken,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The initial faults are out of range.
    #[error(transparent)]
    Faults(#[from] InvalidFaults),
    /// The HTTP client for IPN calls could not be built.
    #[error("cannot build the IPN client: {0}")]
    Http(#[from] reqwest::Error),
}

impl SimHandle {
    /// A simulator with this configuration. IPN deliveries run on the current tokio runtime.
    pub fn new(config: SimConfig) -> Result<Self, StartError> {
        config.faults.validate()?;
        let faults = Arc::new(Mutex::new(config.faults.clone()));
        let shutdown = CancellationToken::new();
        let ipn = IpnDispatcher::new(
            RetryPolicy {
                interval: config.ipn_retry_interval,
                max_calls: config.ipn_max_calls.max(1),
            },
            config.ipn_timeout,
            faults.clone(),
            config.seed,
            shutdown.clone(),
        )?;
        Ok(Self(Arc::new(Inner {
            store: Mutex::new(Store::new(config.first_transaction_no)),
            config,
            faults,
            ipn,
            shutdown,
        })))
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.0.config
    }

    /// The payment page URL (`<base>/paymentv2/vpcpay.html`).
    pub fn pay_page_url(&self) -> String {
        format!("{}/paymentv2/vpcpay.html", self.0.config.base_url)
    }

    /// The querydr/refund URL (`<base>/merchant_webapi/api/transaction`).
    pub fn api_url(&self) -> String {
        format!("{}/merchant_webapi/api/transaction", self.0.config.base_url)
    }

    /// The error page URL for a code.
    pub fn error_page_url(&self, code: &str) -> String {
        format!(
            "{}/paymentv2/Payment/Error.html?code={code}",
            self.0.config.base_url
        )
    }

    /// The gateway's time: the configured clock, moved by the `clock_skew_ms` fault.
    pub fn now(&self) -> OffsetDateTime {
        let skew = lock(&self.0.faults).clock_skew_ms;
        self.0
            .config
            .clock
            .now()
            .saturating_add(time::Duration::milliseconds(skew))
    }

    /// Checks a payment request (a full URL or its query) and records it as pending. A request
    /// opened after its `vnp_ExpireDate` (CreateDate + 15 minutes without one) is the gateway's
    /// timeout page, code 15, and is not recorded: dates made in UTC instead of GMT+7 end there
    /// (spec §2.2).
    pub fn begin_payment(&self, url_or_query: &str) -> Result<PaymentId, PageError> {
        let query = url_or_query
            .split_once('?')
            .map_or(url_or_query, |(_, q)| q);
        let request = pay_request::validate(query, &self.0.config)?;
        let now = VnpDateTime::from_instant(self.now());
        if request.is_expired_at(now) {
            return Err(PageError::SessionTimeout {
                expired_at: request.expires_at().format(),
                now: now.format(),
            });
        }
        match lock(&self.0.store).register(request) {
            Registered::New(id) | Registered::Revisit(id) => Ok(id),
            Registered::Duplicate => Err(PageError::AlreadyExists),
        }
    }

    /// Ends a pending payment with `outcome`: signs the callback, queues the IPN, and returns
    /// where the browser goes. Past the request's `vnp_ExpireDate` the buyer's choice no longer
    /// counts: the payment ends timed out (response 11, TransactionNo 0, status 02; querydr 08).
    pub fn complete(&self, id: PaymentId, outcome: Outcome) -> Result<Completed, PageError> {
        let now = VnpDateTime::from_instant(self.now());
        let (completed, job) = {
            let mut store = lock(&self.0.store);
            let expired = match store.get(id) {
                Some(p) if p.completion.is_none() => p.request.is_expired_at(now),
                _ => return Err(PageError::NotPayable),
            };
            let outcome = match outcome {
                Outcome::Timeout | Outcome::SessionTimeout => outcome,
                _ if expired => {
                    tracing::info!(chosen = ?outcome, "payment completed after its ExpireDate: timed out");
                    Outcome::Timeout
                }
                _ => outcome,
            };
            let transaction_no = if outcome.has_transaction_no() {
                store.next_transaction_no()
            } else {
                0
            };
            let payment = store.get_mut(id).ok_or(PageError::NotPayable)?;
            let terminal = self
                .0
                .config
                .terminals
                .get(&payment.request.tmn_code)
                .ok_or(PageError::InvalidMerchant)?;
            let callback = complete::callback(&payment.request, outcome, transaction_no, now)?;
            let signed = callback.sign(&terminal.secret);
            let completed = Completed {
                payment_id: id,
                txn_ref: payment.request.txn_ref.clone(),
                transaction_no: callback.transaction_no,
                response_code: callback.response_code.as_str().to_owned(),
                return_url: signed.append_to(&payment.request.return_url),
                callback_query: signed.to_query(),
            };
            let job = terminal.ipn_url.as_ref().map(|url| IpnJob {
                tmn_code: payment.request.tmn_code.clone(),
                txn_ref: payment.request.txn_ref.clone(),
                url: signed.append_to(url),
            });
            payment.completion = Some(Completion { outcome, callback });
            (completed, job)
        };
        if let Some(job) = job {
            self.0.ipn.submit(job);
        }
        tracing::info!(txn_ref = %completed.txn_ref, response_code = %completed.response_code, "payment completed");
        Ok(completed)
    }

    /// Checks, records and completes a payment in one step, as a buyer clicking through would.
    pub fn pay(&self, url_or_query: &str, outcome: Outcome) -> Result<Completed, PageError> {
        let id = self.begin_payment(url_or_query)?;
        self.complete(id, outcome)
    }

    /// The gateway's later word on a completed payment (e.g. one it flagged as suspicious turns out
    /// paid, or not): querydr reports `outcome` from now on. No callback is sent, as after a review.
    pub fn decide(&self, txn_ref: &str, outcome: Outcome) -> Result<(), PageError> {
        let mut store = lock(&self.0.store);
        let completion = store
            .payments_mut()
            .find(|p| p.request.txn_ref == txn_ref)
            .and_then(|p| p.completion.as_mut())
            .ok_or(PageError::NotPayable)?;
        completion.outcome = outcome;
        tracing::info!(txn_ref, ?outcome, "payment decided");
        Ok(())
    }

    /// A payment by id.
    pub fn payment(&self, id: PaymentId) -> Option<SimPayment> {
        lock(&self.0.store).get(id).cloned()
    }

    /// Every payment seen.
    pub fn payments(&self) -> Vec<SimPayment> {
        lock(&self.0.store).payments()
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        lock(&self.0.faults).clone()
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: Faults) -> Result<(), InvalidFaults> {
        faults.validate()?;
        *lock(&self.0.faults) = faults;
        Ok(())
    }

    /// Every IPN delivery so far, with its attempts.
    pub fn ipn_deliveries(&self) -> Vec<IpnDelivery> {
        self.0.ipn.deliveries()
    }

    /// Waits until no IPN is pending, held back or being retried.
    pub async fn ipn_idle(&self) {
        self.0.ipn.idle().await;
    }

    /// Stops IPN retries and, when served by [`crate::SimServer`], the server.
    pub fn shutdown(&self) {
        self.0.shutdown.cancel();
    }

    /// Cancelled on [`SimHandle::shutdown`].
    pub fn shutdown_token(&self) -> CancellationToken {
        self.0.shutdown.clone()
    }
}
