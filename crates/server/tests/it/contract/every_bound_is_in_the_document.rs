//! The document states every bound the service enforces on a request: over every operation that takes
//! a JSON body or query parameters, each field is taken to and past its bounds (numbers at and beyond
//! their minimum and maximum, texts at and beyond their lengths and outside their pattern or format,
//! lists at and beyond their lengths and with each candidate as an item, other types, `null`), an
//! unknown property is added and each required one left out. The document's own
//! schema says whether each request is valid, and the service must agree both ways: a valid request is
//! never refused as invalid (400 or 422 `invalid_request`), an invalid one never accepted (2xx), and
//! none, however extreme, gets a 5xx.
//!
//! Fields whose only rule is "what the API gave you" (a page's `cursor`, the events feed's `after`) and the order of a sale's two
//! ends are not bounds a schema can state; they are left at values that keep the rest meaningful.

use super::checked::ADMIN_TOKEN;
use super::document::Contract;
use flashgate_testkit::{Api, Backend, key};
use reqwest::Method;
use serde_json::{Map, Value, json};

on_each_backend!(every_bound_is_in_the_document);

/// Codes that say "your request is not valid".
const INVALID: [&str; 3] = ["invalid_request", "malformed_json", "bad_request"];

async fn every_bound_is_in_the_document(backend: Backend) {
    let app = crate::service::spawn(backend)
        .set("auth.sessions.allow_bare_customer", true)
        .start()
        .await;
    let api = app.api(0);
    let contract = Contract::new(api.get("/openapi.json", None).await.assert_status(200));
    let product = api.product(1_000_000, None).await;
    let buyer = api.token("bounds-buyer");
    let order = api.place_order(&buyer, &key(), product, 1).await;
    let order = order.assert_status(201)["id"].as_str().unwrap().to_owned();
    let doc = contract.doc().clone();
    let mut checked = 0;
    for (template, method) in contract.operations() {
        let op = &doc["paths"][&template][&method];
        let path = template
            .replace("/orders/{id}", &format!("/orders/{order}"))
            .replace("{id}", &product.to_string());
        for auth in auths(op, &buyer) {
            let target = Target {
                api,
                method: Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap(),
                path: path.clone(),
                auth,
                idempotent: op["parameters"].to_string().contains("Idempotency-Key"),
            };
            if let Some(schema) =
                op["requestBody"]["content"]["application/json"]["schema"].as_object()
            {
                let schema = contract.resolve_value(&Value::Object(schema.clone()));
                for body in bodies(&contract, &schema) {
                    let valid = contract.validator(&schema).is_valid(&body);
                    let answer = target.send(None, Some(&body)).await;
                    agree(
                        valid,
                        &answer,
                        &format!("{} {} {body}", target.method, target.path),
                    );
                    checked += 1;
                }
            }
            for parameter in op["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] != "query"
                    || matches!(parameter["name"].as_str(), Some("cursor" | "after"))
                {
                    continue;
                }
                let name = parameter["name"].as_str().unwrap();
                let schema = contract.resolve_value(&parameter["schema"]);
                for value in candidates(&contract, &schema) {
                    let Some(text) = query_text(&value) else {
                        continue;
                    };
                    // A query is text: a number's text is checked as the number it spells.
                    let valid = contract
                        .validator(&schema)
                        .is_valid(&query_value(&schema, &text));
                    let query = format!("{name}={}", urlencode(&text));
                    let answer = target.send(Some(&query), None).await;
                    agree(
                        valid,
                        &answer,
                        &format!("{} {}?{query}", target.method, target.path),
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} requests checked");
}

struct Target<'a> {
    api: &'a Api,
    method: Method,
    path: String,
    auth: Option<String>,
    idempotent: bool,
}

impl Target<'_> {
    async fn send(&self, query: Option<&str>, body: Option<&Value>) -> flashgate_testkit::Answer {
        let url = match query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        };
        let mut request = self.api.request(self.method.clone(), &url);
        if let Some(auth) = &self.auth {
            request = request.header("authorization", auth);
        }
        if self.idempotent {
            request = request.header("idempotency-key", key());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.api.send(request).await
    }
}

/// The credentials an operation takes: the admin's, the buyer's token, none, or (where it says so)
/// either of the last two.
fn auths(op: &Value, buyer: &str) -> Vec<Option<String>> {
    let security = op["security"].to_string();
    let mut auths = Vec::new();
    if security.contains("admin_token") {
        auths.push(Some(format!("Bearer {ADMIN_TOKEN}")));
    }
    if security.contains("buyer_jwt") {
        auths.push(Some(format!("Bearer {buyer}")));
    }
    if auths.is_empty() || security.contains("{}") {
        auths.push(None);
    }
    auths
}

fn agree(valid: bool, answer: &flashgate_testkit::Answer, context: &str) {
    assert!(
        answer.status < 500,
        "an extreme value is a 5xx: {context} -> {answer:?}"
    );
    let code = serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|body| body["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if valid {
        assert!(
            !(matches!(answer.status, 400 | 422) && INVALID.contains(&code.as_str())),
            "valid by the document, refused as invalid: {context} -> {answer:?}"
        );
    } else {
        assert!(
            !(200..300).contains(&answer.status),
            "invalid by the document, accepted: {context} -> {answer:?}"
        );
    }
}

/// A valid body, then the same body with one property changed to each of its candidates, one unknown
/// property added, and each required property left out.
fn bodies(contract: &Contract, schema: &Value) -> Vec<Value> {
    let properties: Map<String, Value> = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut base = Map::new();
    for (name, property) in &properties {
        let property = contract.resolve_value(property);
        // `null` where allowed: it keeps a sale's two ends from contradicting each other.
        let value = if contract.validator(&property).is_valid(&Value::Null) {
            Value::Null
        } else {
            candidates(contract, &property)
                .into_iter()
                .find(|v| contract.validator(&property).is_valid(v))
                .unwrap_or_else(|| panic!("no valid value for {name}: {property}"))
        };
        base.insert(name.clone(), value);
    }
    let mut all = vec![Value::Object(base.clone())];
    for (name, property) in &properties {
        for value in candidates(contract, &contract.resolve_value(property)) {
            let mut body = base.clone();
            body.insert(name.clone(), value);
            all.push(Value::Object(body));
        }
        let mut without = base.clone();
        without.remove(name);
        all.push(Value::Object(without));
    }
    let mut unknown = base;
    unknown.insert("unknown_property".to_owned(), json!(1));
    all.push(Value::Object(unknown));
    all
}

/// Values at and past a schema's bounds, of its type and of others.
fn candidates(contract: &Contract, schema: &Value) -> Vec<Value> {
    let schema = contract.resolve_value(schema);
    let types = schema["type"].to_string();
    let mut out = vec![Value::Null, json!(true), json!([]), json!({}), json!(1.5)];
    if types.contains("array") {
        // Each candidate of the items alone, then a valid item repeated to and past the lengths.
        let items = contract.resolve_value(&schema["items"]);
        let each = candidates(contract, &items);
        let valid = each
            .iter()
            .find(|v| contract.validator(&items).is_valid(v))
            .cloned();
        out.extend(each.into_iter().map(|item| json!([item])));
        for bound in ["minItems", "maxItems"] {
            if let (Some(n), Some(item)) = (schema[bound].as_u64(), &valid) {
                let n = usize::try_from(n).unwrap();
                for len in [n.saturating_sub(1), n, n + 1] {
                    out.push(Value::Array(vec![item.clone(); len]));
                }
            }
        }
    }
    if types.contains("integer") {
        out.extend([0, 1, 2, -1, 5_000, i64::MAX, i64::MIN].map(Value::from));
        for bound in ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] {
            if let Some(b) = schema[bound].as_i64() {
                out.extend([b.saturating_sub(1), b, b.saturating_add(1)].map(Value::from));
                // JSON Schema counts a number with a zero fraction as an integer.
                out.push(json!(b as f64));
            }
        }
        out.push(json!(1.0));
    }
    if types.contains("string") {
        if schema["format"] == "date-time" {
            out.extend(
                [
                    "2020-01-01T00:00:00Z",
                    "2999-01-01T00:00:00+07:00",
                    "not a time",
                    "2026-13-45T99:99:99Z",
                    "2026-12-05 10:00:00Z",
                ]
                .map(Value::from),
            );
        }
        if schema["format"] == "uri" {
            out.extend(
                [
                    "http://127.0.0.1:9/hook",
                    " http://127.0.0.1:9/lead",
                    "http://127.0.0.1:9/x y",
                    "http:\\\\127.0.0.1:9\\back",
                    "http://127.0.0.1:9/\u{fc}",
                ]
                .map(Value::from),
            );
        }
        for value in schema["enum"].as_array().into_iter().flatten() {
            out.push(value.clone());
        }
        if let Some(pattern) = schema["pattern"].as_str()
            && let Some(alternatives) = pattern
                .strip_prefix("^(")
                .and_then(|p| p.strip_suffix(")$"))
        {
            out.extend(alternatives.split('|').map(Value::from));
        }
        out.extend(
            [
                "",
                " ",
                "a",
                " spaced ",
                "a b",
                "x\u{0}y",
                // Control characters at the ends, which a trim would hide; blank to JSON Schema only.
                "a\n",
                "\ta",
                "\u{85}a",
                "\u{feff}",
                "ünïcode",
                "-_.",
                "nope",
            ]
            .map(Value::from),
        );
        for bound in ["minLength", "maxLength"] {
            if let Some(n) = schema[bound].as_u64() {
                let n = usize::try_from(n).unwrap();
                for len in [n.saturating_sub(1), n, n + 1] {
                    out.push(Value::from("a".repeat(len)));
                    // The same length with spaces around: bounds count what is sent.
                    if len >= 2 {
                        out.push(Value::from(format!(" {} ", "a".repeat(len - 2))));
                    }
                }
            }
        }
    }
    out
}

/// How a candidate travels in a query string; structured values do not.
fn query_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A query's text as the schema reads it: an integer where one is expected and the text is one.
fn query_value(schema: &Value, text: &str) -> Value {
    if schema["type"].to_string().contains("integer")
        && let Ok(n) = text.parse::<i64>()
    {
        return Value::from(n);
    }
    Value::from(text)
}

fn urlencode(raw: &str) -> String {
    form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}
