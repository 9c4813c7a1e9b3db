//! The HTTP side of a test: requests to one instance as an admin or as a buyer, and the answers they
//! get, kept whole (status, headers, body bytes).

use flashgate::Settings;
use flashgate::auth::BuyerTokens;
use flashgate::state::AppState;
use flashgate_core::CustomerId;
use reqwest::header::{self, HeaderMap};
use reqwest::{Client, Method, RequestBuilder};
use serde_json::{Value, json};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The price of every product a test creates with `Api::product`.
pub const PRICE_VND: i64 = 150_000;

/// A complete answer.
#[derive(Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

impl Answer {
    /// The body as JSON; panics when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the {} answer is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The status and the JSON body (null when there is none), to match both at once.
    pub fn parts(&self) -> (u16, Value) {
        let body = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        (self.status, body)
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The problem's `code`, if the answer is a problem.
    pub fn code(&self) -> Option<String> {
        if self.content_type() != PROBLEM_JSON {
            return None;
        }
        self.json()["code"].as_str().map(str::to_owned)
    }

    /// Asserts the answer is the problem `status` + `code`, with a complete problem body.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code().as_deref()),
            (status, Some(code)),
            "expected a {status} {code} problem, got {self:?}"
        );
        let body = self.json();
        assert_eq!(body["status"], json!(status), "{body}");
        for field in ["type", "title", "detail"] {
            assert!(body[field].is_string(), "the problem lacks {field}: {body}");
        }
    }

    /// Asserts the status and returns the JSON body (null when there is none, as for a 204).
    pub fn assert_status(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "unexpected answer, body {}",
            String::from_utf8_lossy(&self.body)
        );
        if self.body.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Requests to one instance.
#[derive(Clone)]
pub struct Api {
    pub http: Client,
    pub base: String,
    admin_token: String,
    tokens: BuyerTokens,
}

impl Api {
    /// Requests to a running instance, with its own token keys (and so its clock).
    pub fn new(base: String, state: &AppState) -> Self {
        Self {
            http: client(),
            base,
            admin_token: state.settings.admin_token.expose().to_owned(),
            tokens: state.tokens.clone(),
        }
    }

    /// Requests to an instance the test runs by other means, with `settings`, on the system clock.
    pub fn with_settings(base: String, settings: &Settings) -> Self {
        Self {
            http: client(),
            base,
            admin_token: settings.admin_token.expose().to_owned(),
            tokens: BuyerTokens::new(settings.jwt_secret.expose().as_bytes()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    pub async fn send(&self, request: RequestBuilder) -> Answer {
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("a complete body").to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = self.request(Method::GET, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(&self.admin_token)
    }

    /// The admin API's bearer token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The service's buyer-token keys, to mint unusual tokens (expired ones, say).
    pub fn tokens(&self) -> &BuyerTokens {
        &self.tokens
    }

    /// A buyer token for `customer`, valid for an hour by the service's clock.
    pub fn token(&self, customer: &str) -> String {
        let customer = CustomerId::parse(customer).expect("a valid customer id");
        self.tokens
            .mint(&customer, time::Duration::hours(1))
            .expect("a token")
    }

    pub async fn create_product(&self, body: Value) -> Answer {
        self.send(self.admin(Method::POST, "/admin/products").json(&body))
            .await
    }

    /// Creates a product with `stock` units at `PRICE_VND` and an optional per-customer limit;
    /// returns its id.
    pub async fn product(&self, stock: i64, limit: Option<i64>) -> i64 {
        let sku = format!("sku-{}", uuid::Uuid::new_v4().simple());
        let answer = self
            .create_product(json!({
                "sku": sku, "name": "Flash phone", "price_vnd": PRICE_VND,
                "stock": stock, "per_customer_limit": limit,
            }))
            .await;
        answer.assert_status(201)["id"]
            .as_i64()
            .expect("a product id")
    }

    pub async fn restock(&self, product: i64, quantity: i64) -> Answer {
        let path = format!("/admin/products/{product}/restock");
        self.send(
            self.admin(Method::POST, &path)
                .json(&json!({"quantity": quantity})),
        )
        .await
    }

    /// `POST /orders` with a bearer `token`.
    pub async fn place_order(&self, token: &str, key: &str, product: i64, quantity: i64) -> Answer {
        self.send(
            self.request(Method::POST, "/orders")
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&json!({"product_id": product, "quantity": quantity})),
        )
        .await
    }

    /// `POST /orders` as `customer` (a token minted for them).
    pub async fn buy(&self, customer: &str, key: &str, product: i64, quantity: i64) -> Answer {
        self.place_order(&self.token(customer), key, product, quantity)
            .await
    }

    /// One unit for `customer` under a fresh key, which must be won; returns the order's JSON.
    pub async fn win(&self, customer: &str, product: i64) -> Value {
        self.buy(customer, &key(), product, 1)
            .await
            .assert_status(201)
    }

    /// `available` as buyers see it on `GET /products/{id}`.
    pub async fn available(&self, product: i64) -> i64 {
        self.get(&format!("/products/{product}"), None)
            .await
            .assert_status(200)["available"]
            .as_i64()
            .expect("available is a number")
    }

    /// Sends a raw IPN query; returns the `RspCode` answered.
    pub async fn ipn(&self, query: &str) -> String {
        let answer = self
            .get(&format!("/payments/vnpay/ipn?{query}"), None)
            .await;
        answer.assert_status(200)["RspCode"]
            .as_str()
            .expect("an RspCode")
            .to_owned()
    }
}

/// An HTTP client for tests.
pub fn client() -> Client {
    Client::builder()
        // A hung server fails the test instead of hanging the suite.
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .expect("an HTTP client")
}

/// Sends the request and reads its JSON body, whatever the status.
pub async fn json_of(request: RequestBuilder) -> Value {
    request
        .send()
        .await
        .expect("the request reaches the server")
        .json()
        .await
        .expect("a JSON body")
}

/// Sends the request and reads its body as text, whatever the status.
pub async fn text_of(request: RequestBuilder) -> String {
    request
        .send()
        .await
        .expect("the request reaches the server")
        .text()
        .await
        .expect("a text body")
}

/// A fresh idempotency key.
pub fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The payment link of a new order's JSON.
pub fn payment_url(order: &Value) -> &str {
    order["payment_url"]
        .as_str()
        .expect("a new order carries a payment link")
}

/// The id of an order's JSON.
pub fn order_uuid(order: &Value) -> uuid::Uuid {
    uuid::Uuid::parse_str(order["id"].as_str().expect("an order id")).expect("an order UUID")
}
