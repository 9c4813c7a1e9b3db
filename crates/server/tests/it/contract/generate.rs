//! Requests generated from the OpenAPI document: each aimed at a documented operation, then bent
//! (methods, ids, headers, query, bodies, JSON or form).

use super::document::Contract;
use flashgate_testkit::key;
use proptest::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

/// One generated request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
    pub idempotency_key: Option<String>,
    pub content_type: Option<String>,
    pub forwarded_for: Option<String>,
    pub body: Option<Vec<u8>>,
}

/// What the service already holds, so that generated requests also reach real products and orders.
pub struct Known {
    pub admin: String,
    pub buyer: String,
    /// A live session's id, the buyer's.
    pub session: String,
    pub products: Vec<i64>,
    pub orders: Vec<String>,
}

/// Requests aimed at the document's operations, one chosen at random for each.
pub fn requests(contract: &Contract, known: &Known) -> BoxedStrategy<Request> {
    let operations: Vec<BoxedStrategy<Request>> = contract
        .operations()
        .into_iter()
        // A stream's body never ends, so its answers cannot be read whole; streams are tested apart.
        .filter(|(path, method)| {
            !contract.doc()["paths"][path][method]["responses"]
                .to_string()
                .contains("text/event-stream")
        })
        .map(|(path, method)| operation(contract.doc(), &path, &method, known))
        .collect();
    proptest::strategy::Union::new(operations).boxed()
}

/// Requests aimed at one documented operation.
fn operation(doc: &Value, template: &str, method: &str, known: &Known) -> BoxedStrategy<Request> {
    let op = &doc["paths"][template][method];
    let documented = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
    let methods = prop_oneof![
        8 => Just(documented),
        1 => prop::sample::select(vec![
            Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::HEAD,
            Method::OPTIONS,
        ]),
    ];
    let segments: Vec<BoxedStrategy<String>> = template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                prop_oneof![
                    9 => id(known).prop_map(|raw| encode(&raw)),
                    // Bytes that do not decode to UTF-8, a NUL, an encoded slash.
                    1 => prop::sample::select(vec!["%FF", "%C3%28", "%00", "%2F"]).prop_map(str::to_owned),
                ]
                .boxed()
            } else {
                Just(segment.to_owned()).boxed()
            }
        })
        .collect();
    let path = segments.prop_map(|parts| parts.join("/"));
    let query_names: Vec<String> = op["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let pair = (prop::sample::select(with_junk(query_names)), id(known))
        .prop_map(|(name, value)| format!("{name}={}", encode(&value)));
    let query =
        prop::option::of(prop::collection::vec(pair, 1..6).prop_map(|pairs| pairs.join("&")));
    let body_schema = |media: &str| {
        op["requestBody"]["content"][media]["schema"]["$ref"]
            .as_str()
            .and_then(|r| doc.pointer(r.trim_start_matches('#')))
            .cloned()
    };
    let body = match (
        body_schema("application/json"),
        body_schema("application/x-www-form-urlencoded"),
    ) {
        (Some(schema), _) => prop_oneof![
            6 => object(&schema, known).prop_map(|v| Some(v.to_string().into_bytes())),
            2 => raw_body(),
        ]
        .boxed(),
        (None, Some(schema)) => prop_oneof![
            6 => form(&schema, known).prop_map(|f| Some(f.into_bytes())),
            2 => raw_body(),
        ]
        .boxed(),
        (None, None) => prop_oneof![4 => Just(None), 1 => raw_body()].boxed(),
    };
    (
        methods,
        path,
        query,
        authorization(known),
        idempotency_key(),
        content_type(),
        forwarded_for(),
        body,
    )
        .prop_map(
            |(
                method,
                path,
                query,
                authorization,
                idempotency_key,
                content_type,
                forwarded_for,
                body,
            )| Request {
                method,
                path,
                query,
                authorization,
                idempotency_key,
                content_type,
                forwarded_for,
                body,
            },
        )
        .boxed()
}

fn with_junk(mut names: Vec<String>) -> Vec<String> {
    names.extend(["junk".to_owned(), "limit[]".to_owned(), String::new()]);
    names
}

