//! End-to-end payment tests: flashgate with its bundled VNPay simulator, over HTTP, against real
//! PostgreSQL and SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod callbacks;
mod harness;
mod late_money;
mod lost_webhooks;
mod paying;
mod workers;
