//! What both files of this suite share: where sessions are kept, instances started on a driven
//! clock, and requests made with a given Authorization header.

use flashgate_core::ManualClock;
use flashgate_testkit::{Answer, Backend, Instance, Spawn, TestDatabase, TestRedis};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

/// Where a test's sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keeper {
    Sqlite,
    Postgres,
    Redis,
    RedisCluster,
}

/// A database for one test, and the shared Redis prefix when sessions live on Redis.
pub struct Ground {
    pub db: TestDatabase,
    pub redis: Option<TestRedis>,
}

impl Ground {
    pub async fn new(keeper: Keeper) -> Self {
        Self {
            db: match keeper {
                Keeper::Postgres => TestDatabase::postgres().await,
                Keeper::Sqlite | Keeper::Redis | Keeper::RedisCluster => TestDatabase::sqlite(),
            },
            redis: match keeper {
                Keeper::Redis => Some(TestRedis::new()),
                Keeper::RedisCluster => Some(TestRedis::cluster()),
                Keeper::Sqlite | Keeper::Postgres => None,
            },
        }
    }

    /// Instances on this ground, on `clock`, plus `overrides`.
    pub fn spawn(&self, clock: &Arc<ManualClock>, overrides: &[(&str, Value)]) -> Spawn {
        let backend = if self.db.is_postgres() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        // Rate limits have their own tests; a driven clock must not trip them.
        let mut spawn = Spawn::new(backend)
            .clock(clock.clone())
            .set("limits.enabled", false);
        if let Some(redis) = &self.redis {
            spawn = spawn.redis(redis);
        }
        for (key, value) in overrides {
            spawn = spawn.set(key, value);
        }
        spawn
    }

    pub async fn start(&self, clock: &Arc<ManualClock>, overrides: &[(&str, Value)]) -> Instance {
        self.spawn(clock, overrides).instance(&self.db).await
    }
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

/// `POST /sessions`, with an Authorization header or a JSON body.
pub async fn start_session(
    instance: &Instance,
    authorization: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let api = &instance.api;
    let mut request = api.request(Method::POST, "/sessions");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    api.send(request).await
}

/// A session for `customer`, started with a token this instance minted.
pub async fn session_for(instance: &Instance, customer: &str) -> String {
    // A token that outlives the sessions of these tests, which never outlive their token.
    let customer_id = flashgate_core::CustomerId::parse(customer).unwrap();
    let token = instance
        .api
        .tokens()
        .mint(&customer_id, time::Duration::days(100))
        .unwrap();
    let bearer = format!("Bearer {token}");
    let started = start_session(instance, Some(&bearer), None).await;
    let body = started.assert_status(201);
    assert_eq!(body["customer_id"], json!(customer));
    format!("Session {}", body["session_id"].as_str().unwrap())
}

pub async fn end_session(instance: &Instance, authorization: &str) -> Answer {
    let api = &instance.api;
    api.send(
        api.request(Method::DELETE, "/sessions/current")
            .header("authorization", authorization),
    )
    .await
}
