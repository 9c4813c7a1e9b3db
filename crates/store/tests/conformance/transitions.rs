//! Transitions: an order moves only from the state the caller saw, the stock moves with it, the
//! ledger row is written in the same transaction, and late money needs units that are still there.

use crate::{Fixture, conformance, now, race, reservation};
use flashgate_core::OrderStatus::{Expired, Paid, PendingPayment};
use flashgate_core::payment::{GatewayPayment, PaymentEvent};
use flashgate_core::ports::{Transition, TransitionOutcome};
use flashgate_core::purchase::{Reservation, WriteMode};
use flashgate_core::{Order, OrderId, OrderStatus};

conformance!(
    pays_an_order_only_from_pending,
    expiry_gives_units_and_quota_back,
    late_money_needs_units_that_are_still_there,
    a_new_purchase_and_the_expiry_of_an_older_order_never_deadlock,
);

fn step(order: &Order, from: OrderStatus, to: OrderStatus, reason: &str) -> Transition {
    Transition {
        order_id: order.id,
        from,
        to,
        reason: reason.into(),
        at: now(),
        payment: (to == OrderStatus::Paid).then(|| GatewayPayment {
            transaction_no: Some(14_000_001),
            paid_at: now(),
        }),
    }
}

async fn reserve(fx: &Fixture, r: &Reservation) {
    fx.created(WriteMode::Conditional, r).await;
}

async fn apply(fx: &Fixture, t: &Transition) -> TransitionOutcome {
    fx.store.transitions.apply(t).await.unwrap()
}

/// The gateway's verified word that the order was paid, which the audit asks of every paid order.
async fn record_payment(fx: &Fixture, order: &Order) {
    let event = PaymentEvent {
        order_id: Some(order.id),
        txn_ref: Some(order.id.txn_ref()),
        source: "ipn",
        verified: true,
        raw: "vnp_ResponseCode=00".into(),
        outcome: "paid".into(),
        at: now(),
    };
    fx.store.payment_log.record(&event).await.unwrap();
}

fn reserved_row() -> (Option<String>, String, String) {
    (None, "pending_payment".into(), "reserved".into())
}

/// The ledger row of a step out of `pending_payment`.
fn ledger_row(to: &str, reason: &str) -> (Option<String>, String, String) {
    (Some("pending_payment".into()), to.into(), reason.into())
}

fn assert_applied(outcome: TransitionOutcome, status: OrderStatus) -> Order {
    match outcome {
        TransitionOutcome::Applied(order) if order.status == status => order,
        other => panic!("expected the order {status:?}, got {other:?}"),
    }
}

async fn pays_an_order_only_from_pending(fx: Fixture) {
    let product = fx.product(5, None).await;
    let r = reservation(&product, "payer", 2, "k");
    reserve(&fx, &r).await;
    record_payment(&fx, &r.order).await;
    let pay = step(&r.order, PendingPayment, Paid, "ipn_paid");
    let paid = assert_applied(apply(&fx, &pay).await, Paid);
    assert_eq!(paid.paid_at, pay.payment.map(|p| p.paid_at));
    assert_eq!(paid.gateway_transaction_no, Some(14_000_001));
    assert_eq!(
        fx.store.orders.get(r.order.id).await.unwrap(),
        Some(paid.clone())
    );
    assert_eq!(fx.stock(&product).await, (3, 0, 2));
    let paid_row = ledger_row("paid", "ipn_paid");
    assert_eq!(
        fx.db.ledger(r.order.id.0).await,
        vec![reserved_row(), paid_row.clone()]
    );

    // The same step again, or one from a state the order is not in, changes nothing.
    let again = apply(&fx, &pay).await;
    assert_eq!(again, TransitionOutcome::NotInState(OrderStatus::Paid));
    let expire = step(&r.order, PendingPayment, Expired, "hold_expired");
    let refused = apply(&fx, &expire).await;
    assert_eq!(refused, TransitionOutcome::NotInState(OrderStatus::Paid));
    assert_eq!(fx.stock(&product).await, (3, 0, 2));
    assert_eq!(
        fx.db.ledger(r.order.id.0).await,
        vec![reserved_row(), paid_row]
    );

    let mut ghost = r.order.clone();
    ghost.id = OrderId::new();
    let missing = step(&ghost, PendingPayment, Paid, "ipn_paid");
    assert_eq!(apply(&fx, &missing).await, TransitionOutcome::NotFound);
    fx.assert_audit_clean().await;
}

