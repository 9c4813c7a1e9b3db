//! The shop's signing keys from its JWKS documents (`auth.jwks_url`): fetched over HTTPS, each answer
//! kept as its Cache-Control allows and fetched again in the background once stale, and fetched on
//! demand when a token names a kid no key has, at most once per `auth.jwks_min_refresh_seconds` with
//! concurrent askers sharing the one fetch, so forged kids cannot make flashgate hammer the shop. A
//! failed fetch keeps the last good keys. A known kid costs one read lock and nothing network-bound.

mod document;

use super::settings::AuthSettings;
use super::tokens::{Expected, Verifier};
use document::{Document, lifetime, usable};
use futures_util::future::join_all;
use reqwest::header::ACCEPT;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A JWKS document is a few keys; anything past this is not one.
const MAX_JWKS_BYTES: usize = 1 << 20;

type Keys = HashMap<String, Arc<Verifier>>;

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("{0}")]
    Request(#[from] reqwest::Error),
    #[error("answered {0}")]
    Status(u16),
    #[error("the answer is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("the answer is not a JWKS document: {0}")]
    NotJwks(#[from] serde_json::Error),
}

/// One `auth.jwks_url`: the keys of its last good answer and when it is fetched again.
struct Source {
    url: reqwest::Url,
    keys: Keys,
    due: Instant,
    /// Failed fetches in a row, which space the next ones out.
    failures: u32,
}

/// Held across every fetch: fetches never overlap, and askers for an unknown kid wait for the one
/// in flight instead of starting their own.
struct Flight {
    sources: Vec<Source>,
    /// When the last fetch asked for by an unknown kid started.
    last_on_demand: Option<Instant>,
}

/// Fetches since start, by outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JwksFetches {
    pub fetched: u64,
    pub failed: u64,
}

pub struct Jwks {
    client: reqwest::Client,
    expected: Expected,
    min_refresh: Duration,
    default_max_age: Duration,
    /// Kids of `auth.keys`, which win over a JWKS key of the same kid.
    configured: HashSet<String>,
    /// What tokens are checked with: every source's keys, replaced whole after each fetch.
    keys: RwLock<Arc<Keys>>,
    flight: Mutex<Flight>,
    /// Wakes the background refresher when a source fell due sooner than it planned.
    rescheduled: Notify,
    fetched: AtomicU64,
    failed: AtomicU64,
}

