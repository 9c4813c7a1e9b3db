//! Requests to one instance whose every answer is checked against the contract as it arrives.

use super::document::Contract;
use flashgate_testkit::{Answer, Api};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

/// Requests to one instance whose answers are all checked against the contract.
pub struct Checked<'a> {
    pub api: &'a Api,
    pub contract: &'a Contract,
}

impl Checked<'_> {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Answer {
        let answer = self
            .api
            .send(build(self.api.request(method.clone(), path)))
            .await;
        self.contract
            .check(&method, path.split('?').next().unwrap_or(path), &answer);
        answer
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, |r| r).await
    }

    pub async fn buyer(&self, method: Method, path: &str, token: &str) -> Answer {
        self.call(method, path, |r| r.bearer_auth(token)).await
    }

    pub async fn admin(&self, method: Method, path: &str, body: Value) -> Answer {
        self.call(method, path, |r| r.bearer_auth(ADMIN_TOKEN).json(&body))
            .await
    }

    pub async fn purchase(&self, token: &str, key: &str, body: Value) -> Answer {
        self.call(Method::POST, "/orders", |r| {
            r.bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&body)
        })
        .await
    }

    /// The answers every JSON-body route gives to a body it cannot read or take.
    pub async fn refuse_bodies(&self, method: Method, path: &str, auth: &str, key: Option<&str>) {
        let with = |r: RequestBuilder| {
            let r = r.bearer_auth(auth);
            match key {
                Some(key) => r.header("Idempotency-Key", key),
                None => r,
            }
        };
        let cases: [(u16, Option<&str>, String); 5] = [
            (400, Some("application/json"), "{\"oops".to_owned()),
            (415, Some("text/plain"), "{}".to_owned()),
            (415, None, "{}".to_owned()),
            (
                413,
                Some("application/json"),
                format!("\"{}\"", "x".repeat(20_000)),
            ),
            (422, Some("application/json"), "[1, 2]".to_owned()),
        ];
        for (status, content_type, body) in cases {
            let answer = self
                .call(method.clone(), path, |r| {
                    let r = with(r).body(body);
                    match content_type {
                        Some(ct) => r.header(CONTENT_TYPE, ct),
                        None => r,
                    }
                })
                .await;
            assert_eq!(answer.status, status, "{answer:?}");
        }
        for token in [None, Some("not-a-token")] {
            let answer = self
                .call(method.clone(), path, |r| {
                    let r = r.json(&json!({}));
                    match token {
                        Some(t) => r.bearer_auth(t),
                        None => r,
                    }
                })
                .await;
            answer.assert_problem(401, "unauthorized");
        }
    }
}

/// The admin token of the defaults file, which the test settings keep.
pub const ADMIN_TOKEN: &str = "dev-admin-token-change-me";
