//! An endpoint that fails every attempt for the whole retry schedule is disabled and shown so, with
//! why (and on the dashboard's snapshot); enabled again, it gets what was given up and every event that
//! came while it was disabled, each once, each order's in sequence.

use super::{fan_out, register, send_all, set_enabled};
use flashgate_core::ManualClock;
use flashgate_testkit::receiver::{Mode, Receiver};
use flashgate_testkit::{Backend, payment_url};
use reqwest::Method;
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
    let unheard = api.win("cus_unheard", product).await;
    // The buyer pays at once (VNPay takes no payment past the link's ExpireDate), but every IPN is
    // lost: flashgate hears of the payment only when it asks, below, while the endpoint is disabled.
    let sim = app.instances[0].sim();
    sim.set_faults(vnpay_sim::Faults {
        ipn_drop_rate: 1.0,
        ..vnpay_sim::Faults::default()
    })
    .unwrap();
    sim.pay(payment_url(&unheard), vnpay_sim::Outcome::Success)
        .unwrap();
    sim.ipn_idle().await;
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
    // Disabled: new events wait, nothing is sent: another order, and the payment of the first.
    api.win("cus_meanwhile", product).await;
    // The expirer asks about the first order's lapsed hold and hears it was paid.
    let asked = app.instances[0].expirer.run_until_idle().await.unwrap();
    assert_eq!(asked.paid, 1, "{asked:?}");
    fan_out(&app.instances[0], 2).await;
    assert_eq!(dispatcher.run_once().await.unwrap().claimed, 0);

    receiver.set(Mode::Acknowledge);
    let enabled = set_enabled(api, &id, true).await;
    assert_eq!(enabled["enabled"], true, "{enabled}");
    assert!(enabled.get("disabled_reason").is_none(), "{enabled}");
    // What was given up, then what came meanwhile; the payment waits for its order's creation.
    assert_eq!(send_all(&app.instances[0]).await, 3);
    let acknowledged: Vec<(String, String)> = receiver
        .received()
        .iter()
        .filter(|r| r.answered == 204)
        .map(|r| {
            let event = r.json();
            (
                event["data"]["customer"].as_str().unwrap().to_owned(),
                event["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let position = |customer: &str, kind: &str| {
        let all = acknowledged.iter().enumerate();
        let mut at = all.filter(|(_, (c, t))| c == customer && t == kind);
        let (i, _) = at
            .next()
            .unwrap_or_else(|| panic!("{customer} {kind}: {acknowledged:?}"));
        assert!(
            at.next().is_none(),
            "{customer} {kind} twice: {acknowledged:?}"
        );
        i
    };
    assert!(
        position("cus_unheard", "order.created") < position("cus_unheard", "order.paid"),
        "{acknowledged:?}"
    );
    position("cus_meanwhile", "order.created");
    assert_eq!(acknowledged.len(), 3, "{acknowledged:?}");
}
