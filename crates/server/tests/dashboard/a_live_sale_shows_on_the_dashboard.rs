//! A small sale (five units: two paid through their IPN, one cancelled, one paid with its IPN lost
//! and caught by the reconciler, one left pending, one buyer turned away sold out, three reads over
//! the limit) watched live on the dashboard in headless Chromium; then every metric the Grafana
//! dashboard queries is found on `/metrics`. Beside it, without a sale: the metrics table in
//! `metrics.rs`, the code and the Grafana dashboard name the same metrics.

use crate::browser::Browser;
use fantoccini::{Client, Locator};
use flashgate_core::ProductId;
use flashgate_testkit::{
    Backend, Instance, Spawn, TestDatabase, client, manual_clock, payment_url, text_of,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use uuid::Uuid;
use vnpay_sim::Faults;

/// Waits for the page to show what `xpath` describes; on failure, says what the page showed.
async fn shows(browser: &Client, xpath: &str) {
    let found = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(xpath))
        .await;
    if let Err(error) = found {
        let text = browser
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        panic!("the page never showed {xpath} ({error}); it shows:\n{text}");
    }
}

fn value(id: &str, expected: i64) -> String {
    format!("//*[@id='{id}' and normalize-space()='{expected}']")
}

fn stock(sku: &str, column: &str, expected: i64) -> String {
    format!("//tr[@data-sku='{sku}']/td[@class='{column}' and normalize-space()='{expected}']")
}

