//! flashgate's integration suite, one binary: every test drives real instances over HTTP (built by
//! `flashgate_testkit::Spawn`), each against a database of its own (a fresh PostgreSQL database or
//! SQLite file) and its own Redis key prefix or private `redis-server`, so tests run in parallel
//! without disturbing each other. One module per suite:
//! - `service`: purchases, limits, idempotency, catalogue, timeouts, outages, shutdown, logs, health;
//! - `payments`: the VNPay flow with the bundled simulator, callbacks and the payment workers;
//! - `under_load`: the gate across instances with Redis flushed or killed, group commit, cached reads,
//!   rate limits and shedding;
//! - `sessions`: buyers' tokens and server-side sessions;
//! - `jwks`: buyers' tokens signed with keys from the shop's JWKS, served over HTTPS;
//! - `scale`: many instances and many products through PgBouncer in transaction pooling mode;
//! - `contract`: the OpenAPI document against the router and the real answers;
//! - `demo`: `flashgate demo` end to end;
//! - `events`: the outbox of order events and the events feed;
//! - `webhooks`: endpoints, signed deliveries through failures, SSRF refusals;
//! - `going_live`: TLS to PostgreSQL and Redis, refusals off loopback, callbacks that are not ours;
//! - `commands`: the command line's output.
//!
//! Needs PostgreSQL at `FLASHGATE_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! as a superuser, PgBouncer in transaction pooling mode in front of it at `FLASHGATE_TEST_PGBOUNCER_URL`
//! (default `postgres://postgres@127.0.0.1:56432/postgres`), Redis at `FLASHGATE_TEST_REDIS_URL` and `redis-server` on the PATH; the outage tests
//! also log the app in as the role `flashgate_it_app`, which they create, without a password (trust
//! authentication on the test server).

// Scenario helpers are shared by many tests and are not themselves tests, so clippy's
// allow-unwrap-in-tests does not reach them; a broken expectation should fail loudly all the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
extern crate flashgate_testkit;

mod commands;
mod contract;
mod demo;
mod events;
mod going_live;
mod jwks;
mod payments;
mod scale;
mod service;
mod sessions;
mod under_load;
mod webhooks;
