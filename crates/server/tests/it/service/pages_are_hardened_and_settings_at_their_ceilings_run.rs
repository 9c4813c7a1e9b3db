//! Every HTML page carries a Content-Security-Policy that allows exactly its own inline script and
//! styles, no framing, no referrer and no caching; the dashboard's cookie is `Secure` behind HTTPS. And
//! an instance with every duration at its ceiling serves a purchase and a session without overflowing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flashgate_testkit::{Backend, key};
use reqwest::Method;
use sha2::{Digest, Sha256};

/// The contents of each `<tag>…</tag>` of a page.
fn blocks<'a>(page: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    page.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split(&close).next())
        .collect()
}

/// The dashboard's sign-in with the admin token, its redirect not followed.
async fn sign_in(api: &flashgate_testkit::Api) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(api.url("/admin/dashboard/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", api.admin_token()))
        .send()
        .await
        .unwrap()
}

fn assert_hardened(answer: &flashgate_testkit::Answer, what: &str) {
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{what}: {csp}");
    }
    let page = answer.text();
    for tag in ["script", "style"] {
        let found = blocks(&page, tag);
        for code in &found {
            let hash = format!("'sha256-{}'", STANDARD.encode(Sha256::digest(code)));
            assert!(
                csp.contains(&hash),
                "{what}: its <{tag}> is not allowed: {csp}"
            );
        }
        if found.is_empty() {
            assert!(csp.contains(&format!("{tag}-src 'none'")), "{what}: {csp}");
        }
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("cache-control"), "no-store", "{what}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
}

#[tokio::test]
async fn every_page_is_sent_with_a_strict_policy_and_the_cookie_is_secure_behind_https() {
    let app = super::spawn(Backend::Sqlite).start().await;
    let api = app.api(0);
    let form = api.get("/admin/dashboard", None).await;
    assert_hardened(&form, "the sign-in form");
    let signed = sign_in(api).await;
    assert_eq!(signed.status(), 303);
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let dashboard = api
        .send(
            api.request(Method::GET, "/admin/dashboard")
                .header("cookie", &cookie),
        )
        .await;
    assert!(dashboard.text().contains("<script>"));
    assert_hardened(&dashboard, "the dashboard");
    assert_hardened(
        &api.get("/payments/vnpay/return", None).await,
        "the payment return page",
    );
    let product = api.product(5, None).await;
    let order = api
        .place_order(&api.token("page-buyer"), &key(), product, 1)
        .await;
    let pay = flashgate_testkit::payment_url(&order.assert_status(201)).to_owned();
    let pay_page = api
        .send(api.request(Method::GET, pay.trim_start_matches(&api.base)))
        .await;
    assert_eq!(pay_page.status, 200);
    assert_hardened(&pay_page, "the simulator's payment page");
    // JSON answers are left as they are.
    let products = api.get("/products", None).await;
    assert!(products.headers.get("content-security-policy").is_none());
    drop(app);

    let app = super::spawn(Backend::Sqlite)
        .set("vnpay.public_url", "https://shop.example")
        .start()
        .await;
    let api = app.api(0);
    let signed = sign_in(api).await;
    let cookie = signed.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

#[tokio::test]
async fn an_instance_with_every_duration_at_its_ceiling_sells_and_starts_sessions() {
    let app = super::spawn(Backend::Sqlite)
        .set("inventory.hold_seconds", 7 * 24 * 3600)
        .set("expirer.lease_seconds", 24 * 3600)
        .set("auth.sessions.idle_timeout_seconds", 30 * 24 * 3600)
        .set("auth.sessions.max_lifetime_seconds", 90 * 24 * 3600)
        .set("auth.sessions.outlive_token", true)
        .set("auth.leeway_seconds", 3600)
        .set("payments.late_money_window_seconds", 90 * 24 * 3600)
        .set("payments.expiry_grace_seconds", 3600)
        .set("reconciler.poll_interval_seconds", 24 * 3600)
        .set("gate.idempotency_ttl_seconds", 30 * 24 * 3600)
        .start()
        .await;
    let api = app.api(0);
    let product = api.product(5, None).await;
    let token = api.token("patient-buyer");
    api.place_order(&token, &key(), product, 1)
        .await
        .assert_status(201);
    let session = api
        .send(api.request(Method::POST, "/sessions").bearer_auth(&token))
        .await;
    session.assert_status(201);
    let instance = &app.instances[0];
    instance.expirer.run_once().await.unwrap();
    instance.reconciler.run_once().await.unwrap();
}
