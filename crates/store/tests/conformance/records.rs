//! The smaller ports: the payment log keeps every gateway message, sessions slide forward under
//! their cap and go when revoked, the audit finds what is planted behind the ports' back, and health
//! tells an unreachable database apart, keeping the driver's error as the cause.

use crate::{Fixture, conformance, customer, now, reservation};
use flashgate_core::StoreError;
use flashgate_core::payment::PaymentEvent;
use flashgate_core::purchase::WriteMode;
use flashgate_core::session::{SessionId, SessionKey, StoredSession};
use std::error::Error;
use time::Duration;

conformance!(
    the_payment_log_keeps_every_message,
    a_verified_callback_is_kept_once_and_the_detail_shows_the_newest,
    sessions_slide_forward_under_their_cap,
    the_audit_finds_a_planted_violation,
    health_answers,
);

async fn the_payment_log_keeps_every_message(fx: Fixture) {
    let product = fx.product(1, None).await;
    let r = reservation(&product, "payer", 1, "k");
    fx.created(WriteMode::Conditional, &r).await;
    for (source, verified, outcome) in [("return", false, "bad_signature"), ("ipn", true, "paid")] {
        let event = PaymentEvent {
            order_id: Some(r.order.id),
            txn_ref: Some(r.order.id.txn_ref()),
            source,
            verified,
            raw: format!("vnp_TxnRef={}", r.order.id.txn_ref()),
            outcome: outcome.into(),
            at: now(),
        };
        fx.store.payment_log.record(&event).await.unwrap();
    }
    // A message that names no order is kept too.
    let stray = PaymentEvent {
        order_id: None,
        txn_ref: None,
        source: "ipn",
        verified: false,
        raw: "garbage".into(),
        outcome: "unknown_order".into(),
        at: now(),
    };
    fx.store.payment_log.record(&stray).await.unwrap();
    assert_eq!(
        fx.db.payment_events(r.order.id.0).await,
        vec![
            ("return".into(), false, "bad_signature".into()),
            ("ipn".into(), true, "paid".into())
        ]
    );
}

/// A verified callback recorded again word for word (a replay) is kept once per order and source,
/// while unverified ones and the gateway's own answers are each kept; an order's detail shows its
/// newest `PAYMENT_RECORDS_SHOWN` messages, oldest first.
async fn a_verified_callback_is_kept_once_and_the_detail_shows_the_newest(fx: Fixture) {
    use flashgate_core::order_search::PAYMENT_RECORDS_SHOWN;
    let product = fx.product(1, None).await;
    let r = reservation(&product, "replayed", 1, "k");
    fx.created(WriteMode::Conditional, &r).await;
    let event = |source: &'static str, verified: bool, raw: String| PaymentEvent {
        order_id: Some(r.order.id),
        txn_ref: Some(r.order.id.txn_ref()),
        source,
        verified,
        raw,
        outcome: "paid".into(),
        at: now(),
    };
    let genuine = format!("vnp_TxnRef={}&vnp_SecureHash=ab", r.order.id.txn_ref());
    for _ in 0..3 {
        for source in ["ipn", "return"] {
            let replay = event(source, true, genuine.clone());
            fx.store.payment_log.record(&replay).await.unwrap();
        }
        let unverified = event("ipn", false, genuine.clone());
        fx.store.payment_log.record(&unverified).await.unwrap();
        let answer = event("querydr", true, "vnp_ResponseCode=00".into());
        fx.store.payment_log.record(&answer).await.unwrap();
    }
    let other = event("ipn", true, format!("{genuine}&vnp_BankCode=NCB"));
    fx.store.payment_log.record(&other).await.unwrap();
    let kept: Vec<_> = fx
        .db
        .payment_events(r.order.id.0)
        .await
        .into_iter()
        .map(|(source, verified, _)| (source, verified))
        .collect();
    let row = |source: &str, verified| (source.to_owned(), verified);
    assert_eq!(
        kept,
        vec![
            row("ipn", true),
            row("return", true),
            row("ipn", false),
            row("querydr", true),
            row("ipn", false),
            row("querydr", true),
            row("ipn", false),
            row("querydr", true),
            row("ipn", true),
        ]
    );

    // Past the bound, the detail shows the newest, oldest first.
    let shown = usize::try_from(PAYMENT_RECORDS_SHOWN).unwrap();
    for n in 0..shown {
        let forged = event("ipn", false, format!("forged={n}"));
        fx.store.payment_log.record(&forged).await.unwrap();
    }
    let records = fx
        .store
        .order_search
        .payment_records(r.order.id)
        .await
        .unwrap();
    assert_eq!(records.len(), shown);
    assert_eq!(records[0].raw, "forged=0");
    assert_eq!(records[shown - 1].raw, format!("forged={}", shown - 1));
}

