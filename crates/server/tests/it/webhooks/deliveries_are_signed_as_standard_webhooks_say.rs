//! A delivery verifies with the reference implementation of Standard Webhooks, and neither a tampered
//! body nor an old timestamp does; after a rotation both secrets verify until the old one lapses; the
//! body is the event as the feed shows it; an endpoint gets only the types it subscribed to.

use super::{fan_out, register};
use flashgate_testkit::Backend;
use flashgate_testkit::receiver::Receiver;
use reqwest::Method;
use serde_json::json;
use standardwebhooks::Webhook;

on_each_backend!(deliveries_are_signed_as_standard_webhooks_say);

async fn deliveries_are_signed_as_standard_webhooks_say(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let api = app.api(0);
    let dispatcher = &app.instances[0].dispatcher;
    let receiver = Receiver::start().await;
    let endpoint = register(api, &receiver.url(), None).await;
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    let only_paid = Receiver::start().await;
    register(api, &only_paid.url(), Some(vec!["order.paid"])).await;
    let listed = api
        .send(api.admin(Method::GET, "/admin/webhooks"))
        .await
        .assert_status(200);
    assert_eq!(listed["endpoints"].as_array().unwrap().len(), 2);
    assert!(
        listed["endpoints"][0].get("secret").is_none(),
        "a secret is shown once: {listed}"
    );

    let product = api.product(10, None).await;
    api.win("cus_signed", product).await;
    fan_out(&app.instances[0], 1).await;
    let step = dispatcher.run_once().await.unwrap();
    assert_eq!((step.claimed, step.delivered), (1, 1), "{step:?}");
    assert!(
        only_paid.received().is_empty(),
        "order.created is not order.paid"
    );

    let got = &receiver.received()[0];
    let reference = Webhook::new(&secret).unwrap();
    reference.verify(&got.body, &got.headers).unwrap();
    let feed = api
        .send(api.admin(Method::GET, "/admin/events"))
        .await
        .assert_status(200);
    assert_eq!(
        got.json(),
        feed["events"][0],
        "the body is the feed's event"
    );
    assert_eq!(got.id(), feed["events"][0]["id"]);

    let mut tampered = got.body.to_vec();
    tampered[10] ^= 1;
    assert!(reference.verify(&tampered, &got.headers).is_err());
    let old = time::OffsetDateTime::now_utc().unix_timestamp() - 600;
    let mut stale = got.headers.clone();
    let resigned = reference.sign(got.id(), old, &got.body).unwrap();
    stale.insert("webhook-timestamp", old.to_string().parse().unwrap());
    stale.insert("webhook-signature", resigned.parse().unwrap());
    assert!(
        reference.verify(&got.body, &stale).is_err(),
        "a ten-minute-old timestamp is refused"
    );
    assert!(
        Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap()
            .verify(&got.body, &got.headers)
            .is_err()
    );

    // Rotation: the new secret is shown once, and the old one still signs for a while.
    let id = endpoint["id"].as_str().unwrap();
    let rotated = api
        .send(
            api.admin(Method::PATCH, &format!("/admin/webhooks/{id}"))
                .json(&json!({"rotate_secret": true})),
        )
        .await
        .assert_status(200);
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    api.win("cus_rotated", product).await;
    fan_out(&app.instances[0], 1).await;
    dispatcher.run_once().await.unwrap();
    let got = receiver.received().pop().unwrap();
    Webhook::new(new_secret)
        .unwrap()
        .verify(&got.body, &got.headers)
        .unwrap();
    reference.verify(&got.body, &got.headers).unwrap();

    // Replay sends again what was delivered since then.
    let since = "2000-01-01T00:00:00Z";
    let replayed = api
        .send(
            api.admin(Method::POST, &format!("/admin/webhooks/{id}/replay"))
                .json(&json!({ "since": since })),
        )
        .await
        .assert_status(202);
    assert_eq!(replayed["replayed"], 2);
    dispatcher.run_once().await.unwrap();
    assert_eq!(receiver.received().len(), 4);

    api.send(api.admin(Method::DELETE, &format!("/admin/webhooks/{id}")))
        .await
        .assert_status(204);
    api.send(api.admin(Method::DELETE, &format!("/admin/webhooks/{id}")))
        .await
        .assert_problem(404, "webhook_not_found");
}
