//! The command line: `run` one scenario against running instances, or `bench` the strategies.

use crate::bench::{self, BenchConfig};
use crate::driver::Load;
use crate::pay::PaySpec;
use crate::run::{RunConfig, run};
use crate::scenario::{Scenario, ScenarioKind};
use crate::summary;
use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "flashgate-loadgen",
    version,
    about = "Flash-sale load generator and benchmark suite for flashgate"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Offer one scenario's load to running instances, print the figures and audit the outcome
    /// (exit 1 when the audit fails).
    Run(RunArgs),
    /// Start servers per strategy and backend, run the hot-product comparison in alternating rounds
    /// beside the ceilings (static endpoint, pgbench, redis-benchmark), and write the reports.
    Bench(bench::BenchArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Requests at --rate per second on a fixed schedule; latency from the intended send time.
    Open,
    /// --buyers virtual buyers, each sending when its previous answer arrives.
    Closed,
    /// Open loop at --rate for --spike-seconds, then at --then-rate for the rest of --duration,
    /// measured in 100 ms windows (scenario spike: from the instant the sale opens).
    Spike,
}

#[derive(Args)]
pub struct RunArgs {
    /// Base URL of an instance; repeat for several (requests go round-robin).
    #[arg(long = "target", default_value = "http://127.0.0.1:8080")]
    targets: Vec<String>,
    #[arg(long, value_enum, default_value_t = ScenarioKind::Hot)]
    scenario: ScenarioKind,
    #[arg(long, value_enum, default_value_t = Mode::Closed)]
    mode: Mode,
    /// Open loop: requests per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Spike: seconds at --rate before the rate drops to --then-rate.
    #[arg(long, default_value_t = 10.0)]
    spike_seconds: f64,
    /// Spike: requests per second after the spike.
    #[arg(long, default_value_t = 100.0)]
    then_rate: f64,
    /// Closed loop: concurrent buyers.
    #[arg(long, default_value_t = 64)]
    buyers: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop after this many requests (besides the duration).
    #[arg(long)]
    max_requests: Option<u64>,
    /// Open loop and burst: most requests in flight at once (and the connection pool's size).
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    /// Units of each product.
    #[arg(long, default_value_t = 100)]
    stock: i64,
    /// Distinct customers in the crowd.
    #[arg(long, default_value_t = 10_000)]
    crowd: usize,
    /// Products of the many and browse scenarios.
    #[arg(long, default_value_t = 50)]
    products: usize,
    /// Per-customer limit of each product; 0 for none.
    #[arg(long, default_value_t = 1)]
    limit: i64,
    /// Units per purchase.
    #[arg(long, default_value_t = 1)]
    quantity: i64,
    /// Share of purchases sent a second time with the same Idempotency-Key.
    #[arg(long, default_value_t = 0.05)]
    retry_share: f64,
    /// Browse: share of reads that list every product.
    #[arg(long, default_value_t = 0.2)]
    list_share: f64,
    /// Before the measured load, every customer of the crowd buys once (unmeasured): the load meets
    /// customers at their limit, as the bench's over-limit row does.
    #[arg(long)]
    presell: bool,
    /// Every purchase of a customer sends the key of their first one (with --presell: all
    /// duplicates, as the bench's duplicate row).
    #[arg(long)]
    key_per_customer: bool,
    /// Burst: seconds until the sale opens.
    #[arg(long, default_value_t = 2.0)]
    burst_lead: f64,
    /// Per-request timeout in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// The service's database (postgres:// or sqlite:); adds `flashgate audit`'s checks. Its URL may
    /// hold a password, so --help does not show the variable's value.
    #[arg(long, env = "FLASHGATE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The VNPay simulator's base URL (scenario pay).
    #[arg(long)]
    sim_url: Option<String>,
    /// Scenario pay: share of IPNs the simulator drops.
    #[arg(long, default_value_t = 0.1)]
    ipn_drop_share: f64,
    /// Scenario pay: seconds to wait for orders to turn paid.
    #[arg(long, default_value_t = 10.0)]
    pay_wait: f64,
    #[arg(
        long,
        env = "FLASHGATE_ADMIN_TOKEN",
        default_value = "dev-admin-token-change-me",
        hide_env_values = true
    )]
    admin_token: String,
    #[arg(
        long,
        env = "FLASHGATE_JWT_SECRET",
        default_value = "dev-jwt-secret-change-me-0123456789abcdef",
        hide_env_values = true
    )]
    jwt_secret: String,
    /// Write every figure, the per-second series and the audit as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

impl RunArgs {
    fn config(&self) -> RunConfig {
        let mut scenario = Scenario::new(self.scenario);
        scenario.stock = self.stock;
        scenario.crowd = self.crowd;
        scenario.products = self.products;
        scenario.per_customer_limit = (self.limit > 0).then_some(self.limit);
        scenario.quantity = self.quantity;
        scenario.retry_share = self.retry_share;
        scenario.list_share = self.list_share;
        scenario.presell = self.presell;
        scenario.key_per_customer = self.key_per_customer;
        scenario.burst_lead = Duration::from_secs_f64(self.burst_lead.max(0.0));
        let mut config = RunConfig::new(self.targets.clone(), scenario);
        config.admin_token = self.admin_token.clone();
        config.jwt_secret = self.jwt_secret.clone();
        config.load = match self.mode {
            Mode::Open => Load::Open { rate: self.rate },
            Mode::Closed => Load::Closed {
                buyers: self.buyers,
            },
            Mode::Spike => Load::Spike {
                rate: self.rate,
                spike_s: self.spike_seconds,
                then_rate: self.then_rate,
            },
        };
        if matches!(self.mode, Mode::Spike) {
            config.windows = Some(Duration::from_millis(100));
        }
        config.duration = Duration::from_secs_f64(self.duration.max(0.0));
        config.max_requests = self.max_requests;
        config.max_in_flight = self.max_in_flight;
        config.timeout = Duration::from_millis(self.timeout_ms);
        config.database_url = self.database_url.clone();
        config.pay = PaySpec {
            sim_url: self.sim_url.clone(),
            ipn_drop_share: self.ipn_drop_share,
            wait: Duration::from_secs_f64(self.pay_wait.max(0.0)),
        };
        config.progress = !self.quiet;
        config.label = self.scenario.as_str().to_owned();
        config
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("flashgate-loadgen: cannot start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run_command(&args).await,
            Command::Bench(args) => bench::run(BenchConfig::from_args(args)?).await,
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("flashgate-loadgen: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs one scenario; `Ok(false)` when the audit failed.
async fn run_command(args: &RunArgs) -> anyhow::Result<bool> {
    let config = args.config();
    let report = run(&config).await?;
    print!("{}", summary::render(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report.audit.passed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// What these arguments read from the environment carries secrets (a database URL holds its
    /// password): `--help` never shows it.
    #[test]
    fn no_value_read_from_the_environment_shows_in_help() {
        let cli = Cli::command();
        for command in cli.get_subcommands() {
            for arg in command.get_arguments() {
                assert!(
                    arg.get_env().is_none() || arg.is_hide_env_values_set(),
                    "{} --{} shows its variable's value",
                    command.get_name(),
                    arg.get_id()
                );
            }
        }
    }
}
