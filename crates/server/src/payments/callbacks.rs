//! VNPay's callbacks. The IPN is the authoritative one: verify, record, find the order, check the
//! amount, settle through the shared path, and answer exactly the spec's RspCodes. The Return URL only
//! reads: it shows the buyer the verified result and never changes state. A callback signed for
//! another terminal is not ours: it is stored unverified and answered as an unknown order.

use crate::metrics;
use crate::payments::answer::{self, MoneyAnswer};
use flashgate_core::payment::{GatewayPayment, PaymentEvent};
use flashgate_core::ports::{OrderQueries, PaymentLog, Transitions};
use flashgate_core::settle::{Settle, Settled, Verdict};
use flashgate_core::{Clock, Order, OrderId};
use std::sync::Arc;
use vnpay::{Callback, CallbackError, HashSecret, RspCode, TmnCode, VnpDateTime};

#[derive(Clone)]
pub struct Callbacks {
    /// Our terminal: callbacks for any other are refused.
    pub tmn_code: TmnCode,
    pub secret: HashSecret,
    pub orders: Arc<dyn OrderQueries>,
    pub transitions: Arc<dyn Transitions>,
    pub log: Arc<dyn PaymentLog>,
    pub clock: Arc<dyn Clock>,
}

/// How the IPN was answered, and whether it could be verified as ours (an unverified one counts
/// against its sender in the callback rate limit's penalty box).
pub struct IpnOutcome {
    pub code: RspCode,
    pub verified: bool,
}

/// What the buyer's browser is shown after paying.
pub struct ReturnView {
    pub verified: Option<Callback>,
    pub order: Option<Order>,
}

/// The TxnRef of a query, read without trusting it, so that even a forged callback is filed under the
/// order it names.
fn claimed_txn_ref(raw_query: &str) -> Option<String> {
    // Whatever it claims is kept, for an operator looking for it, but as a line of text: a control
    // character (a NUL cannot even be stored by PostgreSQL) would keep the message off the record.
    let shown = |c: char| {
        if c.is_control() {
            char::REPLACEMENT_CHARACTER
        } else {
            c
        }
    };
    form_urlencoded::parse(raw_query.as_bytes())
        .find(|(key, _)| key == "vnp_TxnRef")
        .map(|(_, value)| value.chars().take(100).map(shown).collect())
}

/// What a verified callback says about the money (read as querydr's answers are, see `answer`):
/// paid on `00`/`00`, failed only on a known refusal with a status saying unpaid, and anything else
/// short of a clear success (ResponseCode 07, 00 with a status other than 00, 99 or an unknown code,
/// TransactionStatus 04/07) may have debited the buyer and is reviewed (spec §4.3).
fn verdict(callback: &Callback, now: time::OffsetDateTime) -> Verdict {
    let payment = GatewayPayment {
        transaction_no: i64::try_from(callback.transaction_no)
            .ok()
            .filter(|n| *n > 0),
        paid_at: callback.pay_date.map_or(now, VnpDateTime::instant),
    };
    match answer::read(Some(&callback.response_code), &callback.transaction_status) {
        MoneyAnswer::Paid => Verdict::Paid(payment),
        MoneyAnswer::Unpaid => Verdict::Failed,
        MoneyAnswer::InDoubt | MoneyAnswer::Pending | MoneyAnswer::Unknown => {
            Verdict::Review(payment)
        }
    }
}

/// Whether a verified callback leaves the money in doubt (the order goes to review).
pub fn in_doubt(callback: &Callback) -> bool {
    matches!(
        verdict(callback, time::OffsetDateTime::UNIX_EPOCH),
        Verdict::Review(_)
    )
}

fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Paid(_) => "paid",
        Verdict::Review(_) => "review",
        Verdict::Failed => "failed",
    }
}

impl Callbacks {
    /// A verified callback signed for a terminal that is not ours (one secret shared by several
    /// terminals, or a copy of another shop's callback): nothing of ours to act on.
    fn foreign(&self, checked: &Result<Callback, CallbackError>) -> bool {
        checked
            .as_ref()
            .is_ok_and(|callback| callback.tmn_code != self.tmn_code)
    }

