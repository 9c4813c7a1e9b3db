//! The `flashgate` command line: serve, migrate, audit, token, demo.

use crate::app::Application;
use crate::auth::BuyerTokens;
use crate::config::{CONFIG_VARIABLE, Settings};
use crate::database::{DatabaseUrl, open_store};
use crate::demo::{self, Demo};
use crate::telemetry;
use anyhow::Context;
use clap::{Parser, Subcommand};
use flashgate_core::CustomerId;
use flashgate_core::audit::AuditReport;
use std::fmt::Display;
use std::io::{self, Write};
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
    #[arg(long, global = true, env = CONFIG_VARIABLE)]
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
        /// The customer's id, the token's `sub`: 1 to 64 visible ASCII characters.
        #[arg(long, value_parser = CustomerId::parse)]
        customer: CustomerId,
        /// Lifetime in seconds: 1 second to 10 years (a token already expired, or one past year
        /// 9999, would be refused by the service or silently cut short).
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(i64).range(1..=315_360_000))]
        ttl: i64,
    },
    /// Start the service on the embedded defaults, run a flash sale against it, audit it, keep serving.
    Demo(DemoArgs),
}

impl Command {
    /// Whether the command opens a port: what listening off loopback forbids stops only these.
    fn listens(&self) -> bool {
        matches!(self, Self::Serve | Self::Demo(_))
    }
}

