//! An event shows the order as it was right after its change, however late it is read: an
//! `order.created` read after the payment carries no transaction number and no payment time, and a
//! replay sends each event byte for byte as it was first delivered.

use super::{fan_out, register, send_all};
use flashgate_testkit::receiver::Receiver;
use flashgate_testkit::{Backend, payment_url};
use reqwest::Method;
use serde_json::json;
use vnpay_sim::Outcome;

on_each_backend!(an_event_shows_the_order_as_it_was_then);

async fn an_event_shows_the_order_as_it_was_then(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let instance = &app.instances[0];
    let api = app.api(0);
    let dispatcher = &instance.dispatcher;
    let receiver = Receiver::start().await;
    let id = register(api, &receiver.url(), None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let product = api.product(5, None).await;
    let order = api.win("cus_then", product).await;
    fan_out(instance, 1).await;
    assert_eq!(dispatcher.run_once().await.unwrap().delivered, 1);

    instance
        .sim()
        .pay(payment_url(&order), Outcome::Success)
        .unwrap();
    instance.sim().ipn_idle().await;
    fan_out(instance, 1).await;
    assert_eq!(dispatcher.run_once().await.unwrap().delivered, 1);
    let first = receiver.received();
    let (created, paid) = (first[0].json(), first[1].json());
    assert_eq!(
        (created["type"].as_str(), paid["type"].as_str()),
        (Some("order.created"), Some("order.paid"))
    );
    assert!(paid["data"]["gateway_transaction_no"].is_i64(), "{paid}");
    assert!(paid["data"]["paid_at"].is_string(), "{paid}");

    // Read after the payment, the creation is still the order as it was created.
    let feed = api
        .send(api.admin(Method::GET, "/admin/events"))
        .await
        .assert_status(200);
    let read_later = &feed["events"][0];
    assert_eq!(read_later["type"], "order.created");
    assert!(
        read_later["data"].get("gateway_transaction_no").is_none(),
        "{read_later}"
    );
    assert!(read_later["data"].get("paid_at").is_none(), "{read_later}");
    assert_eq!(read_later, &created);
    assert_eq!(&feed["events"][1], &paid);

    let replayed = api
        .send(
            api.admin(Method::POST, &format!("/admin/webhooks/{id}/replay"))
                .json(&json!({"since": "2000-01-01T00:00:00Z"})),
        )
        .await
        .assert_status(202);
    assert_eq!(replayed["replayed"], 2);
    assert_eq!(send_all(instance).await, 2);
    let all = receiver.received();
    assert_eq!(all.len(), 4);
    for again in &all[2..] {
        let original = first.iter().find(|r| r.id() == again.id()).unwrap();
        assert_eq!(
            again.body,
            original.body,
            "{} is the same body at every send",
            again.id()
        );
    }
}
