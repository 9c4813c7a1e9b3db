//! How long the feed has held events back is measured, for an operator to alert on: an event waits for
//! the dispatcher's next fan-out, and on PostgreSQL for every transaction that took a transaction id
//! before it was written to end, in any database of the cluster. Nothing is lost meanwhile: once that
//! transaction ends the event is handed out, and the measure is back to 0.

use super::fan_out;
use flashgate_core::{Clock, ManualClock};
use flashgate_testkit::{Backend, Instance, postgres_admin_url};
use sqlx::{Connection, Executor, PgConnection};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

on_each_backend!(how_long_the_feed_holds_events_back_is_measured);

async fn how_long_the_feed_holds_events_back_is_measured(backend: Backend) {
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let app = super::spawn(backend).clock(clock.clone()).start().await;
    let instance = &app.instances[0];
    let api = app.api(0);
    let product = api.product(5, None).await;
    assert_eq!(held_back(instance).await, 0.0, "nothing written yet");

    // A writing transaction left open in another database than flashgate's.
    let mut elsewhere = match backend {
        Backend::Postgres => {
            let mut conn = PgConnection::connect(&postgres_admin_url()).await.unwrap();
            conn.execute("BEGIN").await.unwrap();
            conn.execute("SELECT pg_current_xact_id()").await.unwrap();
            Some(conn)
        }
        Backend::Sqlite => None,
    };
    api.win("cus_held", product).await;
    clock.advance(Duration::seconds(30));
    if elsewhere.is_some() {
        let read = instance
            .dispatcher
            .deliveries
            .fan_out(clock.now(), 100)
            .await
            .unwrap();
        assert_eq!(read, 0, "the open transaction holds the event back");
    }
    let held = held_back(instance).await;
    assert!((30.0..31.0).contains(&held), "held back {held} s");

    if let Some(conn) = elsewhere.as_mut() {
        conn.execute("COMMIT").await.unwrap();
    }
    fan_out(instance, 1).await;
    assert_eq!(held_back(instance).await, 0.0, "handed out");
}

/// The dashboard's figure behind the `flashgate_events_held_back_seconds` gauge.
async fn held_back(instance: &Instance) -> f64 {
    let snapshot = instance.state.monitor.run_once().await.unwrap();
    let shown = serde_json::to_value(&*snapshot).unwrap();
    shown["webhooks"]["feed_held_back_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("no feed_held_back_seconds in {}", shown["webhooks"]))
}
