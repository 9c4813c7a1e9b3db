//! Reservations in both write modes: exactly the stock is sold however many buyers race, a customer's
//! limit holds under their own concurrent requests, one idempotency key makes one order and every
//! retry gets the first answer back, and a refusal writes nothing.

use crate::{Fixture, conformance, count, race, reservation};
use flashgate_core::purchase::{Reservation, ReserveOutcome, StoredAnswer, WriteMode};
use flashgate_core::{IdempotencyKey, ProductId};

/// The store's two ways of taking units: holding the stock row's lock, or one conditional update.
const MODES: [WriteMode; 2] = [WriteMode::Locking, WriteMode::Conditional];

conformance!(
    racing_buyers_get_exactly_the_stock_and_their_limit,
    makes_one_order_per_idempotency_key_and_replays_its_answer,
    a_refusal_writes_nothing,
    customers_answers_are_listed_together_up_to_a_bound,
);

/// Races the reservations, all at once, in one write mode.
async fn race_reservations(
    fx: &Fixture,
    mode: WriteMode,
    attempts: &[Reservation],
) -> Vec<ReserveOutcome> {
    let store = fx.store.clone();
    race(attempts.len(), |i| {
        let (store, r) = (store.clone(), attempts[i].clone());
        async move { store.reservations.reserve(mode, &r).await.unwrap() }
    })
    .await
}

/// Races the reservations and checks how many were written and how many refused, and the stock
/// left `(available, reserved, sold)`.
async fn assert_race(
    fx: &Fixture,
    mode: WriteMode,
    attempts: &[Reservation],
    (created, refusal, refused): (usize, ReserveOutcome, usize),
    stock: (i64, i64, i64),
) {
    let outcomes = race_reservations(fx, mode, attempts).await;
    let counted = (
        count(&outcomes, &ReserveOutcome::Created),
        count(&outcomes, &refusal),
    );
    assert_eq!(counted, (created, refused), "{mode:?}: {outcomes:?}");
    let product = fx.store.products.get(attempts[0].order.product_id).await;
    let product = product.unwrap().unwrap();
    assert_eq!(fx.stock(&product).await, stock, "{mode:?}");
}

/// Many buyers racing for few units get exactly the stock; one buyer racing with many keys gets
/// exactly their limit.
async fn racing_buyers_get_exactly_the_stock_and_their_limit(fx: Fixture) {
    for mode in MODES {
        let scarce = fx.product(10, None).await;
        let crowd: Vec<_> = (0..40)
            .map(|i| reservation(&scarce, &format!("buyer-{i}"), 1, &format!("{mode:?}")))
            .collect();
        let sold_out = (10, ReserveOutcome::SoldOut, 30);
        assert_race(&fx, mode, &crowd, sold_out, (0, 10, 0)).await;

        let limited = fx.product(100, Some(3)).await;
        let eager: Vec<_> = (0..20)
            .map(|i| reservation(&limited, "eager", 1, &format!("{mode:?}-{i}")))
            .collect();
        let over_limit = (3, ReserveOutcome::LimitExceeded, 17);
        assert_race(&fx, mode, &eager, over_limit, (97, 3, 0)).await;
    }
    fx.assert_audit_clean().await;
}

async fn makes_one_order_per_idempotency_key_and_replays_its_answer(fx: Fixture) {
    for mode in MODES {
        let product = fx.product(100, None).await;
        let buyer = format!("retrier-{mode:?}");
        let attempts: Vec<_> = (0..20)
            .map(|_| reservation(&product, &buyer, 2, "same-key"))
            .collect();
        let outcomes = race_reservations(&fx, mode, &attempts).await;
        let winners: Vec<usize> = (0..20)
            .filter(|&i| outcomes[i] == ReserveOutcome::Created)
            .collect();
        assert_eq!(winners.len(), 1, "{mode:?}: {outcomes:?}");
        let winner = &attempts[winners[0]];
        let stored = fx.stored(winner).await.unwrap();
        assert_eq!(stored.body, winner.answer_body);
        assert_eq!(stored.status, 201);
        assert_eq!(stored.request_hash, winner.request_hash);
        let replayed = ReserveOutcome::Duplicate(stored);
        assert_eq!(count(&outcomes, &replayed), 19, "{mode:?}: {outcomes:?}");
        assert_eq!(fx.orders_of(winner).await, vec![winner.order.clone()]);
        assert_eq!(fx.stock(&product).await, (98, 2, 0), "{mode:?}");
    }
    fx.assert_audit_clean().await;
}

