//! The flashgate service: configuration, the HTTP API, background workers and the command line. The
//! domain lives in `flashgate-core`, storage in `flashgate-store`.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod fastpath;
pub mod http;
pub mod metrics;
pub mod payments;
pub mod state;
pub mod telemetry;
pub mod workers;

pub use app::Application;
pub use config::Settings;
