//! Telling the shop by webhook: endpoints kept through the admin API, deliveries signed as Standard
//! Webhooks says (checked with its reference implementation), at least once and in sequence per order
//! through failing, absent, slow and hanging receivers and a killed instance, each endpoint on its
//! own, nothing lost while an endpoint is disabled, each event's body the same at every send, and
//! never to internal addresses unless allowed; acknowledged deliveries deleted after their
//! retention; how long the feed holds events back measured. Receivers are real HTTP servers
//! (`flashgate_testkit::receiver`).

use flashgate_testkit::{Api, Backend, Instance, Spawn};
use reqwest::Method;
use serde_json::{Value, json};

mod a_hanging_endpoint_holds_back_no_other;
mod a_killed_instance_leaves_its_deliveries_to_the_others;
mod an_endpoint_an_older_build_disabled_can_be_enabled;
mod an_endpoint_an_operator_disabled_gets_what_it_missed;
mod an_endpoint_failing_for_the_whole_schedule_is_disabled;
mod an_event_shows_the_order_as_it_was_then;
mod delivered_deliveries_are_pruned_after_their_retention;
mod deliveries_are_signed_as_standard_webhooks_say;
mod every_event_arrives_in_order_through_failures;
mod how_long_the_feed_holds_events_back_is_measured;
mod https_endpoints_are_trusted_through_the_configured_root_ca;
mod webhooks_reach_only_public_addresses_unless_allowed;

/// An instance of this suite: its dispatcher and workers run when a test asks.
pub fn spawn(backend: Backend) -> Spawn {
    crate::events::spawn(backend).set("webhooks.interval_ms", 3_600_000)
}

/// Registers an endpoint at `url`; its JSON (with its secret).
pub async fn register(api: &Api, url: &str, events: Option<Vec<&str>>) -> Value {
    let mut body = json!({ "url": url });
    if let Some(events) = events {
        body["events"] = json!(events);
    }
    api.send(api.admin(Method::POST, "/admin/webhooks").json(&body))
        .await
        .assert_status(201)
}

/// Enables or disables the endpoint `id`; its JSON.
pub async fn set_enabled(api: &Api, id: &str, enabled: bool) -> Value {
    api.send(
        api.admin(Method::PATCH, &format!("/admin/webhooks/{id}"))
            .json(&json!({ "enabled": enabled })),
    )
    .await
    .assert_status(200)
}

/// Fans the next `events` ledger rows out to the endpoints, so that the dispatcher's next step finds
/// their deliveries. On PostgreSQL the feed holds rows back while any transaction in the cluster that
/// could precede them runs (another test's too), so this waits for them.
pub async fn fan_out(instance: &Instance, events: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut read = 0;
    while read < events {
        assert!(
            std::time::Instant::now() < deadline,
            "{read} of {events} events fanned out"
        );
        let now = instance.state.clock.now();
        read += instance
            .dispatcher
            .deliveries
            .fan_out(now, 100)
            .await
            .unwrap();
        if read < events {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// Runs the dispatcher until nothing is due; how many deliveries were acknowledged.
pub async fn send_all(instance: &Instance) -> usize {
    let mut delivered = 0;
    loop {
        let step = instance.dispatcher.run_once().await.unwrap();
        if step.claimed == 0 {
            return delivered;
        }
        delivered += step.delivered;
    }
}
