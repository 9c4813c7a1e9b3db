//! What authenticating a buyer costs each way, measured in one run: verifying an HS256, RS256 and
//! EdDSA token against looking a session up in SQLite, PostgreSQL, their copy on Redis, and the
//! database again while that Redis is down (and the occasional write that slides it), then how soon
//! a revoked session is refused by a second instance. A measurement, not a test: it prints medians
//! and p99s.
//!
//! `cargo run --release -p flashgate --example session_cost -- [samples]` (PostgreSQL from
//! `FLASHGATE_TEST_DATABASE_URL`, Redis from `FLASHGATE_TEST_REDIS_URL`; defaults on 127.0.0.1).
//! `samples`: operations timed per figure (default 3,000); revocations are one in sixty of them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use flashgate::Application;
use flashgate::auth::BuyerTokens;
use flashgate::config::{DEFAULTS, Settings};
use flashgate::state::AppState;
use flashgate_core::session::{SESSION_ID_BYTES, SessionId, Sessions};
use flashgate_core::{Clock, CustomerId, SystemClock};
use flashgate_store::testing::TestDatabase;
use flashgate_testkit::json_of;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const RSA_KEY: &str = include_str!("../tests/it/sessions/keys/rsa-a.key");
const RSA_PUB: &str = include_str!("../tests/it/sessions/keys/rsa-a.pub");
const ED_KEY: &str = include_str!("../tests/it/sessions/keys/ed-a.key");
const ED_PUB: &str = include_str!("../tests/it/sessions/keys/ed-a.pub");

/// Operations timed per figure by default; lookups are sequential, one at a time, so each is one
/// request's cost.
const SAMPLES: usize = 3_000;

