//! What this suite's tests share: the shop's JWKS server, keys that sign as the shop would, and
//! instances that trust the test CA.

use axum::Router;
use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use flashgate_testkit::{Answer, Backend, Instance, Spawn, TestDatabase};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// The test command's private CA, which signed the JWKS server's certificate.
pub fn ca() -> String {
    crate::going_live::required_env("FLASHGATE_TEST_TLS_CA")
}

#[derive(Default)]
struct Shared {
    keys: Mutex<Vec<Value>>,
    cache_control: Mutex<Option<String>>,
    garbage: AtomicBool,
    /// How long each answer takes, in ms.
    delay_ms: AtomicU64,
    requests: AtomicU64,
}

/// The shop's JWKS document over HTTPS: the keys and Cache-Control the test sets, every request
/// counted; it can stop (connections refused, open ones closed), answer slowly and answer garbage.
pub struct JwksServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl JwksServer {
    pub async fn start(keys: &[&Signer], cache_control: Option<&str>) -> Self {
        let shared = Arc::new(Shared::default());
        let router = Router::new()
            .route("/.well-known/jwks.json", get(document))
            .with_state(shared.clone());
        let (addr, stop) = flashgate_testkit::serve_tls(router, std::path::Path::new(&ca())).await;
        let server = Self { addr, shared, stop };
        server.publish(keys);
        server.cache_control(cache_control);
        server
    }

    pub fn url(&self) -> String {
        format!(
            "https://localhost:{}/.well-known/jwks.json",
            self.addr.port()
        )
    }

    /// The keys the document lists from now on.
    pub fn publish(&self, keys: &[&Signer]) {
        self.publish_raw(keys.iter().map(|key| key.jwk()).collect());
    }

    pub fn publish_raw(&self, keys: Vec<Value>) {
        *self.shared.keys.lock().unwrap() = keys;
    }

    pub fn cache_control(&self, value: Option<&str>) {
        *self.shared.cache_control.lock().unwrap() = value.map(str::to_owned);
    }

    /// Each answer from now on takes this long (a slow identity provider).
    pub fn answer_after(&self, delay: std::time::Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap();
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    pub fn answer_garbage(&self, garbage: bool) {
        self.shared.garbage.store(garbage, Ordering::SeqCst);
    }

    /// Requests for the document so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn document(State(shared): State<Arc<Shared>>) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    if shared.garbage.load(Ordering::SeqCst) {
        return "<html>502 Bad Gateway</html>".into_response();
    }
    let body = axum::Json(json!({"keys": *shared.keys.lock().unwrap()}));
    match shared.cache_control.lock().unwrap().clone() {
        Some(value) => ([(CACHE_CONTROL, value)], body).into_response(),
        None => body.into_response(),
    }
}

/// A key the shop signs tokens with, and its public JWK.
pub struct Signer {
    pub kid: String,
    pub alg: Algorithm,
    key: EncodingKey,
    /// Extra members of its JWK (`use`, `alg`).
    pub extra: Value,
}

impl Signer {
    /// RS256 with a fresh 2048-bit key.
    pub fn rsa(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let key = EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).unwrap();
        Self::new(kid, Algorithm::RS256, key)
    }

    /// ES256 with a fresh P-256 key.
    pub fn ec(kid: &str) -> Self {
        Self::ec_with_public_pem(kid).0
    }

    /// ES256 with a fresh P-256 key, and its public key in PEM (for `[[auth.keys]]`).
    pub fn ec_with_public_pem(kid: &str) -> (Self, String) {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        (Self::new(kid, Algorithm::ES256, key), pair.public_key_pem())
    }

    /// EdDSA with a fresh Ed25519 key: 32 random bytes in a PKCS#8 envelope.
    pub fn ed(kid: &str) -> Self {
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&rand::random::<[u8; 32]>());
        Self::new(kid, Algorithm::EdDSA, EncodingKey::from_ed_der(&der))
    }

    fn new(kid: &str, alg: Algorithm, key: EncodingKey) -> Self {
        Self {
            kid: kid.to_owned(),
            alg,
            key,
            extra: json!({"use": "sig"}),
        }
    }

    /// The same key under another kid.
    pub fn as_kid(&self, kid: &str) -> Self {
        Self {
            kid: kid.to_owned(),
            alg: self.alg,
            key: self.key.clone(),
            extra: self.extra.clone(),
        }
    }

    /// Its public JWK as a JWKS document lists it.
    pub fn jwk(&self) -> Value {
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&self.key, self.alg).unwrap()).unwrap();
        let object = jwk.as_object_mut().unwrap();
        object.remove("alg");
        object.insert("kid".into(), json!(self.kid));
        object.extend(self.extra.as_object().unwrap().clone());
        jwk
    }

    /// `Authorization: Bearer …` for `customer`, valid ten minutes, with `claims` added.
    pub fn bearer(&self, customer: &str, claims: Value) -> String {
        self.bearer_as(self.alg, &self.kid, customer, claims)
    }

    /// A token whose header says `alg` and `kid`, whatever this key is.
    pub fn bearer_as(&self, alg: Algorithm, kid: &str, customer: &str, claims: Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        let mut body = json!({
            "sub": customer,
            "exp": time::OffsetDateTime::now_utc().unix_timestamp() + 600,
        });
        body.as_object_mut()
            .unwrap()
            .extend(claims.as_object().unwrap().clone());
        format!(
            "Bearer {}",
            jsonwebtoken::encode(&header, &body, &self.key).unwrap()
        )
    }
}

/// Instances trusting the test CA for `jwks_url`, plus `overrides`.
pub fn spawn(jwks_url: &str, overrides: &[(&str, Value)]) -> Spawn {
    let mut spawn = Spawn::new(Backend::Sqlite)
        .set("limits.enabled", false)
        .set("auth.jwks_url", jwks_url)
        .set("auth.jwks_root_ca_file", ca());
    for (key, value) in overrides {
        spawn = spawn.set(key, value);
    }
    spawn
}

pub async fn instance(db: &TestDatabase, jwks_url: &str, overrides: &[(&str, Value)]) -> Instance {
    spawn(jwks_url, overrides).instance(db).await
}

/// `GET /orders` with this Authorization header: a route only a buyer reaches.
pub async fn orders(instance: &Instance, authorization: &str) -> Answer {
    let api = &instance.api;
    api.send(
        api.request(Method::GET, "/orders")
            .header("authorization", authorization),
    )
    .await
}

/// Fetches the instance made since it started, as it counts them.
pub fn fetches(instance: &Instance) -> flashgate::auth::jwks::JwksFetches {
    instance.state.tokens.jwks().unwrap().fetches()
}