impl Jwks {
    /// The keys of `auth.jwks_url`, fetched once before this returns: a fetch that fails (within
    /// `auth.jwks_timeout_ms`) is logged and the service starts without that document's keys,
    /// which `refresh_in_background` keeps fetching.
    pub async fn start(auth: &AuthSettings) -> anyhow::Result<Arc<Self>> {
        let builder = reqwest::Client::builder()
            // A redirect could lead to plain http or elsewhere: the configured URL is the one asked.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(auth.jwks_timeout)
            .connect_timeout(auth.jwks_timeout)
            .user_agent("flashgate-jwks");
        let builder = crate::tls::trusting_root_ca(
            builder,
            "auth.jwks_root_ca_file",
            &auth.jwks_root_ca_file,
        )?;
        let now = Instant::now();
        let sources = auth
            .jwks_url
            .iter()
            .map(|url| {
                Ok(Source {
                    url: reqwest::Url::parse(url)
                        .map_err(|e| anyhow::anyhow!("auth.jwks_url: `{url}`: {e}"))?,
                    keys: Keys::new(),
                    due: now,
                    failures: 0,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let jwks = Arc::new(Self {
            client: builder.build()?,
            expected: Expected::from_settings(auth),
            min_refresh: auth.jwks_min_refresh,
            default_max_age: auth.jwks_max_age,
            configured: auth.keys.iter().map(|key| key.kid.clone()).collect(),
            keys: RwLock::default(),
            flight: Mutex::new(Flight {
                sources,
                last_on_demand: None,
            }),
            rescheduled: Notify::new(),
            fetched: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        let mut flight = jwks.flight.lock().await;
        jwks.refresh(&mut flight, false).await;
        drop(flight);
        tracing::info!(keys = jwks.current().len(), "JWKS keys loaded");
        Ok(jwks)
    }

    fn current(&self) -> Arc<Keys> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The key tokens of `kid` are checked with now, without fetching.
    pub(super) fn lookup(&self, kid: &str) -> Option<Arc<Verifier>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(kid)
            .cloned()
    }

    /// The kids tokens may name now.
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.current().keys().cloned().collect();
        kids.sort();
        kids
    }

    pub fn fetches(&self) -> JwksFetches {
        JwksFetches {
            fetched: self.fetched.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// The key of `kid`; for a kid no key has, after fetching every document again unless that was
    /// done for an unknown kid less than `auth.jwks_min_refresh_seconds` ago.
    pub(super) async fn verifier(self: &Arc<Self>, kid: &str) -> Option<Arc<Verifier>> {
        if let Some(found) = self.lookup(kid) {
            return Some(found);
        }
        // A task of its own, so a client that hangs up cannot cancel the fetch others wait for
        // after it has used up the interval.
        let (jwks, kid) = (self.clone(), kid.to_owned());
        tokio::spawn(async move { jwks.fetch_for_unknown(&kid).await })
            .await
            .ok()
            .flatten()
    }

    async fn fetch_for_unknown(&self, kid: &str) -> Option<Arc<Verifier>> {
        let mut flight = self.flight.lock().await;
        // The fetch this waited for may have brought it.
        if let Some(found) = self.lookup(kid) {
            return Some(found);
        }
        let now = Instant::now();
        if flight
            .last_on_demand
            .is_some_and(|at| now.duration_since(at) < self.min_refresh)
        {
            return None;
        }
        flight.last_on_demand = Some(now);
        self.refresh(&mut flight, false).await;
        drop(flight);
        self.lookup(kid)
    }

    /// Fetches each document when its answer is stale, until `stop`.
    pub async fn refresh_in_background(self: Arc<Self>, stop: CancellationToken) {
        loop {
            let next = self.flight.lock().await.sources.iter().map(|s| s.due).min();
            let Some(next) = next else {
                return;
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.rescheduled.notified() => continue,
                () = tokio::time::sleep_until(next) => {}
            }
            let mut flight = self.flight.lock().await;
            self.refresh(&mut flight, true).await;
        }
    }

    /// Fetches every document (only the stale ones when `only_due`) at once, then publishes the keys.
    async fn refresh(&self, flight: &mut Flight, only_due: bool) {
        let now = Instant::now();
        let due: Vec<&mut Source> = flight
            .sources
            .iter_mut()
            .filter(|source| !only_due || source.due <= now)
            .collect();
        let answers = join_all(due.iter().map(|source| self.fetch(source.url.clone()))).await;
        for (source, answer) in due.into_iter().zip(answers) {
            match answer {
                Ok((keys, lifetime)) => {
                    self.fetched.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("flashgate_jwks_fetches_total", "outcome" => "fetched")
                        .increment(1);
                    source.keys = keys;
                    source.failures = 0;
                    source.due = Instant::now() + lifetime;
                }
                Err(error) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("flashgate_jwks_fetches_total", "outcome" => "failed")
                        .increment(1);
                    source.failures = source.failures.saturating_add(1);
                    let wait = self.retry_wait(source.failures);
                    source.due = Instant::now() + wait;
                    tracing::warn!(url = %source.url, %error, kept = source.keys.len(), retry_in = ?wait,
                        "the JWKS could not be fetched; its last good keys stay in use");
                }
            }
        }
        let mut merged = Keys::new();
        for source in &flight.sources {
            for (kid, verifier) in &source.keys {
                // The configured keys win, then the first document that has the kid.
                if !self.configured.contains(kid) && !merged.contains_key(kid) {
                    merged.insert(kid.clone(), verifier.clone());
                }
            }
        }
        metrics::gauge!("flashgate_jwks_keys").set(merged.len() as f64);
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(merged);
        self.rescheduled.notify_one();
    }

    /// After `failures` failed fetches in a row: the least interval, doubled each time, up to the
    /// lifetime of an answer that says nothing.
    fn retry_wait(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        self.min_refresh
            .saturating_mul(1 << doublings)
            .min(self.default_max_age)
    }

    async fn fetch(&self, url: reqwest::Url) -> Result<(Keys, Duration), FetchError> {
        let mut response = self
            .client
            .get(url.clone())
            .header(ACCEPT, "application/json, application/jwk-set+json")
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let lifetime = lifetime(response.headers(), self.default_max_age, self.min_refresh);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let document: Document = serde_json::from_slice(&body)?;
        let mut keys = Keys::new();
        for value in document.keys {
            match usable(value, &self.expected) {
                Ok((kid, verifier)) => {
                    keys.entry(kid).or_insert_with(|| Arc::new(verifier));
                }
                Err(why) => tracing::debug!(%url, why, "a JWKS key is skipped"),
            }
        }
        Ok((keys, lifetime))
    }
}
