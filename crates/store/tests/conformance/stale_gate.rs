//! The gated group commit: a batch decides each reservation on its own (one refusal undoes no other),
//! and the gate fence makes a batch admitted under a stale epoch write nothing.

use crate::{Fixture, conformance, count, race, reservation};
use flashgate_core::purchase::{
    GatedOutcome, GatedReservation, Reservation, ReserveOutcome, WriteMode,
};
use flashgate_core::{CustomerId, ProductId};

conformance!(
    a_batch_decides_each_reservation_alone,
    a_batch_of_distinct_buyers_refuses_a_taken_key_and_a_reached_limit_alone,
    a_batch_with_one_key_twice_writes_it_once,
    a_customer_buying_twice_in_one_batch_is_held_to_the_limit_across_both,
    the_fence_reads_many_customers_holdings_at_once,
    the_fence_reads_many_customers_stored_keys_up_to_a_bound,
    a_batch_admitted_across_a_fence_move_writes_only_the_current_epoch,
    a_stale_gate_epoch_writes_nothing,
    racing_batches_sell_exactly_the_stock,
);

fn gated(reservation: Reservation, gate_epoch: i64) -> GatedReservation {
    GatedReservation {
        reservation,
        gate_epoch,
    }
}

async fn a_batch_decides_each_reservation_alone(fx: Fixture) {
    let product = fx.product(3, Some(2)).await;
    let snapshot = fx.fence(product.id, 7).await;
    let snapshot = snapshot.unwrap();
    assert_eq!(
        (snapshot.available, snapshot.per_customer_limit),
        (3, Some(2))
    );
    let mut unknown = reservation(&product, "d", 1, "k1");
    unknown.order.product_id = ProductId(999_999);
    let batch = vec![
        gated(reservation(&product, "a", 2, "k1"), 7),
        gated(reservation(&product, "a", 1, "k2"), 7),
        gated(reservation(&product, "b", 1, "k1"), 7),
        gated(reservation(&product, "c", 1, "k1"), 7),
        gated(unknown, 7),
    ];
    let outcomes = fx.batch(&batch).await;
    use ReserveOutcome::*;
    let expected = [Created, LimitExceeded, Created, SoldOut, UnknownProduct];
    assert_eq!(outcomes, expected.map(GatedOutcome::Decided));
    assert_eq!(fx.stock(&product).await, (0, 3, 0));
    for (g, outcome) in batch.iter().zip(&outcomes) {
        let written = fx.store.orders.get(g.reservation.order.id).await.unwrap();
        assert_eq!(
            written.is_some(),
            *outcome == GatedOutcome::Decided(Created),
            "{outcome:?}"
        );
    }
    // A retry of the batch's first reservation replays its answer.
    let first = &batch[0].reservation;
    let retry = fx.batch(&batch[..1]).await;
    let stored = fx.stored(first).await.unwrap();
    assert_eq!(stored.body, first.answer_body);
    assert_eq!(retry, vec![GatedOutcome::Decided(Duplicate(stored))]);
    fx.assert_audit_clean().await;
}

/// One buyer per reservation: PostgreSQL writes such a batch in one statement, which must still
/// refuse each reservation on its own and give back the key of a refused quota.
async fn a_batch_of_distinct_buyers_refuses_a_taken_key_and_a_reached_limit_alone(fx: Fixture) {
    let product = fx.product(10, Some(2)).await;
    let earlier = [
        reservation(&product, "a", 2, "k0"),
        reservation(&product, "b", 1, "kb"),
    ];
    for r in &earlier {
        fx.created(WriteMode::Conditional, r).await;
    }
    fx.fence(product.id, 3).await.unwrap();
    let batch = vec![
        gated(reservation(&product, "a", 1, "k1"), 3),
        gated(reservation(&product, "b", 1, "kb"), 3),
        gated(reservation(&product, "c", 2, "k1"), 3),
        gated(reservation(&product, "d", 1, "k1"), 3),
    ];
    let outcomes = fx.batch(&batch).await;
    let replayed = fx.stored(&earlier[1]).await.unwrap();
    use ReserveOutcome::*;
    let expected = [LimitExceeded, Duplicate(replayed), Created, Created];
    assert_eq!(outcomes, expected.map(GatedOutcome::Decided));
    assert_eq!(fx.stock(&product).await, (4, 6, 0));
    assert_eq!(
        fx.stored(&batch[0].reservation).await,
        None,
        "a refused quota gives its key back"
    );
    assert!(
        fx.store
            .orders
            .get(batch[1].reservation.order.id)
            .await
            .unwrap()
            .is_none()
    );
    fx.assert_audit_clean().await;
}