    pub async fn ipn(&self, raw_query: &str) -> IpnOutcome {
        let checked = Callback::verify(raw_query, &self.secret);
        let foreign = self.foreign(&checked);
        let verified = checked.is_ok() && !foreign;
        let txn_ref = claimed_txn_ref(raw_query);
        let order_id = txn_ref.as_deref().and_then(OrderId::from_txn_ref);
        let outcome = match &checked {
            _ if foreign => "other_terminal",
            Ok(callback) => verdict_name(verdict(callback, self.clock.now())),
            Err(error) if error.is_bad_signature() => "invalid_signature",
            Err(_) => "malformed",
        };
        let event = PaymentEvent {
            order_id,
            txn_ref,
            source: "ipn",
            verified,
            raw: raw_query.chars().take(4096).collect(),
            outcome: outcome.to_owned(),
            at: self.clock.now(),
        };
        let code = match self.log.record(&event).await {
            // The spec's answer for an order we do not have: under that terminal, we have none.
            Ok(()) if foreign => RspCode::OrderNotFound,
            Ok(()) => self.act(checked, order_id).await,
            Err(error) => {
                // Nothing is acted on unless it is on record; VNPay retries a 99.
                tracing::warn!(%error, "cannot record an IPN");
                RspCode::UnknownError
            }
        };
        metrics::callback("ipn", code.as_str());
        tracing::info!(order_id = ?order_id.map(|id| id.to_string()), outcome, rsp_code = code.as_str(), "IPN answered");
        IpnOutcome { code, verified }
    }

    async fn act(
        &self,
        checked: Result<Callback, CallbackError>,
        order_id: Option<OrderId>,
    ) -> RspCode {
        let callback = match checked {
            Ok(callback) => callback,
            Err(error) => return vnpay::IpnReply::from(&error).rsp_code,
        };
        let Some(order_id) = order_id else {
            return RspCode::OrderNotFound;
        };
        let order = match self.orders.get(order_id).await {
            Ok(Some(order)) => order,
            Ok(None) => return RspCode::OrderNotFound,
            Err(error) => {
                tracing::warn!(%error, "IPN: cannot read the order");
                return RspCode::UnknownError;
            }
        };
        if i64::try_from(callback.amount.get()).ok() != Some(order.amount.get()) {
            return RspCode::InvalidAmount;
        }
        let now = self.clock.now();
        let verdict = verdict(&callback, now);
        let settle = Settle {
            transitions: self.transitions.as_ref(),
            clock: self.clock.as_ref(),
        };
        match settle.apply(&order, verdict, "ipn").await {
            Ok(Settled::Moved(status)) => {
                if let Verdict::Paid(payment) = verdict {
                    metrics::settle_lag("ipn", now - payment.paid_at);
                }
                tracing::info!(order_id = %order.id, to = status.as_str(), "settled by IPN");
                RspCode::ConfirmSuccess
            }
            Ok(Settled::AlreadySettled(_)) => RspCode::AlreadyConfirmed,
            Ok(Settled::NotFound) => RspCode::OrderNotFound,
            Err(error) => {
                tracing::warn!(order_id = %order.id, %error, "IPN: cannot settle");
                RspCode::UnknownError
            }
        }
    }

    /// Verifies a Return URL query for display; records it, changes nothing.
    pub async fn return_view(&self, raw_query: &str) -> ReturnView {
        let checked = Callback::verify(raw_query, &self.secret);
        let checked = if self.foreign(&checked) {
            None
        } else {
            checked.ok()
        };
        let txn_ref = claimed_txn_ref(raw_query);
        let order_id = txn_ref.as_deref().and_then(OrderId::from_txn_ref);
        let event = PaymentEvent {
            order_id,
            txn_ref,
            source: "return",
            verified: checked.is_some(),
            raw: raw_query.chars().take(4096).collect(),
            outcome: match &checked {
                Some(callback) => verdict_name(verdict(callback, self.clock.now())),
                None => "unverified",
            }
            .to_owned(),
            at: self.clock.now(),
        };
        if let Err(error) = self.log.record(&event).await {
            tracing::warn!(%error, "cannot record a Return callback");
        }
        metrics::callback(
            "return",
            if checked.is_some() {
                "verified"
            } else {
                "unverified"
            },
        );
        let order = match (&checked, order_id) {
            (Some(_), Some(id)) => self.orders.get(id).await.ok().flatten(),
            _ => None,
        };
        ReturnView {
            verified: checked,
            order,
        }
    }
}
