//! What flashgate's integration tests and examples share, written once: a builder for real instances
//! (`Spawn`: backend, strategy, clock, Redis, settings by dotted key, how many instances), their HTTP
//! API (`Api`, whole `Answer`s), direct reads of a test's database, Redis for one test, crowds that
//! fire at one instant, HTTPS servers behind the test command's private CA, and the macros that run a scenario on each backend or each fast path.
//!
//! Needs PostgreSQL at `FLASHGATE_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! as a superuser, Redis at `FLASHGATE_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) and a Redis
//! Cluster at `FLASHGATE_TEST_REDIS_CLUSTER_URL` (default the local one on ports 57001-57006); tests
//! that flush, kill or fail over Redis start servers of their own.

// A broken expectation in test support should fail the test loudly, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod app;
mod crowd;
mod database;
pub mod receiver;
mod redis;
mod redis_cluster;
mod spawn;
mod tls;

pub use api::{
    Answer, Api, PRICE_VND, PROBLEM_JSON, client, json_of, key, order_uuid, payment_url, text_of,
};
pub use app::{Instance, TestApp, assert_audit_clean, postgres_connections};
pub use crowd::all_at_once;
pub use database::{Direct, StockLock};
pub use flashgate_shared_state::on_each_redis;
pub use flashgate_shared_state::testing::{TestRedis, eventually};
pub use flashgate_store::testing::{TestDatabase, postgres_admin_url};
pub use redis::RedisProcess;
pub use redis_cluster::RedisClusterProcess;
pub use spawn::{Backend, Spawn, manual_clock};
pub use tls::serve_tls;

/// Instantiates scenarios as tests, one per backend (and strategy), in a module named after each:
/// - `on_each_backend!(scenario, ...)`: `async fn scenario(Backend)` as `scenario::postgres` and
///   `scenario::sqlite`;
/// - `on_each_backend!(and_strategy: scenario, ...)`: `async fn scenario(Backend, Strategy)` for every
///   backend and purchase strategy;
/// - `on_each_backend!(postgres_strategy: scenario, ...)`: `async fn scenario(Strategy)`, on
///   PostgreSQL only, for each strategy.
///
/// Attributes before a scenario's name (`#[ignore = "why"]`) go on each of its tests.
#[macro_export]
macro_rules! on_each_backend {
    (and_strategy: $($(#[$attr:meta])* $scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            use $crate::Backend::{Postgres, Sqlite};
            use flashgate_core::Strategy::{Conditional, Pessimistic};
            $crate::on_each_backend!(@test $(#[$attr])* postgres_pessimistic, $scenario(Postgres, Pessimistic));
            $crate::on_each_backend!(@test $(#[$attr])* postgres_conditional, $scenario(Postgres, Conditional));
            $crate::on_each_backend!(@test $(#[$attr])* sqlite_pessimistic, $scenario(Sqlite, Pessimistic));
            $crate::on_each_backend!(@test $(#[$attr])* sqlite_conditional, $scenario(Sqlite, Conditional));
        }
    )+};
    (postgres_strategy: $($(#[$attr:meta])* $scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            use flashgate_core::Strategy::{Conditional, Pessimistic};
            $crate::on_each_backend!(@test $(#[$attr])* pessimistic, $scenario(Pessimistic));
            $crate::on_each_backend!(@test $(#[$attr])* conditional, $scenario(Conditional));
        }
    )+};
    (@test $(#[$attr:meta])* $test:ident, $scenario:ident($($arg:expr),*)) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attr])*
        async fn $test() {
            super::$scenario($($arg),*).await;
        }
    };
    ($($(#[$attr:meta])* $scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            use $crate::Backend::{Postgres, Sqlite};
            $crate::on_each_backend!(@test $(#[$attr])* postgres, $scenario(Postgres));
            $crate::on_each_backend!(@test $(#[$attr])* sqlite, $scenario(Sqlite));
        }
    )+};
}

/// Instantiates scenarios `async fn scenario(Option<&TestRedis>)` as one test per fast path, in a module
/// named after the scenario: `redis` and `redis_cluster` (PostgreSQL, and the gate, limits, cache and
/// sessions on the single Redis or the Redis Cluster, under the test's own prefix) and `embedded_twins`
/// (`None`: SQLite and the in-process twins).
#[macro_export]
macro_rules! on_each_fast_path {
    ($($(#[$attr:meta])* $scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn redis() {
                super::$scenario(Some(&$crate::TestRedis::new())).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn redis_cluster() {
                super::$scenario(Some(&$crate::TestRedis::cluster())).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn embedded_twins() {
                super::$scenario(None).await;
            }
        }
    )+};
}