/// Pays (or cancels) through the simulator's API, as a buyer's browser would on its page.
async fn pay(app: &Instance, answer: &Value, outcome: &str) {
    let response = client()
        .post(app.api.url("/vnpay-sim/sim/pay"))
        .json(&json!({"url": payment_url(answer), "outcome": outcome}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn sign_in(browser: &Client, app: &Instance, token: &str) {
    browser
        .goto(&app.api.url("/admin/dashboard"))
        .await
        .unwrap();
    let field = browser.find(Locator::Id("token")).await.unwrap();
    field.send_keys(token).await.unwrap();
    browser
        .find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_sale_shows_on_the_dashboard_and_every_grafana_metric_is_exported() {
    let db = TestDatabase::postgres().await;
    let app = Spawn::new(Backend::Postgres)
        .clock(manual_clock())
        .workers_on_demand()
        .set("database.acquire_timeout_ms", 10_000)
        .set("inventory.strategy", "gated")
        // Reads: two at once, then refused; the clock is driven, so no token comes back.
        .set("limits.reads.rate", 1)
        .set("limits.reads.period_ms", 60_000)
        .set("limits.reads.burst", 2)
        .set("limits.penalty.strikes", 1)
        .set("monitor.interval_ms", 200)
        .instance(&db)
        .await;
    let product = app.api.product(5, None).await;
    let sku = app
        .store
        .products
        .get(ProductId(product))
        .await
        .unwrap()
        .unwrap()
        .sku
        .as_str()
        .to_owned();
    let mut answers = Vec::new();
    for i in 0..5 {
        answers.push(app.api.win(&format!("cus_dash_{i}"), product).await);
    }
    let refused = client()
        .post(app.api.url("/orders"))
        .bearer_auth(app.api.token("cus_dash_5"))
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&json!({"product_id": product, "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);

    let unsigned = client()
        .get(app.api.url("/admin/dashboard/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401, "the event stream needs the sign-in");

    let browser = Browser::start().await;
    let page = &browser.client;
    sign_in(page, &app, "not-the-admin-token-at-all").await;
    shows(
        page,
        "//p[@id='message' and contains(., 'not the admin token')]",
    )
    .await;
    sign_in(page, &app, app.api.admin_token()).await;
    shows(page, &value("status-pending_payment", 5)).await;
    shows(page, &stock(&sku, "available", 0)).await;
    shows(page, &stock(&sku, "reserved", 5)).await;
    shows(
        page,
        "//dd[@data-reason='sold_out' and normalize-space()='1']",
    )
    .await;

    // While the page stays open: two pay, one cancels, one pays but its IPN is lost.
    pay(&app, &answers[0], "success").await;
    pay(&app, &answers[1], "success").await;
    pay(&app, &answers[2], "cancel").await;
    app.sim().ipn_idle().await;
    app.sim()
        .set_faults(Faults {
            ipn_drop_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    pay(&app, &answers[3], "success").await;
    app.sim().ipn_idle().await;
    let step = app.reconciler.run_once().await.unwrap();
    assert_eq!(step.settled, 1, "{step:?}");

    // One read of an order (its route is labelled by template), one of the list, then three refused.
    let order_id = answers[0]["id"].as_str().unwrap().to_owned();
    let read = client()
        .get(app.api.url(&format!("/orders/{order_id}")))
        .bearer_auth(app.api.token("cus_dash_0"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = client().get(app.api.url("/products")).send().await.unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 429, 429, 429]);

    shows(page, &value("status-paid", 3)).await;
    shows(page, &value("status-pending_payment", 1)).await;
    shows(page, &value("status-payment_failed", 1)).await;
    shows(page, &value("status-expired", 0)).await;
    shows(page, &value("settled-ipn", 2)).await;
    shows(page, &value("settled-reconciler", 1)).await;
    shows(page, &value("rate-limited", 3)).await;
    shows(page, &value("oversold", 0)).await;
    shows(page, &value("orders-total", 5)).await;
    shows(page, &stock(&sku, "available", 1)).await;
    shows(page, &stock(&sku, "reserved", 1)).await;
    shows(page, &stock(&sku, "sold", 3)).await;
    shows(
        page,
        "//span[@id='connection' and normalize-space()='live']",
    )
    .await;
    let png = page.screenshot().await.unwrap();
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&shot, png).unwrap();
    browser.client.clone().close().await.unwrap();
    app.assert_audit_clean().await;

    let metrics = text_of(client().get(app.api.url("/metrics"))).await;
    assert!(metrics.contains("flashgate_oversold_units 0"), "{metrics}");
    assert!(
        metrics.contains(r#"flashgate_orders{status="paid"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/orders/{id}""#),
        "requests are labelled by route template: {metrics}"
    );
    assert!(
        !metrics.contains(&order_id),
        "no raw path reaches a label: {metrics}"
    );
    assert!(
        metrics.contains(r#"policy="reads",verdict="banned""#),
        "{metrics}"
    );
    // Every name a panel queries is exported: on this sale's `/metrics`, or, for a family this sale
    // never touched (webhooks, JWKS, refunds, …), the table's name with the suffix its type exports.
    let table = table_of_metrics();
    let exported = exported_names(&metrics);
    let exported_families = exported_families(&metrics);
    let queried = grafana_metric_names();
    assert!(!queried.is_empty());
    let missing: Vec<_> = queried
        .iter()
        .filter(|name| match family_of(name, &table) {
            Some(family) if exported_families.contains_key(family) => !exported.contains(*name),
            Some(_) => false,
            None => true,
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the Grafana dashboard queries names flashgate does not export: {missing:?}"
    );
    // And every family this sale exported is in the table, with the table's type.
    for (family, kind) in &exported_families {
        assert_eq!(
            table.get(family),
            Some(kind),
            "{family} ({kind}) is exported but not in metrics.rs's table as such"
        );
    }
}

/// The other way round, without a sale: every metric the code emits is a row of the table at the top
/// of `crates/server/src/metrics.rs` (and every row is emitted), and every row is charted by the Grafana
/// dashboard, so neither the table nor the dashboard can fall behind the code.
#[test]
fn the_metrics_table_lists_what_the_code_emits_and_the_grafana_dashboard_charts_every_row() {
    let table = table_of_metrics();
    let emitted = emitted_by_the_code();
    let unlisted: Vec<_> = emitted.iter().filter(|f| !table.contains_key(*f)).collect();
    assert!(
        unlisted.is_empty(),
        "emitted but not in metrics.rs's table: {unlisted:?}"
    );
    let stale: Vec<_> = table.keys().filter(|f| !emitted.contains(*f)).collect();
    assert!(
        stale.is_empty(),
        "in metrics.rs's table but emitted nowhere: {stale:?}"
    );
    let charted: BTreeSet<&str> = grafana_metric_names()
        .iter()
        .filter_map(|name| family_of(name, &table))
        .collect();
    let uncharted: Vec<_> = table
        .keys()
        .filter(|f| !charted.contains(f.as_str()))
        .collect();
    assert!(
        uncharted.is_empty(),
        "no panel of deploy/grafana/flashgate.json queries {uncharted:?}"
    );
}

/// Metric names on the Prometheus text's sample lines (`name{labels} value` or `name value`).
fn exported_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// The families on the Prometheus text's `# TYPE name type` lines, with their types.
fn exported_families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.trim().to_owned()))
        .collect()
}

/// The family a queried name belongs to: a counter's or gauge's own name, or a histogram's with the
/// `_bucket`, `_sum` or `_count` suffix; `None` for a name that is neither.
fn family_of<'a>(name: &str, table: &'a BTreeMap<String, String>) -> Option<&'a str> {
    if let Some((family, kind)) = table.get_key_value(name) {
        return (kind != "histogram").then_some(family.as_str());
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .filter_map(|base| table.get_key_value(base))
        .find(|(_, kind)| kind.as_str() == "histogram")
        .map(|(family, _)| family.as_str())
}

/// The table at the top of `metrics.rs`: each row's metric and type.
fn table_of_metrics() -> BTreeMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/metrics.rs");
    let table: BTreeMap<String, String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_prefix("//! | `flashgate_"))
        .map(|row| {
            let cells: Vec<&str> = row.split(" | ").collect();
            let name = format!("flashgate_{}", cells[0].trim_end_matches('`'));
            (name, cells[1].trim().to_owned())
        })
        .collect();
    assert!(table.len() > 20, "the table was not found in {path}");
    for kind in table.values() {
        assert!(
            ["counter", "gauge", "histogram"].contains(&kind.as_str()),
            "{kind}"
        );
    }
    table
}

/// Every `flashgate_*` name given to a `counter!`, `gauge!` or `histogram!` in the workspace's
/// library and binary code (`crates/*/src`).
fn emitted_by_the_code() -> BTreeSet<String> {
    fn walk(dir: &std::path::Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for macro_call in ["counter!(", "gauge!(", "histogram!("] {
                    for (at, _) in text.match_indices(macro_call) {
                        let rest = text[at + macro_call.len()..].trim_start();
                        if let Some(name) = rest.strip_prefix("\"flashgate_") {
                            let name: String = name
                                .chars()
                                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                                .collect();
                            found.insert(format!("flashgate_{name}"));
                        }
                    }
                }
            }
        }
    }
    let crates = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut found = BTreeSet::new();
    for krate in std::fs::read_dir(crates).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            walk(&src, &mut found);
        }
    }
    assert!(!found.is_empty(), "no metric found under {crates}");
    found
}

/// Every `flashgate_*` name in the Grafana dashboard's queries.
fn grafana_metric_names() -> BTreeSet<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/flashgate.json"
    );
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    exprs
        .iter()
        .flat_map(|expr| expr.match_indices("flashgate_").map(|(at, _)| &expr[at..]))
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

fn collect_exprs(value: &Value, exprs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", Value::String(expr)) => exprs.push(expr.clone()),
                    _ => collect_exprs(value, exprs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, exprs)),
        _ => {}
    }
}
