//! What lets the service work through an outage and a gateway that says no: a session's revocation
//! recorded with it until the cached copy is dropped; a refused refund paused on its own and its
//! refusals counted afresh each time it is asked for again.

use crate::{Fixture, conformance, now, reservation};
use flashgate_core::OrderStatus::{Expired, Paid, PendingPayment, RefundFailed, RefundPending};
use flashgate_core::payment::GatewayPayment;
use flashgate_core::ports::{Transition, TransitionOutcome};
use flashgate_core::purchase::WriteMode;
use flashgate_core::session::{SESSION_ID_BYTES, SessionId, StoredSession};
use flashgate_core::{Order, OrderStatus};
use time::Duration;

conformance!(
    a_revocation_is_recorded_until_its_cached_copy_is_dropped,
    a_refused_refund_waits_its_pause_and_counts_afresh_when_asked_again,
);

async fn move_order(fx: &Fixture, order: &Order, from: OrderStatus, to: OrderStatus) {
    let transition = Transition {
        order_id: order.id,
        from,
        to,
        reason: format!("to_{}", to.as_str()),
        at: now(),
        payment: (to == Paid).then(|| GatewayPayment {
            transaction_no: Some(14_000_001),
            paid_at: now(),
        }),
    };
    let outcome = fx.store.transitions.apply(&transition).await.unwrap();
    assert!(
        matches!(outcome, TransitionOutcome::Applied(_)),
        "{outcome:?}"
    );
}

async fn a_revocation_is_recorded_until_its_cached_copy_is_dropped(fx: Fixture) {
    let (id, other) = (
        SessionId::from_random([5; SESSION_ID_BYTES]),
        SessionId::from_random([6; SESSION_ID_BYTES]),
    );
    let at = now();
    let session = StoredSession {
        customer: crate::customer("stale-buyer"),
        idle_expires_at: at + Duration::minutes(30),
        expires_at: at + Duration::hours(1),
    };
    fx.store
        .sessions
        .insert(&id.key(), &session, at)
        .await
        .unwrap();
    let copies = &fx.store.stale_sessions;
    assert!(copies.revoke_recorded(&id.key()).await.unwrap());
    assert_eq!(fx.store.sessions.get(&id.key()).await.unwrap(), None);
    assert!(!copies.revoke_recorded(&id.key()).await.unwrap(), "gone");
    copies.record_stale(&other.key()).await.unwrap();
    copies.record_stale(&other.key()).await.unwrap();
    let mut expected = vec![id.key(), other.key()];
    expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(copies.stale(10).await.unwrap(), expected, "each key once");
    assert_eq!(copies.stale(1).await.unwrap().len(), 1);
    copies.forget_stale(&[id.key()]).await.unwrap();
    copies.forget_stale(&[]).await.unwrap();
    assert_eq!(copies.stale(10).await.unwrap(), vec![other.key()]);
}

async fn a_refused_refund_waits_its_pause_and_counts_afresh_when_asked_again(fx: Fixture) {
    let product = fx.product(1, None).await;
    let r = reservation(&product, "refused", 1, "k");
    fx.created(WriteMode::Conditional, &r).await;
    move_order(&fx, &r.order, PendingPayment, Expired).await;
    move_order(&fx, &r.order, Expired, RefundPending).await;
    let leases = &fx.store.leases;
    let claim = |at| async move {
        let claimed = leases.claim_refunds(at, at, 10).await.unwrap();
        claimed.len()
    };
    let at = now();
    // A poll scheduled before the first refusal does not hold the refund back.
    leases
        .schedule_poll(r.order.id, at + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(claim(at).await, 1);
    assert_eq!(leases.count_refund_refusal(r.order.id).await.unwrap(), 1);
    leases
        .schedule_poll(r.order.id, at + Duration::seconds(10))
        .await
        .unwrap();
    assert_eq!(claim(at + Duration::seconds(9)).await, 0, "paused");
    assert_eq!(claim(at + Duration::seconds(10)).await, 1);
    assert_eq!(leases.count_refund_refusal(r.order.id).await.unwrap(), 2);
    leases
        .schedule_poll(r.order.id, at + Duration::hours(1))
        .await
        .unwrap();
    move_order(&fx, &r.order, RefundPending, RefundFailed).await;
    assert_eq!(
        claim(at + Duration::days(1)).await,
        0,
        "waits for an operator"
    );
    move_order(&fx, &r.order, RefundFailed, RefundPending).await;
    assert_eq!(claim(at).await, 1, "asked again at once");
    assert_eq!(leases.count_refund_refusal(r.order.id).await.unwrap(), 1);
}
