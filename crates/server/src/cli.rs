//! The `flashgate` command line: serve, migrate, audit, token.

use crate::app::{Application, open_store};
use crate::auth::BuyerTokens;
use crate::config::Settings;
use crate::telemetry;
use anyhow::Context;
use clap::{Parser, Subcommand};
use flashgate_core::CustomerId;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "flashgate",
    version,
    about = "A checkout service for flash sales"
)]
pub struct Cli {
    /// A TOML file of settings, layered over the defaults and under FLASHGATE_* variables.
    #[arg(long, global = true, env = "FLASHGATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (applies pending migrations first unless database.migrate_on_start = false).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Check every invariant on the database; exits 1 on any violation.
    Audit {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Mint a buyer token for a customer id.
    Token {
        #[arg(long)]
        customer: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("flashgate: {error:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("flashgate: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("flashgate: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => {
            telemetry::init(&settings.log);
            let app = Application::build(settings).await?;
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            app.run(shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            open_store(&settings, true).await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { json } => {
            let store = open_store(&settings, false).await?;
            let report = store.auditor.audit().await.context("audit")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "audit of {} database: {} products, {} orders",
                    store.backend.as_str(),
                    report.products,
                    report.orders
                );
                for check in &report.checks {
                    let mark = if check.violations.is_empty() {
                        "ok  "
                    } else {
                        "FAIL"
                    };
                    println!("  {mark} {:<32} {}", check.name, check.description);
                    for violation in check.violations.iter().take(20) {
                        println!("         - {violation}");
                    }
                    if check.violations.len() > 20 {
                        println!("         … and {} more", check.violations.len() - 20);
                    }
                }
                println!(
                    "{}",
                    if report.is_clean() {
                        "clean".to_owned()
                    } else {
                        format!("{} violations", report.violations())
                    }
                );
            }
            Ok(if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Token { customer, ttl } => {
            let customer = CustomerId::parse(&customer).context("--customer")?;
            let tokens = BuyerTokens::new(settings.jwt_secret.expose().as_bytes());
            println!("{}", tokens.mint(&customer, time::Duration::seconds(ttl))?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
async fn stop_on_signal(token: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested");
    token.cancel();
}
