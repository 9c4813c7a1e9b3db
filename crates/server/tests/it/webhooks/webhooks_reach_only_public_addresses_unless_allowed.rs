//! With `webhooks.allow_private_targets` off, an endpoint on a loopback, private or link-local address
//! (named or literal) or on plain http is refused when registered, and a delivery whose name resolves
//! inward is refused when sent: the receiver hears nothing.

use super::{fan_out, register};
use flashgate_testkit::Backend;
use flashgate_testkit::receiver::Receiver;
use reqwest::Method;
use serde_json::json;

on_each_backend!(webhooks_reach_only_public_addresses_unless_allowed);

async fn webhooks_reach_only_public_addresses_unless_allowed(backend: Backend) {
    let db = backend.database().await;
    let receiver = Receiver::start().await;
    let guarded = super::spawn(backend)
        .set("webhooks.allow_private_targets", false)
        .instance(&db)
        .await;
    let api = &guarded.api;
    let port = receiver.addr.port();
    for url in [
        format!("https://127.0.0.1:{port}/hook"),
        format!("https://localhost:{port}/hook"),
        "https://10.0.0.7/hook".to_owned(),
        "https://192.168.1.20/hook".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[::1]/hook".to_owned(),
        "https://[fd12::1]/hook".to_owned(),
        format!("https://[::ffff:0:7f00:1]:{port}/hook"),
        format!("http://{}/hook", receiver.addr),
    ] {
        api.send(
            api.admin(Method::POST, "/admin/webhooks")
                .json(&json!({ "url": url })),
        )
        .await
        .assert_problem(422, "target_refused");
    }

    // Endpoints registered where internal targets are allowed (a development instance on the same
    // database): a name that resolves to loopback, and literal internal addresses, which the
    // resolver never sees. The guarded instance's dispatcher sends to none of them.
    let open = super::spawn(backend)
        .set("webhooks.allow_private_targets", true)
        .instance(&db)
        .await;
    for url in [
        format!("https://localhost:{port}/hook"),
        format!("https://127.0.0.1:{port}/hook"),
        format!("https://[::ffff:0:7f00:1]:{port}/hook"),
    ] {
        register(&open.api, &url, None).await;
    }
    let product = api.product(5, None).await;
    api.win("cus_guarded", product).await;
    fan_out(&guarded, 1).await;
    let step = guarded.dispatcher.run_once().await.unwrap();
    assert_eq!(
        (step.claimed, step.retried, step.delivered),
        (3, 3, 0),
        "{step:?}"
    );
    assert!(
        receiver.received().is_empty(),
        "nothing reached the receiver"
    );
    let direct = flashgate_testkit::Direct::connect(&db).await;
    let errors = direct
        .counts_by("SELECT last_error, CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries GROUP BY last_error")
        .await;
    assert!(
        errors.len() == 3 && errors.keys().all(|e| e.starts_with("refused: ")),
        "{errors:?}"
    );
}
