//! An endpoint disabled by a build that did not record where the fan-out stood (one before migration
//! 0013, still running in a rolling deploy) can be enabled again: it gets what waits for it and the
//! events from then on.

use super::{fan_out, register, send_all, set_enabled};
use flashgate_testkit::Backend;
use flashgate_testkit::receiver::Receiver;
use sqlx::{Connection, PgConnection, SqliteConnection};

on_each_backend!(an_endpoint_an_older_build_disabled_can_be_enabled);

async fn an_endpoint_an_older_build_disabled_can_be_enabled(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let instance = &app.instances[0];
    let api = app.api(0);
    let receiver = Receiver::start().await;
    let id = register(api, &receiver.url(), None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let product = api.product(5, None).await;
    api.win("cus_waiting", product).await;
    fan_out(instance, 1).await;
    // What the older build wrote when it disabled the endpoint.
    let disable = "UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = 'older build'";
    match backend {
        Backend::Postgres => {
            let mut conn = PgConnection::connect(&app.db.url).await.unwrap();
            sqlx::query(disable).execute(&mut conn).await.unwrap();
        }
        Backend::Sqlite => {
            let mut conn = SqliteConnection::connect(&app.db.url).await.unwrap();
            sqlx::query(disable).execute(&mut conn).await.unwrap();
        }
    }
    assert_eq!(send_all(instance).await, 0);

    let enabled = set_enabled(api, &id, true).await;
    assert_eq!(enabled["enabled"], true, "{enabled}");
    api.win("cus_after", product).await;
    fan_out(instance, 1).await;
    assert_eq!(send_all(instance).await, 2);
}
