//! What a key from the shop's JWKS costs against the same key configured in `[[auth.keys]]`, measured
//! in one run: verifying a token whose kid is known (a read lock more, nothing network-bound), then
//! a crowd of tokens naming forged kids at once, and how many fetches of the JWKS it made. A
//! measurement, not a test: it prints medians and p99s.
//!
//! `cargo run --release -p flashgate --example jwks_cost -- [samples]` (the JWKS is served on
//! loopback by the example itself). `samples`: verifications timed per figure (default 3,000).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::routing::get;
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use flashgate::auth::BuyerTokens;
use flashgate::auth::jwks::Jwks;
use flashgate::config::{DEFAULTS, Settings};
use flashgate_core::{Clock, SystemClock};
use futures_util::future::join_all;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ED_KEY: &str = include_str!("../tests/it/sessions/keys/ed-a.key");
const ED_PUB: &str = include_str!("../tests/it/sessions/keys/ed-a.pub");
const SAMPLES: usize = 3_000;
const CROWD: usize = 10_000;

fn sign(alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    let exp = SystemClock.now().unix_timestamp() + 900;
    jsonwebtoken::encode(&header, &json!({"sub": "cost-buyer", "exp": exp}), key).unwrap()
}

fn jwk(kid: &str, key: &EncodingKey, alg: Algorithm) -> Value {
    let mut jwk = serde_json::to_value(Jwk::from_encoding_key(key, alg).unwrap()).unwrap();
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    jwk
}

/// Median and p99 of `samples` verifications of `token`, in µs.
async fn measure(tokens: &BuyerTokens, token: &str, samples: usize) -> (f64, f64) {
    for _ in 0..samples / 10 {
        tokens.verify(token).await.unwrap();
    }
    let mut took: Vec<Duration> = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        tokens.verify(token).await.unwrap();
        took.push(started.elapsed());
    }
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

fn row(what: &str, (median, p99): (f64, f64)) {
    println!("| {what:<40} | {median:>10.1} | {p99:>10.1} |");
}

#[tokio::main]
async fn main() {
    let samples = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("samples: a number"))
        .unwrap_or(SAMPLES);
    let ed = EncodingKey::from_ed_pem(ED_KEY.as_bytes()).unwrap();
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ec = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
    let document = json!({"keys": [
        jwk("jwks-ed", &ed, Algorithm::EdDSA),
        jwk("jwks-ec", &ec, Algorithm::ES256),
    ]});
    let requests = Arc::new(AtomicU64::new(0));
    let counted = requests.clone();
    let app = Router::new().route(
        "/jwks.json",
        get(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            let document = document.clone();
            async move { axum::Json(document) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let keys = json!([
        {"kid": "static-ed", "alg": "EdDSA", "public_key_pem": ED_PUB},
        {"kid": "static-ec", "alg": "ES256", "public_key_pem": pair.public_key_pem()},
    ]);
    let settings = Settings::from_figment(
        Figment::from(Toml::string(DEFAULTS))
            .merge(Serialized::default("auth.keys", keys))
            .merge(Serialized::default("auth.jwks_url", &url)),
    )
    .unwrap();
    let tokens = BuyerTokens::from_settings(
        settings.jwt_secret.expose().as_bytes(),
        &settings.auth,
        Arc::new(SystemClock),
    )
    .unwrap()
    .with_jwks(Jwks::start(&settings.auth).await.unwrap());

    println!("| verify, {samples} one after another | median µs | p99 µs |");
    println!("|---|---:|---:|");
    for (what, alg, kid, key) in [
        ("EdDSA, configured key", Algorithm::EdDSA, "static-ed", &ed),
        ("EdDSA, JWKS key", Algorithm::EdDSA, "jwks-ed", &ed),
        ("ES256, configured key", Algorithm::ES256, "static-ec", &ec),
        ("ES256, JWKS key", Algorithm::ES256, "jwks-ec", &ec),
    ] {
        row(what, measure(&tokens, &sign(alg, kid, key), samples).await);
    }

    let before = requests.load(Ordering::Relaxed);
    let forged: Vec<String> = (0..CROWD)
        .map(|_| sign(Algorithm::EdDSA, &uuid::Uuid::new_v4().to_string(), &ed))
        .collect();
    let started = Instant::now();
    let refused = join_all(forged.iter().map(|token| {
        let tokens = tokens.clone();
        let token = token.clone();
        tokio::spawn(async move { tokens.verify(&token).await.is_err() })
    }))
    .await
    .into_iter()
    .filter(|refused| matches!(refused, Ok(true)))
    .count();
    println!(
        "\n{CROWD} tokens naming forged kids at once: {refused} refused in {:.1} ms, {} fetch(es) of the JWKS",
        started.elapsed().as_secs_f64() * 1e3,
        requests.load(Ordering::Relaxed) - before,
    );
}
