//! An endpoint that fails every attempt for the whole retry schedule is disabled and shown so, with
//! why (and on the dashboard's snapshot); enabled again, it gets what was given up, then what came meanwhile, in order.

use super::{fan_out, register};
use flashgate_core::ManualClock;
use flashgate_testkit::Backend;
use flashgate_testkit::receiver::{Mode, Receiver};
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

on_each_backend!(an_endpoint_failing_for_the_whole_schedule_is_disabled);

async fn an_endpoint_failing_for_the_whole_schedule_is_disabled(backend: Backend) {
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let app = super::spawn(backend)
        .clock(clock.clone())
        .set("webhooks.retry_schedule_ms", [60_000, 3_600_000])
        .start()
        .await;
    let api = app.api(0);
    let dispatcher = &app.instances[0].dispatcher;
    let receiver = Receiver::start().await;
    receiver.set(Mode::Fail);
    let id = register(api, &receiver.url(), None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let product = api.product(5, None).await;
    api.win("cus_unheard", product).await;
    fan_out(&app.instances[0], 1).await;

    let first = dispatcher.run_once().await.unwrap();
    assert_eq!((first.claimed, first.retried), (1, 1), "{first:?}");
    assert_eq!(
        dispatcher.run_once().await.unwrap().claimed,
        0,
        "not due yet"
    );
    clock.advance(Duration::seconds(66));
    assert_eq!(dispatcher.run_once().await.unwrap().retried, 1);
    clock.advance(Duration::minutes(66));
    let last = dispatcher.run_once().await.unwrap();
    assert_eq!(last.given_up, 1, "{last:?}");
    assert_eq!(
        receiver.received().len(),
        3,
        "the first attempt and two retries"
    );

    let listed = api
        .send(api.admin(Method::GET, "/admin/webhooks"))
        .await
        .assert_status(200);
    let shown = &listed["endpoints"][0];
    assert_eq!(shown["enabled"], false, "{shown}");
    assert!(
        shown["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("answered 500"),
        "{shown}"
    );
    // The dashboard's snapshot shows it.
    let health = app.instances[0].state.monitor.run_once().await.unwrap();
    let w = &health.webhooks;
    assert_eq!(
        (w.endpoints, w.disabled_endpoints, w.failed, w.pending),
        (1, 1, 1, 0),
        "{w:?}"
    );
    // Disabled: new events wait, nothing is sent.
    api.win("cus_meanwhile", product).await;
    fan_out(&app.instances[0], 1).await;
    assert_eq!(dispatcher.run_once().await.unwrap().claimed, 0);

    receiver.set(Mode::Acknowledge);
    api.send(
        api.admin(Method::PATCH, &format!("/admin/webhooks/{id}"))
            .json(&json!({"enabled": true})),
    )
    .await
    .assert_status(200);
    // Events that came while it was disabled are not fanned out to it: a replay would send them.
    let step = dispatcher.run_once().await.unwrap();
    assert_eq!(step.delivered, 1, "{step:?}");
    let acknowledged = receiver.received().pop().unwrap();
    assert_eq!(acknowledged.json()["data"]["customer"], "cus_unheard");
}
