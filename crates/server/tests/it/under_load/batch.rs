//! The group commit's storage side on both databases: one transaction, a savepoint per reservation,
//! and the gate fence on the stock row.

use super::{gated_sale, on};
use flashgate::database::open_store;
use flashgate_core::checkout::{AdmissionGate, GateAnswer, Ticket};
use flashgate_core::purchase::{
    GatedOutcome, GatedReservation, PurchaseRequest, Reservation, ReserveOutcome, WriteMode,
};
use flashgate_core::{
    CustomerId, IdempotencyKey, NewProduct, Order, OrderId, OrderStatus, ProductId, Quantity, Sku,
    Vnd,
};
use flashgate_store::Store;
use flashgate_testkit::{Backend, TestDatabase, TestRedis, assert_audit_clean};
use time::OffsetDateTime;

fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_millisecond(now.millisecond()).unwrap()
}

pub fn reservation(customer: &str, key: &str, product: ProductId, quantity: i64) -> Reservation {
    let quantity = Quantity::parse(quantity).unwrap();
    let at = now();
    Reservation {
        order: Order {
            id: OrderId::new(),
            customer: CustomerId::parse(customer).unwrap(),
            product_id: product,
            quantity,
            amount: Vnd::price(1_000 * quantity.get()).unwrap(),
            status: OrderStatus::PendingPayment,
            created_at: at,
            expires_at: at + time::Duration::minutes(15),
            paid_at: None,
            payment_url: None,
            gateway_transaction_no: None,
        },
        idempotency_key: IdempotencyKey::parse(key).unwrap(),
        request_hash: PurchaseRequest {
            product_id: product,
            quantity,
        }
        .fingerprint(),
        answer_status: 201,
        answer_body: format!("{{\"key\":\"{key}\"}}").into_bytes(),
    }
}

fn gated(r: Reservation, epoch: i64) -> GatedReservation {
    GatedReservation {
        reservation: r,
        gate_epoch: epoch,
    }
}

async fn store_with_product(
    db: &TestDatabase,
    backend: Backend,
    stock: i64,
    limit: Option<i64>,
) -> (Store, ProductId) {
    let store = open_store(&super::spawn(backend).settings(db), true)
        .await
        .unwrap();
    let product = store
        .catalog
        .create(&NewProduct {
            sku: Sku::parse(&format!("B-{}", uuid::Uuid::new_v4().simple())).unwrap(),
            name: "Batch".into(),
            price: Vnd::price(1_000).unwrap(),
            stock,
            per_customer_limit: limit,
            window: Default::default(),
        })
        .await
        .unwrap();
    (store, product.id)
}

async fn one_refusal_does_not_undo_the_others(backend: Backend) {
    let db = backend.database().await;
    let (store, p) = store_with_product(&db, backend, 3, Some(3)).await;
    let snapshot = store.gate_fence.fence(p, 7).await.unwrap().unwrap();
    assert_eq!((snapshot.available, snapshot.holdings.len()), (3, 0));
    let batch = vec![
        gated(reservation("c1", "k1", p, 1), 7),
        gated(reservation("c1", "k2", p, 3), 7),
        gated(reservation("c2", "k3", p, 3), 7),
        gated(reservation("c3", "k4", p, 1), 7),
        gated(reservation("c1", "k1", p, 1), 7),
    ];
    let outcomes = store.reservations.reserve_batch(&batch).await.unwrap();
    assert_eq!(outcomes[0], GatedOutcome::Decided(ReserveOutcome::Created));
    assert_eq!(
        outcomes[1],
        GatedOutcome::Decided(ReserveOutcome::LimitExceeded)
    );
    assert_eq!(outcomes[2], GatedOutcome::Decided(ReserveOutcome::SoldOut));
    assert_eq!(outcomes[3], GatedOutcome::Decided(ReserveOutcome::Created));
    let GatedOutcome::Decided(ReserveOutcome::Duplicate(first)) = &outcomes[4] else {
        panic!(
            "the repeated key replays the first answer: {:?}",
            outcomes[4]
        );
    };
    assert_eq!(first.body, batch[0].reservation.answer_body);
    let stock = store.products.get(p).await.unwrap().unwrap().stock;
    assert_eq!((stock.available, stock.reserved), (1, 2));
    let snapshot = store.gate_fence.fence(p, 8).await.unwrap().unwrap();
    let mut holdings: Vec<(String, i64)> = snapshot
        .holdings
        .iter()
        .map(|(c, h)| (c.as_str().to_owned(), *h))
        .collect();
    holdings.sort();
    assert_eq!(holdings, [("c1".to_owned(), 1), ("c3".to_owned(), 1)]);
    assert_audit_clean(&store).await;
}