async fn expiry_gives_units_and_quota_back(fx: Fixture) {
    let product = fx.product(4, Some(2)).await;
    let r = reservation(&product, "slow", 2, "k1");
    reserve(&fx, &r).await;
    let expire = step(&r.order, PendingPayment, Expired, "hold_expired");
    let outcome = apply(&fx, &expire).await;
    assert_applied(outcome, Expired);
    assert_eq!(fx.stock(&product).await, (4, 0, 0));
    let expired_row = ledger_row("expired", "hold_expired");
    assert_eq!(
        fx.db.ledger(r.order.id.0).await,
        vec![reserved_row(), expired_row]
    );
    // The customer's quota came back with the units.
    reserve(&fx, &reservation(&product, "slow", 2, "k2")).await;
    fx.assert_audit_clean().await;
}

async fn late_money_needs_units_that_are_still_there(fx: Fixture) {
    let product = fx.product(1, None).await;
    let late = reservation(&product, "late", 1, "k");
    reserve(&fx, &late).await;
    let expire = step(&late.order, PendingPayment, Expired, "hold_expired");
    apply(&fx, &expire).await;
    let next = reservation(&product, "next", 1, "k");
    reserve(&fx, &next).await;

    record_payment(&fx, &late.order).await;
    let pay = step(&late.order, Expired, Paid, "late_ipn_paid");
    let outcome = apply(&fx, &pay).await;
    assert_eq!(outcome, TransitionOutcome::InsufficientStock);
    let order = fx.store.orders.get(late.order.id).await.unwrap().unwrap();
    assert_eq!(order.status, OrderStatus::Expired);
    assert_eq!(fx.stock(&product).await, (0, 1, 0));
    assert_eq!(fx.db.ledger(late.order.id.0).await.len(), 2);

    // With a unit back on the shelf the late money takes it.
    fx.store.catalog.restock(product.id, 1).await.unwrap();
    let outcome = apply(&fx, &pay).await;
    assert_applied(outcome, Paid);
    assert_eq!(fx.stock(&product).await, (0, 1, 1));
    assert_eq!(fx.db.ledger(late.order.id.0).await.len(), 3);
    fx.assert_audit_clean().await;
}

/// Every transaction that takes a stock row and a customer's holding takes them in one order, so
/// a buyer's new purchase (in every write mode) and the expiry of their older order, at the same
/// moment on one product, never wait on each other in a cycle.
async fn a_new_purchase_and_the_expiry_of_an_older_order_never_deadlock(fx: Fixture) {
    const BUYERS: usize = 100;
    for mode in [WriteMode::Locking, WriteMode::Conditional] {
        let product = fx.product(1_000, None).await;
        let older: Vec<Reservation> = (0..BUYERS)
            .map(|i| reservation(&product, &format!("buyer-{i}"), 1, &format!("{mode:?}-old")))
            .collect();
        for r in &older {
            reserve(&fx, r).await;
        }
        let store = fx.store.clone();
        let outcomes = race(2 * BUYERS, |i| {
            let store = store.clone();
            let old = older[i / 2].clone();
            let new = reservation(
                &product,
                old.order.customer.as_str(),
                1,
                &format!("{mode:?}-new"),
            );
            async move {
                if i % 2 == 0 {
                    let expire = step(&old.order, PendingPayment, Expired, "hold_expired");
                    store.transitions.apply(&expire).await.map(|_| ())
                } else {
                    store.reservations.reserve(mode, &new).await.map(|_| ())
                }
            }
        })
        .await;
        let failed: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
        assert!(failed.is_empty(), "{mode:?}: {failed:?}");
        assert_eq!(
            fx.stock(&product).await,
            (1_000 - BUYERS as i64, BUYERS as i64, 0)
        );
    }
    fx.assert_audit_clean().await;
}
