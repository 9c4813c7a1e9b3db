//! The flashgate service: configuration, the HTTP API, background workers and the command line. The
//! domain and its use cases live in `flashgate-core`, storage in `flashgate-store`, the state
//! instances share in `flashgate-shared-state`; `assemble` puts the purchase path together and `app`
//! runs it. ARCHITECTURE.md at the repository's root has the map.

pub mod app;
pub mod assemble;
pub mod auth;
pub mod cli;
pub mod config;
pub mod database;
pub mod demo;
pub mod http;
pub mod metrics;
pub mod payments;
pub mod safety;
pub mod shared;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod webhooks;
pub mod workers;

pub use app::Application;
pub use config::Settings;
