//! The simulator's in-memory ledger: payments, their completion, refunds, used request ids and
//! the last query time per TxnRef.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use time::{Date, OffsetDateTime};
use vnpay::{Callback, TransactionStatus, TransactionType, Vnd, VnpDateTime};

use crate::outcome::Outcome;
use crate::pay_request::ValidPay;

/// Simulator-internal id of a payment (the page's form carries it).
pub type PaymentId = u64;

/// A refund registered against a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimRefund {
    /// The refund's own TransactionNo.
    pub transaction_no: u64,
    /// Refunded amount in VND.
    pub amount: u64,
    /// `02` full or `03` partial.
    pub transaction_type: String,
    /// When it was registered (GMT+7 `yyyyMMddHHmmss`).
    pub pay_date: String,
    /// The refund request's OrderInfo.
    pub order_info: String,
    /// Who asked.
    pub create_by: String,
}

impl SimRefund {
    /// Whether VNPay is still processing it (status 05) at `now`, when processing takes
    /// `processing`; after that it has been sent to the bank (status 06).
    pub fn is_processing(&self, now: OffsetDateTime, processing: std::time::Duration) -> bool {
        VnpDateTime::parse(&self.pay_date).is_ok_and(|at| {
            now < at
                .instant()
                .saturating_add(processing.try_into().unwrap_or(time::Duration::MAX))
        })
    }

    /// Its `vnp_TransactionStatus` at `now`: 05 while VNPay processes it, then 06.
    pub fn status(
        &self,
        now: OffsetDateTime,
        processing: std::time::Duration,
    ) -> TransactionStatus {
        if self.is_processing(now, processing) {
            TransactionStatus::RefundProcessing
        } else {
            TransactionStatus::RefundSentToBank
        }
    }
}

/// How a payment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The buyer's choice, or the gateway's later decision on a payment it flagged (what querydr
    /// reports from then on).
    pub outcome: Outcome,
    /// The signed callback that went to the Return URL and the IPN URL.
    pub callback: Callback,
}

/// A payment the gateway has seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPayment {
    /// Internal id.
    pub id: PaymentId,
    /// The validated request.
    pub request: ValidPay,
    /// `None` while the buyer is still on the page (or left without choosing).
    pub completion: Option<Completion>,
    /// Refunds, oldest first.
    pub refunds: Vec<SimRefund>,
}

impl SimPayment {
    /// VND still refundable: the amount of a successful payment minus its refunds.
    pub fn refundable(&self) -> Vnd {
        let refunded: u64 = self.refunds.iter().map(|r| r.amount).sum();
        Vnd::new(self.request.amount.get().saturating_sub(refunded))
    }

    /// Whether the gateway holds the buyer's money for it (so that it can be refunded).
    pub fn is_paid(&self) -> bool {
        self.completion
            .as_ref()
            .is_some_and(|c| c.outcome.holds_money())
    }
}

/// Result of trying to register a new payment request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// A new payment.
    New(PaymentId),
    /// The very same signed URL again while still pending: show the same page.
    Revisit(PaymentId),
    /// The TxnRef is taken for the day.
    Duplicate,
}

/// The ledger.
#[derive(Debug)]
pub struct Store {
    payments: HashMap<PaymentId, SimPayment>,
    by_day_ref: HashMap<(String, Date, String), PaymentId>,
    request_ids: HashSet<(String, Date, String)>,
    last_query: HashMap<(String, String), OffsetDateTime>,
    next_id: PaymentId,
    next_transaction_no: u64,
}

impl Store {
    /// An empty ledger handing out TransactionNos from `first_transaction_no`.
    pub fn new(first_transaction_no: u64) -> Self {
        Self {
            payments: HashMap::new(),
            by_day_ref: HashMap::new(),
            request_ids: HashSet::new(),
            last_query: HashMap::new(),
            next_id: 1,
            next_transaction_no: first_transaction_no,
        }
    }

    /// Registers a request; a TxnRef is unique per terminal and GMT+7 day of its CreateDate.
    pub fn register(&mut self, request: ValidPay) -> Registered {
        let key = (
            request.tmn_code.clone(),
            request.create_date.date(),
            request.txn_ref.clone(),
        );
        if let Some(id) = self.by_day_ref.get(&key) {
            return match self.payments.get(id) {
                Some(p)
                    if p.completion.is_none() && p.request.secure_hash == request.secure_hash =>
                {
                    Registered::Revisit(*id)
                }
                _ => Registered::Duplicate,
            };
        }
        let id = self.next_id;
        self.next_id += 1;
        self.by_day_ref.insert(key, id);
        self.payments.insert(
            id,
            SimPayment {
                id,
                request,
                completion: None,
                refunds: Vec::new(),
            },
        );
        Registered::New(id)
    }

    /// A payment by id.
    pub fn get(&self, id: PaymentId) -> Option<&SimPayment> {
        self.payments.get(&id)
    }

    /// A payment by id, for changes.
    pub fn get_mut(&mut self, id: PaymentId) -> Option<&mut SimPayment> {
        self.payments.get_mut(&id)
    }

    /// The payment querydr/refund address: (TmnCode, TxnRef, TransactionDate = CreateDate).
    pub fn find(
        &mut self,
        tmn_code: &str,
        txn_ref: &str,
        transaction_date: VnpDateTime,
    ) -> Option<&mut SimPayment> {
        let key = (
            tmn_code.to_owned(),
            transaction_date.date(),
            txn_ref.to_owned(),
        );
        let id = self.by_day_ref.get(&key)?;
        self.payments
            .get_mut(id)
            .filter(|p| p.request.create_date == transaction_date)
    }

    /// A fresh 8-digit TransactionNo.
    pub fn next_transaction_no(&mut self) -> u64 {
        let n = self.next_transaction_no;
        self.next_transaction_no += 1;
        n
    }

    /// Records a RequestId for the day; `false` if it was already used.
    pub fn use_request_id(&mut self, tmn_code: &str, day: Date, request_id: &str) -> bool {
        self.request_ids
            .insert((tmn_code.to_owned(), day, request_id.to_owned()))
    }

    /// Whether a query on this TxnRef is allowed now; if so, remembers the time.
    pub fn allow_query(
        &mut self,
        tmn_code: &str,
        txn_ref: &str,
        now: OffsetDateTime,
        min_interval: std::time::Duration,
    ) -> bool {
        let key = (tmn_code.to_owned(), txn_ref.to_owned());
        if self
            .last_query
            .get(&key)
            .is_some_and(|last| now - *last < min_interval)
        {
            return false;
        }
        self.last_query.insert(key, now);
        true
    }

    /// Every payment, for changes.
    pub fn payments_mut(&mut self) -> impl Iterator<Item = &mut SimPayment> {
        self.payments.values_mut()
    }

    /// Every payment, by id.
    pub fn payments(&self) -> Vec<SimPayment> {
        let mut all: Vec<SimPayment> = self.payments.values().cloned().collect();
        all.sort_by_key(|p| p.id);
        all
    }

    /// The transaction type querydr reports: the latest refund's, or payment.
    pub fn latest_type(payment: &SimPayment) -> TransactionType {
        payment
            .refunds
            .last()
            .map_or(TransactionType::Payment, |r| {
                TransactionType::from(r.transaction_type.as_str())
            })
    }
}
