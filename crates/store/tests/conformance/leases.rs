//! Leases: concurrent claimers never get the same order, a lease hides an order until it ends or is
//! given back, and a poll waits for its schedule.

use crate::{Fixture, conformance, now, race, reservation_at};
use flashgate_core::OrderId;
use flashgate_core::ports::PollClaim;
use flashgate_core::purchase::WriteMode;
use std::collections::HashSet;
use time::{Duration, OffsetDateTime};

conformance!(
    racing_claimers_never_share_an_order,
    a_lease_hides_an_order_until_it_ends,
    a_poll_waits_for_its_schedule,
    a_pending_order_is_polled_before_a_backlog_of_released_holds,
);

/// `n` orders whose hold ended a minute ago.
async fn expired_orders(fx: &Fixture, n: usize) -> Vec<OrderId> {
    let product = fx.product(n as i64, None).await;
    let mut ids = Vec::new();
    for i in 0..n {
        let r = reservation_at(
            &product,
            &format!("c{i}"),
            1,
            "k",
            now() - Duration::minutes(16),
        );
        fx.created(WriteMode::Conditional, &r).await;
        ids.push(r.order.id);
    }
    ids
}

/// The orders a claim of expired holds at `at` leases until `until`.
async fn claim_expired(
    fx: &Fixture,
    at: OffsetDateTime,
    until: OffsetDateTime,
    limit: i64,
) -> Vec<OrderId> {
    let claimed = fx
        .store
        .leases
        .claim_expired(at, at, until, limit)
        .await
        .unwrap();
    claimed.into_iter().map(|o| o.id).collect()
}

/// The orders a poll claim at `at` of orders created by `created_before` leases for 30 seconds.
async fn claim_for_poll(
    fx: &Fixture,
    at: OffsetDateTime,
    created_before: OffsetDateTime,
) -> Vec<OrderId> {
    let lease_until = at + Duration::seconds(30);
    let claim = PollClaim {
        now: at,
        created_before,
        // Released holds are asked about for an hour after they end.
        late_since: at - Duration::hours(1),
        lease_until,
        limit: 10,
    };
    let claimed = fx.store.leases.claim_for_poll(&claim).await;
    claimed.unwrap().into_iter().map(|o| o.id).collect()
}

async fn racing_claimers_never_share_an_order(fx: Fixture) {
    let ids = expired_orders(&fx, 30).await;
    let at = now();
    let until = at + Duration::seconds(30);
    let store = fx.store.clone();
    let claims = race(8, |_| {
        let store = store.clone();
        async move {
            let claimed = store.leases.claim_expired(at, at, until, 5).await.unwrap();
            claimed.into_iter().map(|o| o.id).collect::<Vec<_>>()
        }
    })
    .await;
    // Whatever the race left is still there for the next claim, and nothing is claimed twice.
    let rest = claim_expired(&fx, at, until, 100).await;
    let mut seen = HashSet::new();
    for id in claims.iter().flatten().chain(&rest) {
        assert!(
            seen.insert(*id),
            "order {id} was claimed twice: {claims:?} {rest:?}"
        );
    }
    assert_eq!(seen, ids.into_iter().collect::<HashSet<_>>());
}

async fn a_lease_hides_an_order_until_it_ends(fx: Fixture) {
    let ids = expired_orders(&fx, 1).await;
    let at = now();
    let lease = Duration::seconds(30);
    assert_eq!(claim_expired(&fx, at, at + lease, 10).await, ids);
    let during = at + Duration::seconds(10);
    assert!(
        claim_expired(&fx, during, during + lease, 10)
            .await
            .is_empty()
    );
    let after = at + lease;
    assert_eq!(claim_expired(&fx, after, after + lease, 10).await, ids);
    // Given back early, the order is claimable at once.
    fx.store.leases.release(ids[0]).await.unwrap();
    assert_eq!(claim_expired(&fx, after, after + lease, 10).await, ids);
    // Held to a nearer end, from then on.
    let sooner = after + Duration::seconds(5);
    fx.store.leases.hold(ids[0], sooner).await.unwrap();
    assert!(
        claim_expired(&fx, after, after + lease, 10)
            .await
            .is_empty()
    );
    assert_eq!(claim_expired(&fx, sooner, sooner + lease, 10).await, ids);
}

async fn a_poll_waits_for_its_schedule(fx: Fixture) {
    let ended = expired_orders(&fx, 1).await;
    // Held for 15 minutes from 5 minutes ago: its hold still runs.
    let product = fx.product(1, None).await;
    let running = reservation_at(&product, "held", 1, "k", now() - Duration::minutes(5));
    fx.created(WriteMode::Conditional, &running).await;
    let ids = vec![running.order.id];
    let at = now();
    // Only orders created before the cut-off are polled.
    assert!(
        claim_for_poll(&fx, at, at - Duration::hours(1))
            .await
            .is_empty()
    );
    // The order whose hold has ended is the expirer's: not polled.
    assert_eq!(claim_for_poll(&fx, at, at).await, ids);
    assert_eq!(claim_expired(&fx, at, at, 10).await, ended);
    // Scheduling gives the lease back and sets when the next poll is due.
    let next = at + Duration::minutes(1);
    fx.store.leases.schedule_poll(ids[0], next).await.unwrap();
    let early = at + Duration::seconds(59);
    assert!(claim_for_poll(&fx, early, at).await.is_empty());
    assert_eq!(claim_for_poll(&fx, next, at).await, ids);
    // Refund claims see only orders waiting for a refund.
    let refunds = fx
        .store
        .leases
        .claim_refunds(next, next + Duration::minutes(1), 10);
    assert!(refunds.await.unwrap().is_empty());
}

async fn a_pending_order_is_polled_before_a_backlog_of_released_holds(fx: Fixture) {
    // Three holds released a minute ago, still in the late-money window, and older than the buyer
    // who is waiting on a payment now.
    expired_orders(&fx, 3).await;
    fx.plant("UPDATE orders SET status = 'expired'").await;
    let product = fx.product(1, None).await;
    let waiting = reservation_at(&product, "waiting", 1, "k", now() - Duration::minutes(5));
    fx.created(WriteMode::Conditional, &waiting).await;
    let at = now();
    let claim = PollClaim {
        now: at,
        created_before: at,
        late_since: at - Duration::hours(1),
        lease_until: at + Duration::seconds(30),
        limit: 1,
    };
    let claimed = fx.store.leases.claim_for_poll(&claim).await.unwrap();
    let ids: Vec<OrderId> = claimed.into_iter().map(|o| o.id).collect();
    assert_eq!(ids, vec![waiting.order.id]);
}
