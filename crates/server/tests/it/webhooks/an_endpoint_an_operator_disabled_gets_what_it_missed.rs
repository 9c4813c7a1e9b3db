//! An endpoint an operator disabled is paused, not muted: enabled again, it gets every event it
//! subscribes to that came while it was disabled, each once and each order's in sequence, and then
//! the new ones; disabling it twice does not lose what came between.

use super::{fan_out, register, send_all, set_enabled};
use flashgate_testkit::receiver::Receiver;
use flashgate_testkit::{Backend, Instance, payment_url};
use vnpay_sim::Outcome;

on_each_backend!(an_endpoint_an_operator_disabled_gets_what_it_missed);

async fn an_endpoint_an_operator_disabled_gets_what_it_missed(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let instance = &app.instances[0];
    let api = app.api(0);
    let every = Receiver::start().await;
    let only_paid = Receiver::start().await;
    let every_id = id(&register(api, &every.url(), None).await);
    let paid_id = id(&register(api, &only_paid.url(), Some(vec!["order.paid"])).await);
    let product = api.product(10, None).await;
    let before = api.win("cus_before", product).await;
    fan_out(instance, 1).await;
    assert_eq!(send_all(instance).await, 1);

    for endpoint in [&every_id, &paid_id] {
        let disabled = set_enabled(api, endpoint, false).await;
        assert_eq!(disabled["enabled"], false, "{disabled}");
        assert!(disabled.get("disabled_reason").is_none(), "{disabled}");
    }
    api.win("cus_during", product).await;
    pay(instance, &before).await;
    fan_out(instance, 2).await;
    // Disabled again while disabled: still from where it was first disabled.
    set_enabled(api, &every_id, false).await;
    api.win("cus_during_too", product).await;
    fan_out(instance, 1).await;
    assert_eq!(
        send_all(instance).await,
        0,
        "nothing goes to a disabled endpoint"
    );

    for endpoint in [&every_id, &paid_id] {
        let enabled = set_enabled(api, endpoint, true).await;
        assert_eq!(enabled["enabled"], true, "{enabled}");
    }
    assert_eq!(send_all(instance).await, 3 + 1);
    api.win("cus_after", product).await;
    fan_out(instance, 1).await;
    assert_eq!(send_all(instance).await, 1);
    assert_eq!(send_all(instance).await, 0, "each once");

    let all = heard(&every);
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(all[0], ("cus_before".to_owned(), 1));
    assert_eq!(all[4], ("cus_after".to_owned(), 1));
    let mut missed = all[1..4].to_vec();
    missed.sort();
    assert_eq!(
        missed,
        [("cus_before", 2), ("cus_during", 1), ("cus_during_too", 1)]
            .map(|(c, s)| (c.to_owned(), s)),
        "each event missed, once: {all:?}"
    );
    assert_eq!(
        heard(&only_paid),
        [("cus_before".to_owned(), 2)],
        "only what it subscribes to"
    );
}

fn id(endpoint: &serde_json::Value) -> String {
    endpoint["id"].as_str().unwrap().to_owned()
}

async fn pay(instance: &Instance, order: &serde_json::Value) {
    instance
        .sim()
        .pay(payment_url(order), Outcome::Success)
        .unwrap();
    instance.sim().ipn_idle().await;
}

/// The customer and sequence of every event the receiver acknowledged, in arrival order.
fn heard(receiver: &Receiver) -> Vec<(String, i64)> {
    receiver
        .received()
        .iter()
        .map(|r| {
            let event = r.json();
            (
                event["data"]["customer"].as_str().unwrap().to_owned(),
                event["sequence"].as_i64().unwrap(),
            )
        })
        .collect()
}
