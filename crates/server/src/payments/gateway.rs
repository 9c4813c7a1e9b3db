//! The VNPay side of the payment ports: signed payment links, status by querydr, and refunds. Every
//! answer (or the lack of one) is recorded before the caller acts on it.

use crate::metrics;
use crate::payments::answer::{self, MoneyAnswer};
use async_trait::async_trait;
use flashgate_core::payment::{
    GatewayPayment, PaymentCheck, PaymentEvent, PaymentStatus, RefundAttempt, Refunds,
};
use flashgate_core::ports::PaymentLog;
use flashgate_core::{Clock, Order};
use std::net::IpAddr;
use std::sync::Arc;
use vnpay::{
    ClientError, NoAnswer, OrderInfo, PayAmount, PayRequest, QueryDrRequest, QueryDrResponseCode,
    RefundKind, RefundRequest, ReturnUrl, Terminal, TxnRef, VnpDateTime, VnpayClient,
};

pub struct VnpayGateway {
    pub terminal: Terminal,
    pub client: VnpayClient,
    pub pay_url: String,
    pub return_url: ReturnUrl,
    /// The address flashgate calls the API from (querydr and refund carry it).
    pub server_ip: IpAddr,
    pub log: Arc<dyn PaymentLog>,
    pub clock: Arc<dyn Clock>,
}

/// The gateway reference of an order and the date its payment request was made: querydr and refund
/// find the payment by both.
fn reference(order: &Order) -> Option<(TxnRef, VnpDateTime)> {
    let txn_ref = TxnRef::parse(order.id.txn_ref()).ok()?;
    Some((txn_ref, VnpDateTime::from_instant(order.created_at)))
}

fn description(prefix: &str, order: &Order) -> Option<OrderInfo> {
    OrderInfo::parse(format!("{prefix} {}", order.id.txn_ref())).ok()
}

impl VnpayGateway {
    /// A signed link to pay for `order`, or `None` when the order cannot be paid through VNPay (an
    /// amount outside its limits).
    pub fn payment_url(&self, order: &Order, client_ip: IpAddr) -> Option<String> {
        let (txn_ref, _) = reference(order)?;
        let amount = u64::try_from(order.amount.get()).ok()?;
        let amount = PayAmount::parse(vnpay::Vnd::new(amount)).ok()?;
        let request = PayRequest::new(
            txn_ref,
            amount,
            description("Thanh toan don hang", order)?,
            self.return_url.clone(),
            client_ip,
            order.created_at,
        )
        .expire_at(order.expires_at)
        .ok()?;
        Some(request.to_url(&self.pay_url, &self.terminal))
    }

    /// The querydr request about `order`'s payment; `None` when it has no valid gateway reference.
    fn querydr_request(&self, order: &Order) -> Option<QueryDrRequest> {
        let (txn_ref, created) = reference(order)?;
        let info = description("Kiem tra don hang", order)?;
        Some(QueryDrRequest::new(
            txn_ref,
            created,
            info,
            self.server_ip,
            self.clock.now(),
        ))
    }

    async fn record(
        &self,
        order: &Order,
        source: &'static str,
        verified: bool,
        raw: String,
        outcome: &str,
    ) -> bool {
        let event = PaymentEvent {
            order_id: Some(order.id),
            txn_ref: Some(order.id.txn_ref()),
            source,
            verified,
            raw,
            outcome: outcome.to_owned(),
            at: self.clock.now(),
        };
        match self.log.record(&event).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(order_id = %order.id, %error, "cannot record a gateway answer; not acting on it");
                false
            }
        }
    }
}

#[async_trait]
impl PaymentStatus for VnpayGateway {
    async fn check(&self, order: &Order) -> PaymentCheck {
        let Some(request) = self.querydr_request(order) else {
            return PaymentCheck::Undecided;
        };
        let (check, verified, raw, outcome) = match self.client.query_dr(&request).await {
            Ok(result) => {
                let check = if i64::try_from(result.amount.get()).ok() != Some(order.amount.get()) {
                    tracing::error!(order_id = %order.id, "querydr reports another amount; leaving the order alone");
                    PaymentCheck::Undecided
                } else {
                    let payment = GatewayPayment {
                        transaction_no: result.transaction_no.and_then(|n| i64::try_from(n).ok()),
                        paid_at: result
                            .pay_date
                            .map_or_else(|| self.clock.now(), VnpDateTime::instant),
                    };
                    // The ResponseCode here is the query's (it worked): the status speaks for
                    // the payment, read as a callback's is.
                    match answer::read(None, &result.transaction_status) {
                        MoneyAnswer::Paid => PaymentCheck::Paid(payment),
                        MoneyAnswer::Pending => PaymentCheck::Pending,
                        MoneyAnswer::Unpaid => PaymentCheck::Failed,
                        MoneyAnswer::InDoubt => PaymentCheck::Review(payment),
                        MoneyAnswer::Unknown => PaymentCheck::Undecided,
                    }
                };
                (check, true, format!("{result:?}"), outcome_name(&check))
            }
            Err(ClientError::Rejected(rejection)) => {
                let check = match rejection.code {
                    // The gateway has never seen the payment: the buyer did not reach it.
                    QueryDrResponseCode::NotFound => PaymentCheck::Pending,
                    // Rate limited: a signal about the gateway, not about this order.
                    QueryDrResponseCode::DuplicateRequest => PaymentCheck::GatewayBusy,
                    _ => PaymentCheck::Undecided,
                };
                (
                    check,
                    rejection.authenticated,
                    format!("{rejection}"),
                    outcome_name(&check),
                )
            }
            Err(ClientError::NoAnswer(no_answer)) => {
                let check = match no_answer {
                    // A reply came, but not one that can be trusted about this order.
                    NoAnswer::NotJson(_) | NoAnswer::Untrusted(_) => PaymentCheck::Undecided,
                    // Unreachable, too slow or failing (5xx): the gateway as a whole.
                    NoAnswer::Connect(_)
                    | NoAnswer::Timeout
                    | NoAnswer::HttpStatus(_)
                    | NoAnswer::Transport(_) => PaymentCheck::GatewayBusy,
                };
                let outcome = match check {
                    PaymentCheck::GatewayBusy => "unreachable",
                    _ => "untrusted",
                };
                (check, false, no_answer.to_string(), outcome)
            }
        };
        metrics::gateway_query(outcome);
        if !self.record(order, "querydr", verified, raw, outcome).await {
            return PaymentCheck::Undecided;
        }
        check
    }
}

