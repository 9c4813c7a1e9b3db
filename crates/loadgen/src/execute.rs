//! Making one request of a scenario and recording what came back: latency, status, problem `code`,
//! and for purchases the order it named and whether a retry with the same key named the same order.

use crate::ledger::{Attempt, Ledger, Won};
use crate::recorder::{Answer, Recorder};
use crate::target::Targets;
use crate::tokens::Crowd;
use crate::workload::Action;
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

/// What every request of a run shares.
pub struct Context {
    pub targets: Targets,
    pub crowd: Arc<Crowd>,
    pub recorder: Arc<Recorder>,
    pub ledger: Arc<Ledger>,
    /// Makes this run's idempotency keys unique in a database that outlives the run.
    pub run_id: String,
}

/// The fields of an order or a problem this tool reads, borrowed from the answer's bytes (no copy of
/// an order's id and payment link per answer); everything else is ignored.
#[derive(Debug, Default, Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    payment_url: Option<Cow<'a, str>>,
}

struct Reply {
    status: Option<u16>,
    /// The answer's bytes, read as a [`Body`] when they are needed.
    bytes: Bytes,
    parse: bool,
    retry_after: bool,
    timed_out: bool,
}

impl Reply {
    fn body(&self) -> Body<'_> {
        match self.status {
            Some(status) if self.parse || status >= 400 => {
                serde_json::from_slice(&self.bytes).unwrap_or_default()
            }
            _ => Body::default(),
        }
    }

    /// The order a 201 named.
    fn order<'a>(&self, body: &'a Body<'_>) -> Option<&'a str> {
        match (self.status, &body.id) {
            (Some(201), Some(id)) => Some(id),
            _ => None,
        }
    }

    fn attempt(&self, body: &Body<'_>) -> Attempt {
        match (self.status, body.code.as_deref()) {
            (Some(201), _)
            | (Some(409), Some("sold_out"))
            | (Some(403), Some("limit_exceeded")) => Attempt::Definitive,
            (None, _) | (Some(429), _) => Attempt::Unknown,
            (Some(s), _) if s >= 500 => Attempt::Unknown,
            _ => Attempt::Other,
        }
    }

    fn answer<'a>(&self, body: &'a Body<'_>, sold: bool) -> Answer<'a> {
        Answer {
            status: self.status,
            code: body.code.as_deref(),
            sold,
            retry_after: self.retry_after,
            timed_out: self.timed_out,
        }
    }

    fn failed(error: &reqwest::Error) -> Self {
        Self {
            status: None,
            bytes: Bytes::new(),
            parse: false,
            retry_after: false,
            timed_out: error.is_timeout(),
        }
    }
}

async fn read(response: Result<reqwest::Response, reqwest::Error>, parse: bool) -> Reply {
    let response = match response {
        Ok(response) => response,
        Err(error) => return Reply::failed(&error),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .contains_key(reqwest::header::RETRY_AFTER);
    // The body is always read to the end so the connection goes back to the pool.
    match response.bytes().await {
        Ok(bytes) => Reply {
            status: Some(status),
            bytes,
            parse,
            retry_after,
            timed_out: false,
        },
        Err(error) => Reply::failed(&error),
    }
}

impl Context {
    /// The `Idempotency-Key` of request `seq`: its own, or, for a customer's repeated purchase, the one
    /// key that customer always uses.
    fn key(&self, seq: u64, customer: usize, per_customer: bool) -> String {
        if per_customer {
            format!("{}-c{customer}", self.run_id)
        } else {
            format!("{}-{seq}", self.run_id)
        }
    }

    async fn purchase(&self, customer: usize, key: &str, product_id: i64, quantity: i64) -> Reply {
        let response = self
            .targets
            .client
            .post(format!("{}/orders", self.targets.base()))
            .header(AUTHORIZATION, self.crowd.authorization(customer))
            .header("idempotency-key", key)
            // Two integers: written as text, not through a JSON value tree per request.
            .header(CONTENT_TYPE, "application/json")
            .body(format!(
                r#"{{"product_id":{product_id},"quantity":{quantity}}}"#
            ))
            .send()
            .await;
        read(response, true).await
    }

    /// Sends request `seq`, meant to leave at `intended`, and records its answer.
    pub async fn perform(&self, seq: u64, action: Action, intended: Instant) {
        let sent = Instant::now();
        match action {
            Action::Get { path } => {
                let response = self
                    .targets
                    .client
                    .get(format!("{}{path}", self.targets.base()))
                    .send()
                    .await;
                let reply = read(response, false).await;
                let body = reply.body();
                self.recorder
                    .record(intended, sent, Instant::now(), reply.answer(&body, false));
            }
            Action::Purchase {
                product_id,
                customer,
                quantity,
                retry,
                key_per_customer,
            } => {
                let key = self.key(seq, customer, key_per_customer);
                let reply = self.purchase(customer, &key, product_id, quantity).await;
                let done = Instant::now();
                let body = reply.body();
                let attempt = reply.attempt(&body);
                self.ledger.attempt(customer, product_id, quantity, attempt);
                let first_order = reply.order(&body);
                let sold = first_order.is_some_and(|id| {
                    self.ledger.won(&key, id, || Won {
                        order_id: id.to_owned(),
                        customer,
                        product_id,
                        quantity,
                        payment_url: body.payment_url.as_deref().map(str::to_owned),
                    })
                });
                self.recorder
                    .record(intended, sent, done, reply.answer(&body, sold));
                if retry {
                    let first = (attempt, first_order.map(str::to_owned));
                    self.retry(customer, &key, product_id, quantity, first)
                        .await;
                }
            }
        }
    }

    /// The deliberate retry: same key, same body. After a 201 it must replay the same order; after
    /// an answer that decided nothing it is the customer's demand heard again.
    async fn retry(
        &self,
        customer: usize,
        key: &str,
        product_id: i64,
        quantity: i64,
        (first_attempt, first_order): (Attempt, Option<String>),
    ) {
        let sent = Instant::now();
        let again = self.purchase(customer, key, product_id, quantity).await;
        let done = Instant::now();
        let body = again.body();
        let again_order = again.order(&body);
        if let Some(first) = &first_order {
            self.ledger.retried(key, first, again_order, again.status);
        }
        let sold = again_order.is_some_and(|id| {
            self.ledger.won(key, id, || Won {
                order_id: id.to_owned(),
                customer,
                product_id,
                quantity,
                payment_url: body.payment_url.as_deref().map(str::to_owned),
            })
        });
        if first_attempt != Attempt::Definitive {
            self.ledger
                .attempt(customer, product_id, quantity, again.attempt(&body));
        }
        self.recorder
            .record(sent, sent, done, again.answer(&body, sold));
    }
}