/// Path segments and query values: real ids, numbers of every size and sign, and text.
fn id(known: &Known) -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(known.products.clone()).prop_map(|id| id.to_string()),
        2 => prop::sample::select(known.orders.clone()),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => Just("99999999999999999999999".to_owned()),
        1 => Just("-0".to_owned()),
        1 => Just(uuid::Uuid::nil().to_string()),
        1 => Just("20261127235959".to_owned()),
        1 => prop::sample::select(vec!["00", "97", "-1", "1e400", "0x10"]).prop_map(str::to_owned),
        2 => "\\PC{0,12}",
        1 => Just(String::new()),
    ]
    .boxed()
}

/// Percent-encodes everything but unreserved characters, so any text travels as one segment.
fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn authorization(known: &Known) -> BoxedStrategy<Option<String>> {
    prop_oneof![
        2 => Just(None),
        3 => Just(Some(format!("Bearer {}", known.admin))),
        3 => Just(Some(format!("Bearer {}", known.buyer))),
        1 => Just(Some("Bearer ".to_owned())),
        1 => Just(Some(format!("Basic {}", known.admin))),
        1 => "[ -~]{0,40}".prop_map(|t| Some(format!("Bearer {t}"))),
        2 => Just(Some(format!("Session {}", known.session))),
        1 => "[ -~]{0,70}".prop_map(|t| Some(format!("Session {t}"))),
        1 => "[0-9a-f]{64}".prop_map(|t| Some(format!("Session {t}"))),
    ]
    .boxed()
}

fn idempotency_key() -> BoxedStrategy<Option<String>> {
    prop_oneof![
        1 => Just(None),
        4 => Just(()).prop_map(|_| Some(key())),
        1 => Just(Some(String::new())),
        1 => "[ -~]{0,300}".prop_map(Some),
    ]
    .boxed()
}

/// Hops as a proxy (or a client pretending to be one) writes them: addresses of both families, lists,
/// and garbage.
fn forwarded_for() -> BoxedStrategy<Option<String>> {
    let hop = prop_oneof![
        any::<[u8; 4]>().prop_map(|o| std::net::Ipv4Addr::from(o).to_string()),
        any::<[u16; 8]>().prop_map(|s| std::net::Ipv6Addr::from(s).to_string()),
        "[ -~]{0,20}",
    ];
    prop::option::weighted(
        0.5,
        prop::collection::vec(hop, 1..5).prop_map(|hops| hops.join(", ")),
    )
    .boxed()
}

fn content_type() -> BoxedStrategy<Option<String>> {
    prop::option::weighted(
        0.9,
        prop::sample::select(vec![
            "application/json",
            "application/json",
            "application/json",
            "application/json; charset=utf-8",
            "application/problem+json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/",
        ])
        .prop_map(str::to_owned),
    )
    .boxed()
}

/// Bodies that are not a JSON object: malformed, empty, other JSON, numbers too big for anything.
fn raw_body() -> BoxedStrategy<Option<Vec<u8>>> {
    prop_oneof![
        Just(Some(Vec::new())),
        Just(Some(b"{".to_vec())),
        Just(Some(b"null".to_vec())),
        Just(Some(b"[]".to_vec())),
        Just(Some(b"1e400".to_vec())),
        Just(Some(b"{\"product_id\": 1e400, \"quantity\": 1}".to_vec())),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Some),
        Just(Some(vec![b' '; 20_000])),
    ]
    .boxed()
}