fn outcome_name(check: &PaymentCheck) -> &'static str {
    match check {
        PaymentCheck::Paid(_) => "paid",
        PaymentCheck::Review(_) => "review",
        PaymentCheck::Failed => "failed",
        PaymentCheck::Pending => "pending",
        PaymentCheck::GatewayBusy => "rate_limited",
        PaymentCheck::Undecided => "unknown",
    }
}

#[async_trait]
impl Refunds for VnpayGateway {
    async fn refund(&self, order: &Order) -> RefundAttempt {
        let (Some((txn_ref, created)), Some(info), Ok(amount)) = (
            reference(order),
            description("Hoan tien don hang", order),
            u64::try_from(order.amount.get()),
        ) else {
            return RefundAttempt::Refused("the order has no valid gateway reference".into());
        };
        let request = match RefundRequest::new(
            RefundKind::Full,
            txn_ref,
            vnpay::Vnd::new(amount),
            created,
            "flashgate",
            info,
            self.server_ip,
            self.clock.now(),
        ) {
            Ok(request) => request,
            Err(error) => return RefundAttempt::Refused(error.to_string()),
        };
        let request = match order
            .gateway_transaction_no
            .and_then(|n| u64::try_from(n).ok())
        {
            Some(n) => request.transaction_no(n),
            None => request,
        };
        let mut in_progress = false;
        let (attempt, verified, raw) = match self.client.refund(&request).await {
            Ok(result) => (RefundAttempt::Accepted, true, format!("{result:?}")),
            Err(ClientError::Rejected(rejection)) => {
                let raw = rejection.to_string();
                in_progress = rejection.code == vnpay::RefundResponseCode::AlreadyInProgress;
                let attempt = match rejection.code {
                    vnpay::RefundResponseCode::AlreadyInProgress
                    | vnpay::RefundResponseCode::OtherError => RefundAttempt::Retry(raw.clone()),
                    _ => RefundAttempt::Refused(raw.clone()),
                };
                (attempt, rejection.authenticated, raw)
            }
            Err(ClientError::NoAnswer(no_answer)) => (
                RefundAttempt::Retry(no_answer.to_string()),
                false,
                no_answer.to_string(),
            ),
        };
        let outcome = match &attempt {
            RefundAttempt::Accepted => "accepted",
            RefundAttempt::Refused(_) => "refused",
            RefundAttempt::Retry(_) => "retry",
        };
        if !self.record(order, "refund", verified, raw, outcome).await
            && attempt == RefundAttempt::Accepted
        {
            // The refund happened but is not on record; asking again is answered 94, which the
            // next attempt looks into and records.
            return RefundAttempt::Retry("the accepted refund could not be recorded".into());
        }
        if in_progress {
            return self.refund_under_way(order).await;
        }
        attempt
    }
}

impl VnpayGateway {
    /// After a refund answered 94, "a refund request for this transaction is already being
    /// processed" (§7.4; unsigned, as every refusal is): the gateway's signed status of the payment
    /// says whether a full refund of it is under way, as it is when an earlier attempt for this
    /// order went through and its answer was lost. Asking for a refund again would only be answered
    /// 94 until the gateway is done, then refused as more than the payment.
    async fn refund_under_way(&self, order: &Order) -> RefundAttempt {
        let Some(request) = self.querydr_request(order) else {
            return RefundAttempt::Retry("the order has no valid gateway reference".into());
        };
        let (attempt, verified, raw) = match self.client.query_dr(&request).await {
            Ok(result) => {
                let status = &result.transaction_status;
                let under_way = result.transaction_type.is_refund()
                    && (status.is_refund_in_progress() || status.is_success())
                    && i64::try_from(result.amount.get()).ok() == Some(order.amount.get());
                let attempt = if under_way {
                    RefundAttempt::Accepted
                } else {
                    RefundAttempt::Retry(format!(
                        "a refund is in progress, not this one: {result:?}"
                    ))
                };
                (attempt, true, format!("{result:?}"))
            }
            Err(error) => (
                RefundAttempt::Retry(error.to_string()),
                false,
                error.to_string(),
            ),
        };
        let outcome = match attempt {
            RefundAttempt::Accepted => "refund_under_way",
            _ => "unknown",
        };
        if !self.record(order, "querydr", verified, raw, outcome).await {
            return RefundAttempt::Retry("the gateway's answer could not be recorded".into());
        }
        attempt
    }
}