async fn only_the_fenced_epoch_is_written(backend: Backend) {
    let db = backend.database().await;
    let (store, p) = store_with_product(&db, backend, 10, None).await;
    // Never fenced: no gate state is trusted yet.
    let stale = store
        .reservations
        .reserve_batch(&[gated(reservation("a", "k0", p, 1), 1)])
        .await
        .unwrap();
    assert_eq!(stale, [GatedOutcome::StaleGate]);
    store.gate_fence.fence(p, 1).await.unwrap().unwrap();
    store.gate_fence.fence(p, 2).await.unwrap().unwrap();
    let batch = [
        gated(reservation("a", "k1", p, 1), 1),
        gated(reservation("b", "k2", p, 1), 2),
        gated(reservation("c", "k3", ProductId(p.0 + 1000), 1), 2),
    ];
    let outcomes = store.reservations.reserve_batch(&batch).await.unwrap();
    assert_eq!(
        outcomes,
        [
            GatedOutcome::StaleGate,
            GatedOutcome::Decided(ReserveOutcome::Created),
            GatedOutcome::Decided(ReserveOutcome::UnknownProduct)
        ]
    );
    // A write the gate did not see clears the fence.
    let ungated = reservation("d", "k4", p, 1);
    let direct = store
        .reservations
        .reserve(WriteMode::Conditional, &ungated)
        .await
        .unwrap();
    assert_eq!(direct, ReserveOutcome::Created);
    let after = store
        .reservations
        .reserve_batch(&[gated(reservation("e", "k5", p, 1), 2)])
        .await
        .unwrap();
    assert_eq!(after, [GatedOutcome::StaleGate]);
    let snapshot = store.gate_fence.fence(p, 3).await.unwrap().unwrap();
    assert_eq!(snapshot.available, 8);
    let stock = store.products.get(p).await.unwrap().unwrap().stock;
    assert_eq!((stock.available, stock.reserved), (8, 2));
    assert!(
        store
            .gate_fence
            .fence(ProductId(p.0 + 1000), 4)
            .await
            .unwrap()
            .is_none()
    );
    assert_audit_clean(&store).await;
}

#[tokio::test]
async fn one_refusal_in_a_batch_does_not_undo_the_others_on_postgres() {
    one_refusal_does_not_undo_the_others(Backend::Postgres).await;
}

#[tokio::test]
async fn one_refusal_in_a_batch_does_not_undo_the_others_on_sqlite() {
    one_refusal_does_not_undo_the_others(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_batch_writes_only_under_the_fenced_epoch_on_postgres() {
    only_the_fenced_epoch_is_written(Backend::Postgres).await;
}

#[tokio::test]
async fn a_batch_writes_only_under_the_fenced_epoch_on_sqlite() {
    only_the_fenced_epoch_is_written(Backend::Sqlite).await;
}

/// The rebuild procedure itself: admissions made before a rebuild (Redis flushed, then rebuilt from
/// the database while they were still unwritten) are refused by the database, so the rebuilt gate,
/// which counted their units as available, never admits more than the database holds.
async fn a_rebuild_fences_out_admissions_made_before_it(redis: Option<&TestRedis>) {
    let spawn = on(redis, gated_sale);
    let db = spawn.backend().database().await;
    let instance = spawn.instance(&db).await;
    let p = ProductId(instance.api.product(50, None).await);
    let gate = instance.state.shared.gate.as_ref().unwrap();
    let store = &instance.state.store;
    let ticket = |i: usize| Ticket {
        product_id: p,
        customer: CustomerId::parse(&format!("c{i}")).unwrap(),
        key: IdempotencyKey::parse(&format!("k{i}")).unwrap(),
        quantity: Quantity::parse(1).unwrap(),
        at: now(),
    };
    let mut early = Vec::new();
    for i in 0..30 {
        let GateAnswer::Admitted { epoch } = gate.admit(&ticket(i)).await.unwrap() else {
            panic!("admitted");
        };
        early.push(gated(
            reservation(&format!("c{i}"), &format!("k{i}"), p, 1),
            epoch,
        ));
    }
    // The gate is rebuilt while those 30 are still unwritten: on Redis after losing its state, in
    // process as after a restock.
    match redis {
        Some(redis) => {
            redis.delete_all_keys();
            assert_eq!(
                gate.admit(&ticket(99)).await.unwrap(),
                GateAnswer::NotLoaded
            );
            gate.rebuild(p, None).await.unwrap();
        }
        None => gate.rebuild_now(p).await.unwrap(),
    }
    assert_eq!(gate.available(p).await, Some(50));
    let outcomes = store.reservations.reserve_batch(&early).await.unwrap();
    assert!(
        outcomes.iter().all(|o| *o == GatedOutcome::StaleGate),
        "{outcomes:?}"
    );
    for (i, r) in early.iter().enumerate() {
        gate.release(&ticket(i), r.gate_epoch, Some(&GatedOutcome::StaleGate))
            .await;
    }
    // Every unit the rebuilt gate admits, the database has.
    let mut late = Vec::new();
    for i in 100..160 {
        if let GateAnswer::Admitted { epoch } = gate.admit(&ticket(i)).await.unwrap() {
            late.push(gated(
                reservation(&format!("c{i}"), &format!("k{i}"), p, 1),
                epoch,
            ));
        }
    }
    assert_eq!(late.len(), 50);
    let outcomes = store.reservations.reserve_batch(&late).await.unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| *o == GatedOutcome::Decided(ReserveOutcome::Created)),
        "{outcomes:?}"
    );
    let stock = store.products.get(p).await.unwrap().unwrap().stock;
    assert_eq!((stock.available, stock.reserved), (0, 50));
    instance.assert_audit_clean().await;
}

#[tokio::test]
async fn a_rebuild_fences_out_admissions_made_before_it_on_redis() {
    let redis = TestRedis::new();
    a_rebuild_fences_out_admissions_made_before_it(Some(&redis)).await;
}

#[tokio::test]
async fn a_rebuild_fences_out_admissions_made_before_it_on_the_embedded_twins() {
    a_rebuild_fences_out_admissions_made_before_it(None).await;
}