#[derive(clap::Args)]
struct DemoArgs {
    /// Buyers rushing at once, each with its own token.
    #[arg(long, default_value_t = 2000)]
    crowd: usize,
    /// Units on sale.
    #[arg(long, default_value_t = 50)]
    stock: i64,
    /// Share of IPNs the simulator drops, left for the reconciler to find.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u8).range(0..=100))]
    drop_ipn_percent: u8,
    /// Share of winners who never pay, left for the expirer.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=100))]
    unpaid_percent: u8,
    /// The database (default: the configured one, `sqlite:flashgate.db`).
    #[arg(long, value_parser = |url: &str| DatabaseUrl::try_from(url.to_owned()))]
    database_url: Option<DatabaseUrl>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref()).and_then(|settings| {
        if cli.command.listens() {
            settings.check_listening()?;
        }
        Ok(settings)
    });
    let settings = match settings {
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
            say("migrations applied")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { json } => {
            // A database that cannot be audited (unreachable, never migrated) is not a violation:
            // said once, with its own exit code, so a script can tell the two apart.
            let store = match auditable(&settings).await {
                Ok(store) => store,
                Err(error) => {
                    eprintln!("flashgate: cannot audit: {error:#}");
                    return Ok(ExitCode::from(2));
                }
            };
            let report = store.auditor.audit().await.context("audit")?;
            if json {
                say(serde_json::to_string_pretty(&report)?)?;
            } else {
                print_audit(store.backend.as_str(), &report)?;
            }
            Ok(if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Token { customer, ttl } => {
            let tokens = BuyerTokens::from_settings(
                settings.jwt_secret.expose().as_bytes(),
                &settings.auth,
                std::sync::Arc::new(flashgate_core::SystemClock),
            )?;
            say(tokens.mint(&customer, time::Duration::seconds(ttl))?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => run_demo(args, settings).await,
    }
}

async fn run_demo(args: DemoArgs, mut settings: Settings) -> anyhow::Result<ExitCode> {
    if let Some(url) = args.database_url {
        settings.database_url = url;
    }
    // Warnings only: the demo's own progress lines are the show.
    settings.log.filter = "warn".to_owned();
    telemetry::init(&settings.log);
    let settings = demo::settings(settings)?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let demo = Demo::start(settings, shutdown).await?;
    let backend = demo.backend();
    say(format_args!(
        "flashgate demo: serving {} on {backend}",
        demo.base_url()
    ))?;
    let options = demo::Options {
        crowd: args.crowd,
        stock: args.stock,
        drop_ipn_percent: args.drop_ipn_percent,
        unpaid_percent: args.unpaid_percent,
    };
    // A progress line that cannot be written is no reason to stop the sale.
    let summary = demo.sale(&options, &|line| drop(say(line))).await?;
    say(&summary)?;
    if !summary.audit.is_clean() {
        print_audit(backend, &summary.audit)?;
    }
    say(format_args!(
        "still serving {}; admin dashboard: {}; press Ctrl-C to stop",
        demo.base_url(),
        demo.dashboard_url()
    ))?;
    demo.wait().await?;
    Ok(if summary.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The store, if its database can be audited: reachable, with flashgate's schema.
async fn auditable(settings: &Settings) -> anyhow::Result<flashgate_store::Store> {
    let store = open_store(settings, false).await?;
    store.health.ping().await?;
    Ok(store)
}

fn print_audit(backend: &str, report: &AuditReport) -> anyhow::Result<()> {
    say(format_args!(
        "audit of {backend} database: {} products, {} orders",
        report.products, report.orders
    ))?;
    for check in &report.checks {
        let mark = if check.violations.is_empty() {
            "ok  "
        } else {
            "FAIL"
        };
        say(format_args!(
            "  {mark} {:<32} {}",
            check.name, check.description
        ))?;
        for violation in check.violations.iter().take(20) {
            say(format_args!("         - {violation}"))?;
        }
        if check.violations.len() > 20 {
            say(format_args!(
                "         … and {} more",
                check.violations.len() - 20
            ))?;
        }
    }
    if report.is_clean() {
        say("clean")
    } else {
        say(format_args!("{} violations", report.violations()))
    }
}

/// Writes a line to stdout. A reader that went away (`flashgate audit --json | head`) is no error:
/// the rest of the output is dropped quietly, as a pipe's writer is expected to (`println!` panics).
fn say(line: impl Display) -> anyhow::Result<()> {
    match writeln!(io::stdout().lock(), "{line}") {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
            Err(error).context("cannot write to stdout")
        }
        _ => Ok(()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_without_the_schema_cannot_be_audited_which_is_no_violation() {
        let file = std::env::temp_dir().join(format!("fg-audit-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite:{}?mode=rwc", file.display());
        let settings = Settings::from_figment(
            figment::Figment::from(
                <figment::providers::Toml as figment::providers::Format>::string(
                    crate::config::DEFAULTS,
                ),
            )
            .merge(("database_url", url)),
        )
        .unwrap();
        let code = run(Command::Audit { json: false }, settings.clone()).await;
        assert_eq!(code.unwrap(), ExitCode::from(2));
        run(Command::Migrate, settings.clone()).await.unwrap();
        let code = run(Command::Audit { json: false }, settings).await;
        assert_eq!(code.unwrap(), ExitCode::SUCCESS);
        for suffix in ["", "-shm", "-wal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
    }

    #[test]
    fn a_token_lives_from_a_second_to_ten_years() {
        let token = |ttl: &str| {
            Cli::try_parse_from(["flashgate", "token", "--customer", "a", "--ttl", ttl]).map(|_| ())
        };
        for refused in ["0", "-60", "315360001", "soon"] {
            assert!(token(refused).is_err(), "--ttl {refused}");
        }
        for accepted in ["1", "3600", "315360000"] {
            assert!(token(accepted).is_ok(), "--ttl {accepted}");
        }
    }

    #[test]
    fn every_argument_says_what_it_is() {
        use clap::CommandFactory;
        let cli = Cli::command();
        for command in cli.get_subcommands() {
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                assert!(
                    builtin || arg.get_help().is_some(),
                    "{} --{} has no help",
                    command.get_name(),
                    arg.get_id()
                );
            }
        }
    }

    #[test]
    fn a_customer_id_out_of_bounds_is_refused_with_its_bounds() {
        for customer in ["", &"c".repeat(65)] {
            let error = Cli::try_parse_from(["flashgate", "token", "--customer", customer])
                .err()
                .unwrap()
                .to_string();
            assert!(
                error.contains("--customer") && error.contains("1 to 64 characters"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_demo_database_that_is_neither_sqlite_nor_postgres_names_the_option() {
        let error = Cli::try_parse_from(["flashgate", "demo", "--database-url", "mysql://x"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("--database-url") && !error.contains("database_url"),
            "{error}"
        );
        let demo = Cli::try_parse_from(["flashgate", "demo", "--database-url", "sqlite:d.db"]);
        assert!(demo.is_ok());
    }
}
