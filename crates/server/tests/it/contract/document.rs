//! The served OpenAPI document as a judge of real answers: which operation a request hits, whether the
//! answer's status, content type, headers and body are the ones documented for it, and which documented
//! answers a test has seen.

use flashgate_testkit::Answer;
use jsonschema::Validator;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// The document, and the answers checked against it so far.
pub struct Contract {
    doc: Value,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
    seen: Mutex<BTreeSet<(String, String)>>,
}

/// The methods an OpenAPI path item can hold, as their keys there.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

impl Contract {
    pub fn new(doc: Value) -> Self {
        assert_eq!(doc["openapi"], "3.1.0", "not an OpenAPI 3.1 document");
        Self {
            doc,
            validators: Mutex::new(HashMap::new()),
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// Documented paths (templates such as `/products/{id}`) and the methods of each, in lower case.
    pub fn operations(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            for method in METHODS {
                if item.get(method).is_some() {
                    all.push((path.clone(), method.to_owned()));
                }
            }
        }
        all
    }

    /// Every `(operationId, status)` the document promises.
    pub fn documented_answers(&self) -> BTreeSet<(String, String)> {
        self.operations()
            .into_iter()
            .flat_map(|(path, method)| {
                let op = &self.doc["paths"][&path][&method];
                let id = op["operationId"]
                    .as_str()
                    .expect("an operationId")
                    .to_owned();
                op["responses"]
                    .as_object()
                    .expect("responses")
                    .keys()
                    .map(move |status| (id.clone(), status.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The `(operationId, status)` pairs that checked answers have covered.
    pub fn seen(&self) -> BTreeSet<(String, String)> {
        self.seen.lock().unwrap().clone()
    }

    /// The documented path template a concrete path falls under; a literal segment beats a parameter.
    /// As in the router, a parameter takes an empty segment inside a path but not at its end
    /// (`/products/` is not `/products/{id}`).
    pub fn template(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        let last = segments.len() - 1;
        self.doc["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .filter(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                parts.len() == segments.len()
                    && parts.iter().zip(&segments).enumerate().all(|(i, (t, s))| {
                        t == s
                            || (t.starts_with('{')
                                && t.ends_with('}')
                                && (i < last || !s.is_empty()))
                    })
            })
            .min_by_key(|template| template.matches('{').count())
            .cloned()
    }

    /// Asserts that `answer` is one the document allows for `method path` (a path without its query),
    /// and records it as seen. A path the document does not have must be the 404 `not_found` problem; a
    /// documented path asked with an undocumented method the 405 `method_not_allowed` problem.
    pub fn check(&self, method: &Method, path: &str, answer: &Answer) {
        let context = || format!("{method} {path} answered {answer:?}");
        let head = *method == Method::HEAD;
        assert!(answer.status < 500 || answer.status == 503, "{}", context());
        let Some(template) = self.template(path) else {
            if !self.rate_limited(head, answer, &context) {
                assert_eq!(answer.status, 404, "{}", context());
                self.check_body(&answer_schema("NotFound"), PROBLEM, head, answer, &context);
            }
            return;
        };
        let item = &self.doc["paths"][&template];
        // HEAD is served wherever GET is, without a body.
        let key = if head {
            "get".to_owned()
        } else {
            method.as_str().to_ascii_lowercase()
        };
        let Some(operation) = item.get(&key) else {
            if self.rate_limited(head, answer, &context) {
                return;
            }
            assert_eq!(answer.status, 405, "{}", context());
            self.check_body(
                &answer_schema("MethodNotAllowed"),
                PROBLEM,
                head,
                answer,
                &context,
            );
            let allow = answer
                .headers
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("a 405 without Allow: {}", context()));
            let mut allowed: Vec<String> = allow
                .split(',')
                .map(|m| m.trim().to_ascii_lowercase())
                .filter(|m| m != "head")
                .collect();
            allowed.sort();
            let mut documented: Vec<String> = METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (*m).to_owned())
                .collect();
            documented.sort();
            assert_eq!(allowed, documented, "{}", context());
            return;
        };
        let status = answer.status.to_string();
        let response = operation["responses"].get(&status).unwrap_or_else(|| {
            panic!(
                "status {status} is not documented for {key} {template}: {}",
                context()
            )
        });
        let response = self.resolve(response);
        self.seen.lock().unwrap().insert((
            operation["operationId"].as_str().unwrap_or("").to_owned(),
            status,
        ));
        // An error answer carries every header its documentation names (Retry-After, RateLimit…).
        if answer.status >= 400
            && let Some(headers) = response["headers"].as_object()
        {
            for (name, header) in headers {
                let value = answer
                    .headers
                    .get(name.as_str())
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_else(|| panic!("the {name} header is missing: {}", context()));
                let value = match header["schema"]["type"].as_str() {
                    Some("integer") => value.parse::<u64>().map(Value::from).unwrap_or_else(|_| {
                        panic!("the {name} header is not a number: {}", context())
                    }),
                    _ => Value::from(value),
                };
                let errors: Vec<String> = self
                    .validator(&header["schema"])
                    .iter_errors(&value)
                    .map(|e| e.to_string())
                    .collect();
                assert!(
                    errors.is_empty(),
                    "the {name} header: {errors:?}: {}",
                    context()
                );
            }
        }
        let Some(content) = response["content"].as_object() else {
            assert!(
                answer.body.is_empty(),
                "a body where none is documented: {}",
                context()
            );
            return;
        };
        let media = answer
            .content_type()
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        let media_type = content.get(&media).unwrap_or_else(|| {
            panic!(
                "content type {media:?} is not documented (documented: {:?}): {}",
                content.keys().collect::<Vec<_>>(),
                context()
            )
        });
        self.check_body(&media_type["schema"], &media, head, answer, &context);
    }

    /// Whether `answer` is the rate limiter's refusal, which the document allows before any route
    /// (under the limited prefixes a path or method that no route serves counts too); checks it whole.
    fn rate_limited(&self, head: bool, answer: &Answer, context: &dyn Fn() -> String) -> bool {
        if answer.status != 429 {
            return false;
        }
        for name in ["retry-after", "ratelimit", "ratelimit-policy"] {
            assert!(
                answer.headers.contains_key(name),
                "no {name}: {}",
                context()
            );
        }
        self.check_body(
            &answer_schema("RateLimited"),
            PROBLEM,
            head,
            answer,
            context,
        );
        true
    }

    /// `schema`, or the schema its `$ref` names.
    pub fn resolve_value(&self, schema: &Value) -> Value {
        self.resolve(schema).clone()
    }

    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value["$ref"].as_str() {
            Some(reference) => self
                .doc
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{reference} does not resolve")),
            None => value,
        }
    }

    fn check_body(
        &self,
        schema: &Value,
        media: &str,
        head: bool,
        answer: &Answer,
        context: &dyn Fn() -> String,
    ) {
        assert_eq!(
            answer.content_type().split(';').next().unwrap_or("").trim(),
            media,
            "{}",
            context()
        );
        // The answer to HEAD is the GET answer's head: its body is not sent.
        if head {
            assert!(answer.body.is_empty(), "{}", context());
            return;
        }
        let instance = if media.ends_with("json") {
            serde_json::from_slice(&answer.body)
                .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {}", context()))
        } else {
            Value::String(
                String::from_utf8(answer.body.clone())
                    .unwrap_or_else(|_| panic!("the body is not UTF-8: {}", context())),
            )
        };
        let validator = self.validator(schema);
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "the body does not match its schema {schema}: {errors:?}: {}",
            context()
        );
        if media == PROBLEM {
            assert_eq!(instance["status"], json!(answer.status), "{}", context());
        }
    }

    /// A validator of `schema`, whose `#/components/...` references resolve in the document.
    pub fn validator(&self, schema: &Value) -> Arc<Validator> {
        let key = schema.to_string();
        let mut cache = self.validators.lock().unwrap();
        cache
            .entry(key)
            .or_insert_with(|| {
                let mut root = schema.clone();
                root["components"] = self.doc["components"].clone();
                Arc::new(
                    jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft202012)
                        .should_validate_formats(true)
                        .build(&root)
                        .unwrap_or_else(|e| panic!("{schema} is not a valid schema: {e}")),
                )
            })
            .clone()
    }
}

pub const PROBLEM: &str = "application/problem+json";

fn answer_schema(component: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{component}")})
}