/// One buyer and key for two products (so each reservation is of a distinct customer and product,
/// written set-based): the key is the first one's, and the second replays its answer.
async fn a_batch_with_one_key_twice_writes_it_once(fx: Fixture) {
    let first = fx.product(5, None).await;
    let second = fx.product(5, None).await;
    fx.fence(first.id, 2).await.unwrap();
    fx.fence(second.id, 2).await.unwrap();
    let batch = vec![
        gated(reservation(&first, "a", 1, "k"), 2),
        gated(reservation(&second, "a", 1, "k"), 2),
        gated(reservation(&first, "b", 2, "k"), 2),
    ];
    let outcomes = fx.batch(&batch).await;
    let stored = fx.stored(&batch[0].reservation).await.unwrap();
    assert_eq!(stored.body, batch[0].reservation.answer_body);
    use ReserveOutcome::*;
    let expected = [Created, Duplicate(stored), Created];
    assert_eq!(outcomes, expected.map(GatedOutcome::Decided));
    assert_eq!(fx.stock(&first).await, (2, 3, 0));
    assert_eq!(fx.stock(&second).await, (5, 0, 0));
    fx.assert_audit_clean().await;
}

/// A customer buying one product twice in a batch (PostgreSQL takes both quotas in one upsert of
/// their sum): within the limit both are written and counted, past it the later one alone is refused,
/// and with no limit both are written.
async fn a_customer_buying_twice_in_one_batch_is_held_to_the_limit_across_both(fx: Fixture) {
    let limited = fx.product(10, Some(2)).await;
    let unlimited = fx.product(10, None).await;
    fx.fence(limited.id, 4).await.unwrap();
    fx.fence(unlimited.id, 4).await.unwrap();
    let within = vec![
        gated(reservation(&limited, "a", 1, "k1"), 4),
        gated(reservation(&limited, "a", 1, "k2"), 4),
        gated(reservation(&unlimited, "a", 3, "k3"), 4),
        gated(reservation(&unlimited, "a", 4, "k4"), 4),
        gated(reservation(&limited, "b", 2, "k1"), 4),
    ];
    let outcomes = fx.batch(&within).await;
    use ReserveOutcome::*;
    assert_eq!(outcomes, vec![GatedOutcome::Decided(Created); 5]);
    assert_eq!(fx.stock(&limited).await, (6, 4, 0));
    assert_eq!(fx.stock(&unlimited).await, (3, 7, 0));

    // Each alone within the limit, together past it.
    let past = vec![
        gated(reservation(&limited, "c", 1, "k1"), 4),
        gated(reservation(&limited, "c", 2, "k2"), 4),
    ];
    let outcomes = fx.batch(&past).await;
    let expected = [Created, LimitExceeded];
    assert_eq!(outcomes, expected.map(GatedOutcome::Decided));
    assert_eq!(fx.stock(&limited).await, (5, 5, 0));
    assert_eq!(fx.stored(&past[1].reservation).await, None);
    fx.assert_audit_clean().await;
}

/// The holdings the keeper compares with the gate's counts: many customers of one product in one
/// read, in the order asked, nothing for a customer without a holding or of another product.
async fn the_fence_reads_many_customers_holdings_at_once(fx: Fixture) {
    let product = fx.product(10, None).await;
    let other = fx.product(10, None).await;
    for (p, customer, quantity) in [(&product, "a", 2), (&product, "c", 3), (&other, "b", 1)] {
        let r = reservation(p, customer, quantity, "k");
        fx.created(WriteMode::Conditional, &r).await;
    }
    let asked: Vec<CustomerId> = ["c", "b", "nobody", "a"]
        .iter()
        .map(|c| CustomerId::parse(c).unwrap())
        .collect();
    let held = fx.store.gate_fence.held(product.id, &asked).await.unwrap();
    assert_eq!(held, vec![3, 0, 0, 2]);
    let none = fx.store.gate_fence.held(product.id, &[]).await.unwrap();
    assert!(none.is_empty());
}

async fn the_fence_reads_many_customers_stored_keys_up_to_a_bound(fx: Fixture) {
    let product = fx.product(10, None).await;
    let other = fx.product(10, None).await;
    let sales = [
        (&product, "a", "k1"),
        (&other, "a", "k2"),
        (&product, "b", "k1"),
        (&product, "c", "k1"),
        (&product, "c", "k2"),
        (&other, "c", "k3"),
    ];
    for (p, customer, key) in sales {
        fx.created(WriteMode::Conditional, &reservation(p, customer, 1, key))
            .await;
    }
    let asked: Vec<CustomerId> = ["c", "nobody", "a", "b"]
        .iter()
        .map(|c| CustomerId::parse(c).unwrap())
        .collect();
    let keys = fx.store.gate_fence.stored_keys(&asked, 2).await.unwrap();
    let mut keys: Vec<Option<Vec<String>>> = keys
        .into_iter()
        .map(|keys| keys.map(|keys| keys.iter().map(|k| k.as_str().to_owned()).collect()))
        .collect();
    for keys in keys.iter_mut().flatten() {
        keys.sort();
    }
    let some = |keys: &[&str]| Some(keys.iter().map(|k| (*k).to_owned()).collect());
    // Keys of every product; past the bound, none at all.
    assert_eq!(
        keys,
        vec![None, some(&[]), some(&["k1", "k2"]), some(&["k1"])]
    );
    let none = fx.store.gate_fence.stored_keys(&[], 2).await.unwrap();
    assert!(none.is_empty());
}