async fn a_refusal_writes_nothing(fx: Fixture) {
    for mode in MODES {
        let product = fx.product(2, Some(2)).await;
        let unlimited = fx.product(2, None).await;
        let greedy = reservation(&unlimited, "greedy", 3, &format!("{mode:?}"));
        let mut refusals = vec![(greedy, ReserveOutcome::SoldOut)];
        // Only the locking mode reads the stock row before writing; the conditional mode is used
        // after the product was read, and an unknown product there is a foreign-key error.
        if mode == WriteMode::Locking {
            let mut unknown = reservation(&product, "nobody", 1, "k");
            unknown.order.product_id = ProductId(999_999);
            refusals.push((unknown, ReserveOutcome::UnknownProduct));
        }
        for (r, expected) in refusals {
            assert_eq!(fx.reserve(mode, &r).await, expected, "{mode:?}");
            assert_eq!(fx.stored(&r).await, None, "{mode:?}: the key stays free");
            assert!(fx.orders_of(&r).await.is_empty(), "{mode:?}");
        }
        // Over the limit, but with stock: refused, and the customer's holding is untouched.
        let limited = format!("limited-{mode:?}");
        let first = reservation(&product, &limited, 2, "k3");
        fx.created(mode, &first).await;
        fx.store.catalog.restock(product.id, 5).await.unwrap();
        let over = reservation(&product, &limited, 1, "k4");
        let refused = fx.reserve(mode, &over).await;
        assert_eq!(refused, ReserveOutcome::LimitExceeded, "{mode:?}");
        assert_eq!(fx.stock(&product).await, (5, 2, 0), "{mode:?}");
        assert_eq!(fx.stock(&unlimited).await, (2, 0, 0), "{mode:?}");
        assert_eq!(fx.orders_of(&first).await, vec![first.order.clone()]);
    }
    fx.assert_audit_clean().await;
}

/// Every stored answer of several customers in one read, each their own, in the order asked; more
/// than asked for is `None`, so the caller looks that customer's keys up one by one.
async fn customers_answers_are_listed_together_up_to_a_bound(fx: Fixture) {
    let (first, second) = (fx.product(10, None).await, fx.product(10, None).await);
    let sales = [
        reservation(&first, "listed", 1, "k1"),
        reservation(&second, "listed", 2, "k2"),
        reservation(&first, "other", 1, "k1"),
    ];
    for r in &sales {
        fx.created(WriteMode::Conditional, r).await;
    }
    let listed_customer = sales[0].order.customer.clone();
    let other = sales[2].order.customer.clone();
    let nobody = flashgate_core::CustomerId::parse("nobody").unwrap();
    let asked = [nobody.clone(), listed_customer.clone(), other];
    let all = fx.store.reservations.answers_of(&asked, 2).await.unwrap();
    let bodies = |listed: &Option<Vec<(IdempotencyKey, StoredAnswer)>>| {
        let mut listed = listed.clone().expect("within the bound");
        listed.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        listed
            .into_iter()
            .map(|(k, a)| (k, a.body))
            .collect::<Vec<_>>()
    };
    let of = |r: &[Reservation]| -> Vec<_> {
        r.iter()
            .map(|r| (r.idempotency_key.clone(), r.answer_body.clone()))
            .collect()
    };
    assert_eq!(all.len(), 3);
    assert_eq!(bodies(&all[0]), Vec::new());
    assert_eq!(bodies(&all[1]), of(&sales[..2]));
    assert_eq!(bodies(&all[2]), of(&sales[2..]));
    let bounded = fx.store.reservations.answers_of(&asked, 1).await.unwrap();
    assert_eq!(bounded[1], None, "two answers are beyond a bound of one");
    assert_eq!(bodies(&bounded[2]), of(&sales[2..]));
}
