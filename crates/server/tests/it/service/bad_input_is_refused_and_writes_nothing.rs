//! Bad input gets a clear 4xx problem with a stable code, and nothing is written: the stock stays as it
//! was and no order, ledger, idempotency or holding row appears.

use flashgate::auth::BuyerTokens;
use flashgate_core::CustomerId;
use flashgate_testkit::key;
use flashgate_testkit::{Api, Backend};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder};

on_each_backend!(bad_purchases_are_refused_with_their_problem_code_and_write_nothing);

/// A purchase as sent on the wire; each case changes one part of a good one.
struct Purchase {
    authorization: Option<String>,
    key: Option<String>,
    content_type: Option<&'static str>,
    body: String,
}

impl Purchase {
    fn good(token: &str, product: i64) -> Self {
        Self {
            authorization: Some(format!("Bearer {token}")),
            key: Some(key()),
            content_type: Some("application/json"),
            body: format!(r#"{{"product_id":{product},"quantity":1}}"#),
        }
    }

    fn request(self, api: &Api) -> RequestBuilder {
        let mut request = api.request(Method::POST, "/orders").body(self.body);
        for (name, value) in [
            (AUTHORIZATION.as_str(), self.authorization),
            ("idempotency-key", self.key),
            (CONTENT_TYPE.as_str(), self.content_type.map(str::to_owned)),
        ] {
            if let Some(value) = value {
                request = request.header(name, value);
            }
        }
        request
    }
}

async fn bad_purchases_are_refused_with_their_problem_code_and_write_nothing(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let api = app.api(0);
    let p = api.product(10, Some(3)).await;
    let token = api.token("careless-buyer");
    let customer = CustomerId::parse("careless-buyer").unwrap();
    let hour = time::Duration::hours(1);
    let expired = api.tokens().mint(&customer, -hour).unwrap();
    let foreign = BuyerTokens::new(b"someone-elses-signing-key-0123456789")
        .mint(&customer, hour)
        .unwrap();
    // Signed with the right key, but its header names a critical extension (RFC 7515 §4.1.11).
    let critical = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.extras.insert("crit", ["exp"]);
        let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
        jsonwebtoken::encode(
            &header,
            &serde_json::json!({"sub": customer.as_str(), "exp": exp}),
            &jsonwebtoken::EncodingKey::from_secret(b"dev-jwt-secret-change-me-0123456789abcdef"),
        )
        .unwrap()
    };
    let good = || Purchase::good(&token, p);
    let body = |body: String| Purchase { body, ..good() };
    let auth = |value: Option<&str>| Purchase {
        authorization: value.map(str::to_owned),
        ..good()
    };
    let with_key = |value: Option<&str>| Purchase {
        key: value.map(str::to_owned),
        ..good()
    };
    let typed = |value: Option<&'static str>| Purchase {
        content_type: value,
        ..good()
    };

    #[rustfmt::skip]
    let cases = [
        ("malformed JSON", body(format!(r#"{{"product_id":{p},"quantity":"#)), 400, "malformed_json"),
        ("a quantity no number can hold", body(format!(r#"{{"product_id":{p},"quantity":1e400}}"#)), 400, "malformed_json"),
        ("a JSON array", body("[1, 2]".to_owned()), 422, "invalid_request"),
        ("a field given twice", body(format!(r#"{{"product_id":{p},"quantity":1,"quantity":2}}"#)), 422, "invalid_request"),
        ("an unknown field", body(format!(r#"{{"product_id":{p},"quantity":1,"coupon":"FREE"}}"#)), 422, "invalid_request"),
        ("a missing field", body(format!(r#"{{"product_id":{p}}}"#)), 422, "invalid_request"),
        ("a zero quantity", body(format!(r#"{{"product_id":{p},"quantity":0}}"#)), 422, "invalid_request"),
        ("a negative quantity", body(format!(r#"{{"product_id":{p},"quantity":-3}}"#)), 422, "invalid_request"),
        ("a quantity over the maximum", body(format!(r#"{{"product_id":{p},"quantity":1001}}"#)), 422, "invalid_request"),
        ("a quantity beyond 64 bits", body(format!(r#"{{"product_id":{p},"quantity":100000000000000000000000}}"#)), 422, "invalid_request"),
        ("a quantity as a string", body(format!(r#"{{"product_id":{p},"quantity":"1"}}"#)), 422, "invalid_request"),
        ("an unknown product", body(format!(r#"{{"product_id":{},"quantity":1}}"#, p + 1000)), 422, "unknown_product"),
        ("a non-positive product id", body(r#"{"product_id":0,"quantity":1}"#.to_owned()), 422, "invalid_request"),
        ("a body over http.body_limit_bytes", body(format!(r#"{{"product_id":{p},"quantity":1,"pad":"{}"}}"#, "x".repeat(20_000))), 413, "payload_too_large"),
        ("a wrong content type", typed(Some("text/plain")), 415, "unsupported_media_type"),
        ("no content type", typed(None), 415, "unsupported_media_type"),
        ("no Idempotency-Key", with_key(None), 400, "idempotency_key_required"),
        ("an Idempotency-Key with spaces", with_key(Some("has spaces in it")), 400, "invalid_idempotency_key"),
        ("an Idempotency-Key over 255 characters", with_key(Some(&"k".repeat(256))), 400, "invalid_idempotency_key"),
        ("no token", auth(None), 401, "unauthorized"),
        ("a token that is not a JWT", auth(Some("Bearer not-a-jwt")), 401, "unauthorized"),
        ("an expired token", auth(Some(&format!("Bearer {expired}"))), 401, "unauthorized"),
        ("a token signed with another key", auth(Some(&format!("Bearer {foreign}"))), 401, "unauthorized"),
        ("a token with a crit header", auth(Some(&format!("Bearer {critical}"))), 401, "unauthorized"),
        ("the admin token instead of a buyer's", auth(Some("Bearer dev-admin-token-change-me")), 401, "unauthorized"),
        ("a Basic credential", auth(Some("Basic Y2FyZWxlc3M6cHc=")), 401, "unauthorized"),
        ("an empty Bearer", auth(Some("Bearer ")), 401, "unauthorized"),
    ];
    for (case, purchase, status, code) in cases {
        let answer = api.send(purchase.request(api)).await;
        assert_eq!(answer.status, status, "{case}: {answer:?}");
        answer.assert_problem(status, code);
        if status == 401 {
            let challenge = answer.headers.get("www-authenticate");
            assert_eq!(
                challenge.map(|v| v.as_bytes()),
                Some(&b"Bearer"[..]),
                "{case}"
            );
        }
    }

    for (case, path, token, code) in [
        (
            "an unknown route",
            "/no/such/route".to_owned(),
            None,
            "not_found",
        ),
        (
            "an unknown product page",
            format!("/products/{}", p + 1000),
            None,
            "product_not_found",
        ),
        (
            "a malformed product id",
            "/products/abc".to_owned(),
            None,
            "product_not_found",
        ),
        (
            "an unknown order",
            format!("/orders/{}", uuid::Uuid::now_v7()),
            Some(&token),
            "order_not_found",
        ),
    ] {
        let answer = api.get(&path, token.map(String::as_str)).await;
        assert_eq!(answer.status, 404, "{case}: {answer:?}");
        answer.assert_problem(404, code);
    }

    assert_eq!(api.available(p).await, 10);
    let stock = app.stock(p).await;
    assert_eq!(
        (stock.total, stock.available, stock.reserved, stock.sold),
        (10, 10, 0, 0)
    );
    let rows = app.direct().await.purchase_rows().await;
    assert_eq!(rows, 0, "no purchase row was written");
    app.assert_audit_clean().await;
}
