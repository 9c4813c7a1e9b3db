//! An endpoint that never answers holds back no other endpoint: while its first request hangs open, a
//! healthy endpoint hears of the next order, and the hanging one is sent nothing more meanwhile.

use super::register;
use flashgate_testkit::Backend;
use flashgate_testkit::receiver::{Mode, Receiver};
use std::future::Future;
use std::time::Duration;

on_each_backend!(a_hanging_endpoint_holds_back_no_other);

async fn a_hanging_endpoint_holds_back_no_other(backend: Backend) {
    // The dispatcher runs on its own; the hanging request stays open for two minutes, far longer
    // than the healthy endpoint should ever wait, under a lease that outlasts it.
    let app = crate::events::spawn(backend)
        .set("webhooks.interval_ms", 20)
        .set("webhooks.timeout_ms", 120_000)
        .set("webhooks.lease_seconds", 180)
        .start()
        .await;
    let api = app.api(0);
    let hanging = Receiver::start().await;
    hanging.set(Mode::Hang);
    let healthy = Receiver::start().await;
    register(api, &hanging.url(), None).await;
    register(api, &healthy.url(), None).await;
    let product = api.product(5, None).await;

    api.win("cus_first", product).await;
    arrives(hanging.wait_for(1), "the hanging endpoint's first request").await;
    arrives(healthy.wait_for(1), "the healthy endpoint's first event").await;
    api.win("cus_second", product).await;
    arrives(healthy.wait_for(2), "the healthy endpoint's second event").await;

    assert_eq!(
        hanging.held_open(),
        1,
        "the second event reached the healthy endpoint while the hanging request was open"
    );
    assert_eq!(hanging.received().len(), 1, "one request at a time there");
    let customers: Vec<_> = healthy
        .received()
        .iter()
        .map(|r| r.json()["data"]["customer"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(customers, ["cus_first", "cus_second"]);
}

/// Awaits an arrival, with a deadline far beyond what it needs (PostgreSQL's feed may hold events
/// back for a while behind other tests' transactions) yet short of the hanging request's timeout.
async fn arrives(arrival: impl Future<Output = ()>, what: &str) {
    tokio::time::timeout(Duration::from_secs(90), arrival)
        .await
        .unwrap_or_else(|_| panic!("{what} did not arrive"));
}
