//! The webhook endpoints' admin routes driven to each answer they document.

use super::checked::{ADMIN_TOKEN, Checked};
use reqwest::Method;
use serde_json::json;

pub async fn the_webhooks_answer_as_documented(c: &Checked<'_>) {
    let created = c
        .admin(
            Method::POST,
            "/admin/webhooks",
            json!({"url": "http://127.0.0.1:9/hook", "events": ["order.paid"]}),
        )
        .await;
    let id = created.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for bad in [
        json!({"url": "http://127.0.0.1:9/hook", "events": ["order.shipped"]}),
        json!({"url": "http://127.0.0.1:9/hook", "events": []}),
        json!({"url": 7}),
        // Past the schema's bounds: maxLength 2000, maxItems 8 (even of one type repeated).
        json!({"url": format!("http://127.0.0.1:9/{}", "x".repeat(1990))}),
        json!({"url": "http://127.0.0.1:9/hook", "events": vec!["order.paid"; 9]}),
        // Not a URL at all: malformed, not a place webhooks may not go.
        json!({"url": "not a url"}),
        // Not a URI, though the `url` crate would make one of it.
        json!({"url": " http://127.0.0.1:9/lead"}),
        json!({"url": "http://127.0.0.1:9/x y"}),
        json!({"url": "http:\\\\127.0.0.1:9\\back"}),
        json!({"url": "http://127.0.0.1:9/\u{fc}"}),
    ] {
        c.admin(Method::POST, "/admin/webhooks", bad)
            .await
            .assert_problem(422, "invalid_request");
    }
    let ftp = c
        .admin(
            Method::POST,
            "/admin/webhooks",
            json!({"url": "ftp://shop.example/"}),
        )
        .await;
    ftp.assert_problem(422, "target_refused");
    // Listening on loopback, plain http is allowed too, and the refusal says so.
    let detail = ftp.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("http:// or https://"), "{detail}");
    c.refuse_bodies(Method::POST, "/admin/webhooks", ADMIN_TOKEN, None)
        .await;

    c.call(Method::GET, "/admin/webhooks", |r| {
        r.bearer_auth(ADMIN_TOKEN)
    })
    .await
    .assert_status(200);
    c.get("/admin/webhooks")
        .await
        .assert_problem(401, "unauthorized");

    let item = format!("/admin/webhooks/{id}");
    let missing = format!("/admin/webhooks/{}", uuid::Uuid::new_v4());
    c.admin(
        Method::PATCH,
        &item,
        json!({"enabled": false, "events": null, "rotate_secret": true}),
    )
    .await
    .assert_status(200);
    c.admin(Method::PATCH, &missing, json!({"enabled": true}))
        .await
        .assert_problem(404, "webhook_not_found");
    for bad in [
        json!({"events": ["nope"]}),
        json!({"events": vec!["order.paid"; 9]}),
        json!({"url": format!("http://127.0.0.1:9/{}", "x".repeat(1990))}),
        json!({"url": "http://exa mple/"}),
        json!({"url": "http://127.0.0.1:9/x y"}),
        json!({"url": "http://127.0.0.1:9/\u{fc}"}),
    ] {
        c.admin(Method::PATCH, &item, bad)
            .await
            .assert_problem(422, "invalid_request");
    }
    c.admin(Method::PATCH, &item, json!({"url": "gopher://x/"}))
        .await
        .assert_problem(422, "target_refused");
    c.refuse_bodies(Method::PATCH, &item, ADMIN_TOKEN, None)
        .await;

    let replay = format!("{item}/replay");
    c.admin(
        Method::POST,
        &replay,
        json!({"since": "2026-01-01T00:00:00Z"}),
    )
    .await
    .assert_status(202);
    c.admin(
        Method::POST,
        &format!("{missing}/replay"),
        json!({"since": "2026-01-01T00:00:00Z"}),
    )
    .await
    .assert_problem(404, "webhook_not_found");
    for since in [
        "yesterday",
        "9999-12-31T23:59:59-00:01",
        "2026-12-05 10:00:00Z",
    ] {
        c.admin(Method::POST, &replay, json!({"since": since}))
            .await
            .assert_problem(422, "invalid_request");
    }
    c.refuse_bodies(Method::POST, &replay, ADMIN_TOKEN, None)
        .await;

    c.call(Method::DELETE, &item, |r| r.bearer_auth(ADMIN_TOKEN))
        .await
        .assert_status(204);
    c.call(Method::DELETE, &item, |r| r.bearer_auth(ADMIN_TOKEN))
        .await
        .assert_problem(404, "webhook_not_found");
    c.call(Method::DELETE, &item, |r| r)
        .await
        .assert_problem(401, "unauthorized");
}