fn key(byte: u8) -> SessionKey {
    SessionId::from_random([byte; 32]).key()
}

async fn sessions_slide_forward_under_their_cap(fx: Fixture) {
    let sessions = &fx.store.sessions;
    let at = now();
    let session = StoredSession {
        customer: customer("buyer"),
        idle_expires_at: at + Duration::minutes(30),
        expires_at: at + Duration::hours(2),
    };
    sessions.insert(&key(1), &session, at).await.unwrap();
    assert_eq!(sessions.get(&key(1)).await.unwrap(), Some(session.clone()));
    assert_eq!(sessions.get(&key(2)).await.unwrap(), None);

    // Forward only: an older slide arriving late does not move the expiry back.
    sessions
        .extend(&key(1), at + Duration::minutes(50), at)
        .await
        .unwrap();
    sessions
        .extend(&key(1), at + Duration::minutes(40), at)
        .await
        .unwrap();
    let slid = sessions.get(&key(1)).await.unwrap().unwrap();
    assert_eq!(slid.idle_expires_at, at + Duration::minutes(50));
    // Never past the absolute end.
    sessions
        .extend(&key(1), at + Duration::hours(5), at)
        .await
        .unwrap();
    let capped = sessions.get(&key(1)).await.unwrap().unwrap();
    assert_eq!(capped.idle_expires_at, session.expires_at);

    // A new session clears the ones whose idle expiry has passed.
    let later = at + Duration::hours(3);
    let fresh = StoredSession {
        customer: customer("other"),
        idle_expires_at: later + Duration::minutes(30),
        expires_at: later + Duration::hours(2),
    };
    sessions.insert(&key(2), &fresh, later).await.unwrap();
    assert_eq!(sessions.get(&key(1)).await.unwrap(), None);

    assert!(sessions.revoke(&key(2)).await.unwrap());
    assert!(!sessions.revoke(&key(2)).await.unwrap());
    assert_eq!(sessions.get(&key(2)).await.unwrap(), None);
}

async fn the_audit_finds_a_planted_violation(fx: Fixture) {
    let product = fx.product(3, None).await;
    let r = reservation(&product, "buyer", 1, "k");
    fx.created(WriteMode::Locking, &r).await;
    fx.assert_audit_clean().await;
    let report = fx.store.auditor.audit().await.unwrap();
    assert_eq!((report.products, report.orders), (1, 1));

    // A sale nobody paid for: balanced stock, but no paid order behind it.
    fx.plant(&format!(
        "UPDATE inventory SET total = total + 1, sold = sold + 1 WHERE product_id = {}",
        product.id.0
    ))
    .await;
    let report = fx.store.auditor.audit().await.unwrap();
    let failed: Vec<_> = report
        .checks
        .iter()
        .filter(|c| !c.violations.is_empty())
        .map(|c| c.name)
        .collect();
    assert_eq!(failed, vec!["sold_matches_paid"]);
}

async fn health_answers(fx: Fixture) {
    fx.store.health.ping().await.unwrap();
    // A schema behind this build, then none at all: reachable, but not ready to serve.
    fx.plant(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .await;
    let behind = fx.store.health.ping().await.unwrap_err();
    assert!(behind.to_string().contains("flashgate migrate"), "{behind}");
    fx.plant("DROP TABLE _sqlx_migrations").await;
    let none = fx.store.health.ping().await.unwrap_err();
    assert!(none.to_string().contains("no flashgate schema"), "{none}");
}

/// A database that has gone away is `Unavailable` (a 503 at the edge), with the driver's error as
/// the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_unavailable_with_its_cause() {
    let fx = Fixture::postgres().await;
    fx.store.health.ping().await.unwrap();
    let name = fx.db.url.rsplit('/').next().unwrap().to_owned();
    let admin = flashgate_store::testing::postgres_admin_url();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    let error = fx.store.health.ping().await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
    let cause = error.source().and_then(|s| s.downcast_ref::<sqlx::Error>());
    assert!(
        cause.is_some(),
        "the cause is the driver's error: {error:?}"
    );
}