/// A rebuild between two admissions of one batch: what was admitted under the old epoch is refused
/// as stale, and only that.
async fn a_batch_admitted_across_a_fence_move_writes_only_the_current_epoch(fx: Fixture) {
    let product = fx.product(10, Some(3)).await;
    fx.fence(product.id, 4).await.unwrap();
    let batch = vec![
        gated(reservation(&product, "a", 1, "k"), 4),
        gated(reservation(&product, "b", 2, "k"), 3),
        gated(reservation(&product, "c", 3, "k"), 4),
    ];
    let outcomes = fx.batch(&batch).await;
    let created = GatedOutcome::Decided(ReserveOutcome::Created);
    assert_eq!(
        outcomes,
        vec![created.clone(), GatedOutcome::StaleGate, created]
    );
    assert_eq!(fx.stock(&product).await, (6, 4, 0));
    assert_eq!(fx.stored(&batch[1].reservation).await, None);
    fx.assert_audit_clean().await;
}

async fn a_stale_gate_epoch_writes_nothing(fx: Fixture) {
    let product = fx.product(10, None).await;
    let before = reservation(&product, "early", 2, "k");
    fx.created(WriteMode::Conditional, &before).await;
    let snapshot = fx.fence(product.id, 5).await;
    let snapshot = snapshot.unwrap();
    assert_eq!(snapshot.available, 8);
    assert_eq!(snapshot.holdings, vec![(before.order.customer.clone(), 2)]);

    let stale = gated(reservation(&product, "late", 1, "k"), 4);
    let refused = fx.batch(std::slice::from_ref(&stale)).await;
    assert_eq!(refused, vec![GatedOutcome::StaleGate]);
    assert_eq!(fx.stock(&product).await, (8, 2, 0));
    assert!(fx.orders_of(&stale.reservation).await.is_empty());
    assert_eq!(fx.stored(&stale.reservation).await, None);

    // A write the gate did not see clears the fence: the gate's epoch is stale from then on.
    let bypass = reservation(&product, "direct", 1, "k");
    fx.created(WriteMode::Locking, &bypass).await;
    let fenced = gated(reservation(&product, "late", 1, "k2"), 5);
    assert_eq!(fx.batch(&[fenced]).await, vec![GatedOutcome::StaleGate]);
    assert_eq!(fx.stock(&product).await, (7, 3, 0));

    // A rebuilt gate writes again.
    fx.fence(product.id, 6).await.unwrap();
    let fresh = gated(reservation(&product, "late", 1, "k3"), 6);
    assert_eq!(
        fx.batch(&[fresh]).await,
        vec![GatedOutcome::Decided(ReserveOutcome::Created)]
    );
    assert_eq!(fx.stock(&product).await, (6, 4, 0));
    let unknown = fx.fence(ProductId(999_999), 1).await;
    assert_eq!(unknown, None);
    fx.assert_audit_clean().await;
}

async fn racing_batches_sell_exactly_the_stock(fx: Fixture) {
    let product = fx.product(25, Some(4)).await;
    fx.fence(product.id, 1).await.unwrap();
    let store = fx.store.clone();
    let batches = race(10, |i| {
        let store = store.clone();
        // Ten buyers per batch, two of them also in the next batch, each asking for 2 units.
        let batch: Vec<_> = (0..10)
            .map(|j| {
                let buyer = format!("buyer-{}", i * 8 + j);
                gated(reservation(&product, &buyer, 2, &format!("b{i}")), 1)
            })
            .collect();
        async move { store.reservations.reserve_batch(&batch).await.unwrap() }
    })
    .await;
    let outcomes: Vec<_> = batches.into_iter().flatten().collect();
    let created = count(&outcomes, &GatedOutcome::Decided(ReserveOutcome::Created));
    assert_eq!(created, 12, "25 units in lots of 2: {outcomes:?}");
    let sold_out = count(&outcomes, &GatedOutcome::Decided(ReserveOutcome::SoldOut));
    assert_eq!(created + sold_out, 100, "{outcomes:?}");
    assert_eq!(fx.stock(&product).await, (1, 24, 0));
    fx.assert_audit_clean().await;
}
