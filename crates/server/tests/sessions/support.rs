//! What both files of this suite share: where sessions are kept, instances started on a driven
//! clock, and requests made with a given Authorization header.

use crate::common::{self, Instance, TestRedis};
use flashgate_core::ManualClock;
use flashgate_store::Store;
use flashgate_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::sync::Arc;

/// Where a test's sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keeper {
    Sqlite,
    Postgres,
    Redis,
}

/// A database for one test, and the shared Redis prefix when sessions live on Redis.
pub struct Ground {
    pub db: TestDatabase,
    pub redis: Option<TestRedis>,
}

impl Ground {
    pub async fn new(keeper: Keeper) -> Self {
        Self {
            db: common::database(keeper == Keeper::Postgres).await,
            redis: (keeper == Keeper::Redis).then(TestRedis::new),
        }
    }

    /// Settings of an instance on this ground, plus `overrides`.
    pub fn overrides(&self, overrides: &[(&'static str, Value)]) -> Vec<(&'static str, Value)> {
        // Rate limits have their own suite; a driven clock must not trip them.
        let mut all = vec![("limits.enabled", json!(false))];
        if let Some(redis) = &self.redis {
            all.push(("redis_url", json!(redis.url())));
            all.push(("redis.key_prefix", json!(redis.prefix)));
        }
        all.extend_from_slice(overrides);
        all
    }

    pub async fn start(
        &self,
        clock: &Arc<ManualClock>,
        overrides: &[(&'static str, Value)],
    ) -> Instance {
        self.start_adapted(clock, overrides, |s| s).await
    }

    pub async fn start_adapted(
        &self,
        clock: &Arc<ManualClock>,
        overrides: &[(&'static str, Value)],
        adapt: impl FnOnce(Store) -> Store,
    ) -> Instance {
        let settings = common::settings(&self.db.url, &self.overrides(overrides));
        Instance::start_with(settings, clock.clone(), adapt).await
    }
}

/// An answer: status and JSON body (null when there is none).
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.body["code"].as_str()),
            (status, Some(code)),
            "expected a {status} {code} problem, got {} {}",
            self.status,
            self.body
        );
    }

    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
        &self.body
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    Answer {
        status,
        body: response.json::<Value>().await.unwrap_or(Value::Null),
    }
}

/// `GET /orders` with this Authorization header: a route only a buyer reaches.
pub async fn orders(instance: &Instance, authorization: &str) -> Answer {
    let response = common::client()
        .get(format!("{}/orders", instance.url))
        .header("authorization", authorization)
        .send()
        .await
        .unwrap();
    answer(response).await
}

/// `POST /sessions`, with an Authorization header or a JSON body.
pub async fn start_session(
    instance: &Instance,
    authorization: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut request = common::client().post(format!("{}/sessions", instance.url));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    answer(request.send().await.unwrap()).await
}

/// A session for `customer`, started with a token this instance minted.
pub async fn session_for(instance: &Instance, customer: &str) -> String {
    let bearer = format!("Bearer {}", instance.token(customer));
    let started = start_session(instance, Some(&bearer), None).await;
    let body = started.assert_status(201);
    assert_eq!(body["customer_id"], json!(customer));
    format!("Session {}", body["session_id"].as_str().unwrap())
}

pub async fn end_session(instance: &Instance, authorization: &str) -> Answer {
    let response = common::client()
        .delete(format!("{}/sessions/current", instance.url))
        .header("authorization", authorization)
        .send()
        .await
        .unwrap();
    answer(response).await
}
