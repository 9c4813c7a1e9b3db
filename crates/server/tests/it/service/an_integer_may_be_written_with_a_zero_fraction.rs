//! JSON Schema 2020-12, which OpenAPI 3.1 uses, counts `5.0` as an integer: every integer field of a
//! body written so is read as that integer, and a number with a fraction is still refused.

use flashgate_testkit::{Answer, Api, Backend, key};
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;

on_each_backend!(an_integer_written_with_a_zero_fraction_is_that_integer);

/// `body` as written, byte for byte: `json!` would not keep `5e0` as sent.
async fn send(api: &Api, request: reqwest::RequestBuilder, body: String) -> Answer {
    api.send(request.header(CONTENT_TYPE, "application/json").body(body))
        .await
}

async fn an_integer_written_with_a_zero_fraction_is_that_integer(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let api = app.api(0);
    let created = send(
        api,
        api.admin(Method::POST, "/admin/products"),
        r#"{"sku":"WHOLE","name":"Whole","price_vnd":10000.0,"stock":3.0,"per_customer_limit":2.00}"#
            .to_owned(),
    )
    .await
    .assert_status(201);
    let p = created["id"].as_i64().unwrap();
    assert_eq!(
        (&created["price_vnd"], &created["per_customer_limit"]),
        (&10_000.into(), &2.into())
    );

    let restock = |quantity: &str| {
        send(
            api,
            api.admin(Method::POST, &format!("/admin/products/{p}/restock")),
            format!(r#"{{"quantity":{quantity}}}"#),
        )
    };
    let restocked = restock("5.0").await.assert_status(200);
    assert_eq!(restocked["stock"]["total"], 8);
    restock("5e0").await.assert_status(200);
    restock("5.5").await.assert_problem(422, "invalid_request");

    let token = api.token("whole-buyer");
    let order = |body: String| {
        send(
            api,
            api.request(Method::POST, "/orders")
                .bearer_auth(&token)
                .header("idempotency-key", key()),
            body,
        )
    };
    let placed = order(format!(r#"{{"product_id":{p}.0,"quantity":1.0}}"#))
        .await
        .assert_status(201);
    assert_eq!(placed["quantity"], 1);
    for refused in [
        format!(r#"{{"product_id":{p},"quantity":1.5}}"#),
        // Read again as integers, a field given twice is still refused.
        format!(r#"{{"product_id":{p},"quantity":1.0,"quantity":2}}"#),
    ] {
        order(refused).await.assert_problem(422, "invalid_request");
    }

    assert_eq!(api.available(p).await, 12);
    app.assert_audit_clean().await;
}
