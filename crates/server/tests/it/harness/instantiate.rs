//! One scenario, written once as an async function, instantiated as a test per backend and strategy, so
//! that every property is checked on PostgreSQL and on SQLite alike.

/// Instantiates `async fn scenario(Backend)` as one test per backend: `scenario::postgres` and
/// `scenario::sqlite`. Attributes before a scenario's name (`#[ignore = "why"]`) go on each test.
macro_rules! on_each_backend {
    ($($(#[$attr:meta])* $scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            use $crate::harness::Backend;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn postgres() {
                super::$scenario(Backend::Postgres).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn sqlite() {
                super::$scenario(Backend::Sqlite).await;
            }
        }
    )+};
}

/// Instantiates `async fn scenario(Backend, Strategy)` for every backend and purchase strategy.
macro_rules! on_each_backend_and_strategy {
    ($($(#[$attr:meta])* $scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            use $crate::harness::Backend;
            use flashgate_core::Strategy;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn postgres_pessimistic() {
                super::$scenario(Backend::Postgres, Strategy::Pessimistic).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn postgres_conditional() {
                super::$scenario(Backend::Postgres, Strategy::Conditional).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn sqlite_pessimistic() {
                super::$scenario(Backend::Sqlite, Strategy::Pessimistic).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn sqlite_conditional() {
                super::$scenario(Backend::Sqlite, Strategy::Conditional).await;
            }
        }
    )+};
}

/// Instantiates `async fn scenario(Strategy)` (PostgreSQL only) for each purchase strategy.
macro_rules! on_each_strategy {
    ($($(#[$attr:meta])* $scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            use flashgate_core::Strategy;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn pessimistic() {
                super::$scenario(Strategy::Pessimistic).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn conditional() {
                super::$scenario(Strategy::Conditional).await;
            }
        }
    )+};
}
