//! Opening a store through a transaction pooler.

use flashgate_store::testing::TestDatabase;
use flashgate_store::{OpenError, PoolSettings, Store};

/// sqlx's migrator holds a session-level advisory lock, which PgBouncer in transaction mode cannot
/// keep: migrating through it without a direct URL is refused before anything runs.
#[tokio::test]
async fn migrations_through_a_transaction_pooler_need_a_direct_url() {
    let db = TestDatabase::postgres().await;
    let pool = PoolSettings {
        transaction_pooling: true,
        ..PoolSettings::default()
    };
    let refused = Store::open(&db.through_pgbouncer(), &pool, true).await;
    assert!(matches!(refused, Err(OpenError::MigrationsThroughPooler)));

    let pool = PoolSettings {
        migrations_url: Some(db.url.clone()),
        ..pool
    };
    let store = Store::open(&db.through_pgbouncer(), &pool, true)
        .await
        .unwrap();
    assert!(
        store
            .auditor
            .audit()
            .await
            .unwrap()
            .checks
            .iter()
            .all(|c| c.violations.is_empty())
    );
}