/// Form bodies shaped by a body schema: each field present or not, holding the admin token (the one
/// secret a form here takes), any text or nothing, and now and then a field the schema does not have.
fn form(schema: &Value, known: &Known) -> BoxedStrategy<String> {
    let fields: Vec<BoxedStrategy<Option<String>>> = schema["properties"]
        .as_object()
        .map(|properties| {
            properties
                .keys()
                .map(|name| {
                    let name = encode(name);
                    let value = prop_oneof![
                        2 => Just(known.admin.clone()),
                        2 => "\\PC{0,40}",
                        1 => Just(String::new()),
                    ];
                    prop::option::weighted(0.85, value)
                        .prop_map(move |v| v.map(|v| format!("{name}={}", encode(&v))))
                        .boxed()
                })
                .collect()
        })
        .unwrap_or_default();
    let extra = prop::option::weighted(
        0.1,
        ("\\PC{1,8}", "\\PC{0,8}").prop_map(|(n, v)| format!("{}={}", encode(&n), encode(&v))),
    );
    (fields, extra)
        .prop_map(|(fields, extra)| {
            let pairs: Vec<String> = fields.into_iter().flatten().chain(extra).collect();
            pairs.join("&")
        })
        .boxed()
}

/// Objects shaped by a body schema: well-formed ones, so that requests get past validation to the
/// service's own decisions, and bent ones.
fn object(schema: &Value, known: &Known) -> BoxedStrategy<Value> {
    prop_oneof![1 => well_formed(schema), 2 => bent(schema, known)].boxed()
}

/// Every documented field, with a small positive number (the fresh database's ids among them), a
/// short word, or `null` where the schema allows it.
fn well_formed(schema: &Value) -> BoxedStrategy<Value> {
    let fields: Vec<BoxedStrategy<(String, Value)>> = schema["properties"]
        .as_object()
        .map(|properties| {
            properties
                .iter()
                .map(|(name, property)| {
                    let name = name.clone();
                    let types = property["type"].to_string();
                    let value = if types.contains("null") {
                        Just(Value::Null).boxed()
                    } else if types.contains("integer") {
                        (1i64..5).prop_map(Value::from).boxed()
                    } else {
                        "[a-z]{3,10}".prop_map(Value::from).boxed()
                    };
                    value.prop_map(move |v| (name.clone(), v)).boxed()
                })
                .collect()
        })
        .unwrap_or_default();
    fields
        .prop_map(|fields| Value::Object(fields.into_iter().collect()))
        .boxed()
}

/// Each documented field present or not, with a plausible value or any JSON at all, and now and then
/// a field the schema does not have.
fn bent(schema: &Value, known: &Known) -> BoxedStrategy<Value> {
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = schema["properties"]
        .as_object()
        .map(|properties| {
            properties
                .iter()
                .map(|(name, property)| {
                    let name = name.clone();
                    prop::option::weighted(0.85, field_value(property, known))
                        .prop_map(move |value| value.map(|v| (name.clone(), v)))
                        .boxed()
                })
                .collect()
        })
        .unwrap_or_default();
    let extra = prop::option::weighted(0.05, ("\\PC{1,8}", json_value()));
    (fields, extra)
        .prop_map(|(fields, extra)| {
            let mut object: serde_json::Map<String, Value> = fields.into_iter().flatten().collect();
            if let Some((name, value)) = extra {
                object.insert(name, value);
            }
            Value::Object(object)
        })
        .boxed()
}

fn field_value(property: &Value, known: &Known) -> BoxedStrategy<Value> {
    let types = property["type"].to_string();
    let plausible = if property["format"] == "date-time" {
        prop::sample::select(vec![
            "2026-01-01T00:00:00Z",
            "2020-02-29T12:30:00+07:00",
            "9999-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "2026-13-45T99:99:99Z",
        ])
        .prop_map(|t| json!(t))
        .boxed()
    } else if types.contains("integer") {
        prop_oneof![
            3 => (-2i64..12).prop_map(|n| json!(n)),
            2 => prop::sample::select(known.products.clone()).prop_map(|n| json!(n)),
            2 => any::<i64>().prop_map(|n| json!(n)),
            1 => Just(json!(u64::MAX)),
            1 => Just(json!(1.5)),
        ]
        .boxed()
    } else {
        prop_oneof![
            3 => "[a-z0-9-]{1,12}".prop_map(|s| json!(s)),
            2 => "\\PC{0,300}".prop_map(|s| json!(s)),
            1 => Just(json!("\u{0}nul")),
        ]
        .boxed()
    };
    prop_oneof![4 => plausible, 1 => json_value()].boxed()
}

fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}