fn redis_url() -> String {
    std::env::var("FLASHGATE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn settings(database_url: &str, redis: Option<&str>) -> Settings {
    let mut figment = Figment::from(Toml::string(DEFAULTS))
        .merge(Serialized::default("listen", "127.0.0.1:0"))
        .merge(Serialized::default("database_url", database_url))
        .merge(Serialized::default("limits.enabled", false))
        .merge(Serialized::default("log.filter", "error"))
        .merge(Serialized::default(
            "auth.keys",
            json!([
                {"kid": "rsa", "alg": "RS256", "public_key_pem": RSA_PUB},
                {"kid": "ed", "alg": "EdDSA", "public_key_pem": ED_PUB},
            ]),
        ));
    if let Some(url) = redis {
        let prefix = format!("fgcost:{}:", uuid::Uuid::new_v4().simple());
        figment = figment
            .merge(Serialized::default("redis_url", url))
            .merge(Serialized::default("redis.key_prefix", prefix));
    }
    Settings::from_figment(figment).unwrap()
}

/// Median and p99 of `samples` runs of `op`, in µs.
async fn measure<F, Fut>(samples: usize, mut op: F) -> (f64, f64)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    for i in 0..samples / 10 {
        op(i).await;
    }
    let mut took: Vec<Duration> = Vec::with_capacity(samples);
    for i in 0..samples {
        let started = Instant::now();
        op(i).await;
        took.push(started.elapsed());
    }
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

fn row(what: &str, (median, p99): (f64, f64), note: &str) {
    println!("| {what:<38} | {median:>10.1} | {p99:>10.1} | {note} |");
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    let exp = SystemClock.now().unix_timestamp() + 900;
    jsonwebtoken::encode(&header, &json!({"sub": "cost-buyer", "exp": exp}), key).unwrap()
}

async fn tokens(samples: usize) {
    let settings = settings("sqlite::memory:", None);
    let tokens = BuyerTokens::from_settings(
        settings.jwt_secret.expose().as_bytes(),
        &settings.auth,
        Arc::new(SystemClock),
    )
    .unwrap();
    let hs256 = tokens
        .mint(
            &CustomerId::parse("cost-buyer").unwrap(),
            time::Duration::minutes(15),
        )
        .unwrap();
    let rs256 = sign(
        Algorithm::RS256,
        Some("rsa"),
        &EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap(),
    );
    let eddsa = sign(
        Algorithm::EdDSA,
        Some("ed"),
        &EncodingKey::from_ed_pem(ED_KEY.as_bytes()).unwrap(),
    );
    for (what, token) in [
        ("token: HS256 verify", &hs256),
        ("token: RS256 verify (2048-bit)", &rs256),
        ("token: EdDSA verify (Ed25519)", &eddsa),
    ] {
        let figures = measure(samples, |_| {
            let token = token.clone();
            let tokens = tokens.clone();
            async move {
                tokens.verify(&token).await.unwrap();
            }
        })
        .await;
        row(what, figures, "CPU only, no I/O");
    }
}

fn new_id() -> SessionId {
    let mut bytes = [0_u8; SESSION_ID_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    SessionId::from_random(bytes)
}

/// One lookup per request (within a slide step: a read only), then the write that slides it.
async fn lookups(name: &str, sessions: &Sessions, samples: usize) {
    let id = new_id();
    let customer = CustomerId::parse("cost-buyer").unwrap();
    sessions
        .start(&id, customer, SystemClock.now(), None)
        .await
        .unwrap();
    let figures = measure(samples, |_| {
        let (sessions, id) = (sessions.clone(), id.clone());
        async move {
            sessions.authenticate(&id, SystemClock.now()).await.unwrap();
        }
    })
    .await;
    row(
        &format!("session: {name} lookup"),
        figures,
        "one read per request",
    );
    let key = id.key();
    let base = SystemClock.now() + time::Duration::hours(1);
    let figures = measure(samples / 3, |i| {
        let (sessions, key) = (sessions.clone(), key.clone());
        let until = base + time::Duration::milliseconds(i as i64 + 1);
        async move {
            sessions
                .store
                .extend(&key, until, SystemClock.now())
                .await
                .unwrap();
        }
    })
    .await;
    row(
        &format!("session: {name} slide (write)"),
        figures,
        "once per 1/20 of the idle timeout",
    );
    sessions.end(&id).await.unwrap();
}

struct Running {
    state: AppState,
    url: String,
    stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start(settings: Settings) -> Running {
    let app = Application::build(settings).await.unwrap();
    let url = format!("http://{}", app.local_addr().unwrap());
    let state = app.state().clone();
    let stop = CancellationToken::new();
    tokio::spawn(app.run(stop.clone()));
    Running { state, url, stop }
}

/// One store's figures: its lookups, then its revocation across two instances.
async fn session_store(name: &str, settings: Settings, samples: usize) {
    let a = start(settings.clone()).await;
    let b = start(settings).await;
    lookups(name, &a.state.sessions, samples).await;
    revocation(name, &a, &b, samples / 60).await;
}

/// Two instances on one store: DELETE on the first, then the next request on the second; the time
/// from sending the DELETE to holding the refusal.
async fn revocation(name: &str, a: &Running, b: &Running, revocations: usize) {
    let http = reqwest::Client::new();
    let bearer = format!(
        "Bearer {}",
        a.state
            .tokens
            .mint(
                &CustomerId::parse("cost-buyer").unwrap(),
                time::Duration::minutes(15)
            )
            .unwrap()
    );
    let mut took = Vec::with_capacity(revocations);
    for _ in 0..revocations.max(1) {
        let started: serde_json::Value = json_of(
            http.post(format!("{}/sessions", a.url))
                .header("authorization", &bearer),
        )
        .await;
        let session = format!("Session {}", started["session_id"].as_str().unwrap());
        let get = || {
            http.get(format!("{}/orders", b.url))
                .header("authorization", &session)
        };
        assert_eq!(get().send().await.unwrap().status(), 200);
        let sent = Instant::now();
        let deleted = http
            .delete(format!("{}/sessions/current", a.url))
            .header("authorization", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        assert_eq!(get().send().await.unwrap().status(), 401, "refused at once");
        took.push(sent.elapsed());
    }
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    row(
        &format!("revocation: {name}, A → B refused"),
        (at(0.5), at(0.99)),
        "DELETE on A + next request on B, over HTTP",
    );
}

#[tokio::main]
async fn main() {
    let samples = std::env::args()
        .nth(1)
        .map_or(SAMPLES, |n| n.parse().expect("samples: a number"));
    println!("| what | median µs | p99 µs | note |");
    println!("|---|---:|---:|---|");
    tokens(samples).await;
    let sqlite = TestDatabase::sqlite();
    session_store("SQLite", settings(&sqlite.url, None), samples).await;
    let postgres = TestDatabase::postgres().await;
    session_store("PostgreSQL", settings(&postgres.url, None), samples).await;
    let copied = TestDatabase::postgres().await;
    session_store(
        "PostgreSQL + Redis copies",
        settings(&copied.url, Some(&redis_url())),
        samples,
    )
    .await;
    // Nothing listens on port 1: Redis is down from the start, so every lookup reads the database.
    let outage = TestDatabase::postgres().await;
    session_store(
        "PostgreSQL, Redis down",
        settings(&outage.url, Some("redis://127.0.0.1:1")),
        samples,
    )
    .await;
    println!(
        "| revocation: token | until exp | | | a signed token stays valid until it expires (15 min here); refusing it sooner takes a deny-list, i.e. a lookup |"
    );
}
