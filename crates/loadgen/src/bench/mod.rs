//! The benchmark suite: the purchase strategies on SQLite and PostgreSQL on one hot product, product
//! reads, the static endpoint, and the parts' raw ceilings (pgbench, redis-benchmark), measured in
//! alternating rounds on one machine, then written up as BENCHMARKS.md and a self-contained HTML report.

mod ceilings;
mod cpu;
mod crowd;
mod database;
mod html;
mod machine;
mod markdown;
mod pgwait;
mod results;
mod server;
mod spike;
mod spike_report;
mod svg;
mod targets;

pub use results::{Figures, Row, Sample};
pub use spike::SpikeFigures;

use crate::driver::Load;
use crate::run::{RunConfig, RunReport, run as run_scenario};
use crate::scenario::{Scenario, ScenarioKind};
use anyhow::Context;
use database::{Fresh, psql};
use server::Server;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The credentials the benchmark's servers are started with.
pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";
pub const JWT_SECRET: &str = "bench-jwt-secret-0123456789abcdef0123456789";

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// The flashgate binary to start (build it with --release first).
    #[arg(long, default_value = "target/release/flashgate")]
    flashgate: PathBuf,
    /// Purchase strategies to compare, comma-separated, in table order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "pessimistic,conditional,gated"
    )]
    strategies: Vec<String>,
    /// Backends, comma-separated: sqlite, postgres.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<String>,
    /// Rounds; every configuration runs once per round, in an order that rotates between rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds of load per measurement.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Concurrent buyers (closed loop) per measurement.
    #[arg(long, default_value_t = 64)]
    buyers: usize,
    /// Hot product: units in stock.
    #[arg(long, default_value_t = 100)]
    stock: i64,
    /// Hot product: the crowd.
    #[arg(long, default_value_t = 20_000)]
    crowd: usize,
    /// Many products: how many instances share the sale, one row each (PostgreSQL + Redis, gated).
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    many_instances: Vec<usize>,
    /// Many products: how many, each with `--stock` units.
    #[arg(long, default_value_t = 1_000)]
    many_products: usize,
    /// A Redis Cluster (its nodes, comma-separated): the many-products rows run on it too.
    #[arg(long)]
    redis_cluster_url: Option<String>,
    /// Crowd rows: customers who each buy once before the over-limit and duplicate crowds.
    #[arg(long, default_value_t = 2_000)]
    crowd_customers: usize,
    /// Spike: multiples of the measured capacity to offer, comma-separated (none: no spike).
    #[arg(long, value_delimiter = ',', default_value = "2,5")]
    spike_multiples: Vec<f64>,
    /// Spike: seconds of the spike, from the instant the sale opens.
    #[arg(long, default_value_t = 10.0)]
    spike_seconds: f64,
    /// Spike: seconds after it, at --spike-after-share of the capacity, to watch the recovery.
    #[arg(long, default_value_t = 5.0)]
    spike_after: f64,
    /// Spike: the rate after the spike, as a share of the capacity.
    #[arg(long, default_value_t = 0.5)]
    spike_after_share: f64,
    /// Spike: most requests in flight at once (and connections).
    #[arg(long, default_value_t = 1024)]
    spike_in_flight: usize,
    /// Spike: a request unanswered after this many milliseconds is a timeout.
    #[arg(long, default_value_t = 5_000)]
    spike_timeout_ms: u64,
    /// PostgreSQL server on which each run gets a fresh database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Redis for redis-benchmark.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// pgbench clients (connections), like the server's pool.
    #[arg(long, default_value_t = 16)]
    pgbench_clients: u32,
    /// Extra KEY=VALUE environment for every server (e.g. FLASHGATE_REDIS_URL for the gated strategy).
    #[arg(long = "server-env", value_parser = parse_env)]
    server_env: Vec<(String, String)>,
    /// Where BENCHMARKS.md goes [default: BENCHMARKS.md; with --smoke: target/bench-smoke/BENCHMARKS.md].
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Where the HTML report goes [default: bench/report.html; with --smoke: under target/bench-smoke/].
    #[arg(long)]
    html: Option<PathBuf>,
    /// Where every sample goes as JSON [default: bench/results.json; with --smoke: under
    /// target/bench-smoke/].
    #[arg(long)]
    json: Option<PathBuf>,
    /// The command line to print in the reports (defaults to this process's).
    #[arg(long)]
    command: Option<String>,
    /// A note on the machine for the reports (e.g. what else ran on it).
    #[arg(long)]
    machine_note: Option<String>,
    /// A few seconds per measurement, a small crowd, one round: checks the tooling, not the figures.
    /// Its reports go under target/bench-smoke/ (same layout), never over the committed ones, unless
    /// --markdown, --html or --json say otherwise.
    #[arg(long)]
    smoke: bool,
}

/// Where a smoke run writes its reports unless told otherwise: nothing committed is touched, and the
/// layout under it is a full run's, so the Markdown's link to the HTML report holds.
pub const SMOKE_DIR: &str = "target/bench-smoke";

/// The three reports' paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    pub markdown: PathBuf,
    pub html: PathBuf,
    pub json: PathBuf,
}

impl Outputs {
    /// The paths given, else a full run's committed reports (relative to the repository's root), or
    /// the same under [`SMOKE_DIR`] for a smoke run.
    fn of(args: &BenchArgs) -> Self {
        let dir = PathBuf::from(if args.smoke { SMOKE_DIR } else { "" });
        let pick = |given: &Option<PathBuf>, default: &str| {
            given.clone().unwrap_or_else(|| dir.join(default))
        };
        Self {
            markdown: pick(&args.markdown, "BENCHMARKS.md"),
            html: pick(&args.html, "bench/report.html"),
            json: pick(&args.json, "bench/results.json"),
        }
    }
}

fn parse_env(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{raw:?} is not KEY=VALUE"))
}

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub args: BenchArgs,
    pub command: String,
    pub outputs: Outputs,
}

impl BenchConfig {
    pub fn from_args(mut args: BenchArgs) -> anyhow::Result<Self> {
        if args.smoke {
            args.rounds = 1;
            args.duration = args.duration.min(2);
            args.crowd = args.crowd.min(500);
            args.stock = args.stock.min(20);
            args.buyers = args.buyers.min(16);
            args.many_products = args.many_products.min(50);
            args.crowd_customers = args.crowd_customers.min(200);
            args.spike_seconds = args.spike_seconds.min(1.0);
            args.spike_after = args.spike_after.min(1.0);
        }
        if args.strategies.is_empty() || args.backends.is_empty() || args.rounds == 0 {
            anyhow::bail!("--strategies, --backends and --rounds must not be empty");
        }
        let command = args
            .command
            .clone()
            .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" "));
        let outputs = Outputs::of(&args);
        Ok(Self {
            args,
            command,
            outputs,
        })
    }
}

/// One measurement of a round.
#[derive(Debug, Clone)]
enum Item {
    Server {
        row: Row,
        backend: String,
        strategy: Option<String>,
    },
    Pgbench,
    Redis,
}

impl Item {
    fn name(&self) -> String {
        match self {
            Self::Server {
                row,
                backend,
                strategy,
            } => format!(
                "{backend}/{} {}",
                strategy.as_deref().unwrap_or("-"),
                format!("{row:?}").to_lowercase()
            ),
            Self::Pgbench => "pgbench".into(),
            Self::Redis => "redis-benchmark".into(),
        }
    }
}

/// Product reads are measured both ways: what the cache saves is the ratio.
pub const READ_PATHS: [&str; 2] = ["uncached", "cached"];

fn plan(args: &BenchArgs, postgres: bool, redis: bool) -> Vec<Item> {
    let backends: Vec<&String> = args
        .backends
        .iter()
        .filter(|b| postgres || b.as_str() != "postgres")
        .collect();
    let mut items = Vec::new();
    for backend in &backends {
        for strategy in &args.strategies {
            for row in [Row::Hot, Row::Winners] {
                items.push(Item::Server {
                    row,
                    backend: (*backend).clone(),
                    strategy: Some(strategy.clone()),
                });
            }
        }
        for path in READ_PATHS {
            items.push(Item::Server {
                row: Row::Reads,
                backend: (*backend).clone(),
                strategy: Some(path.to_owned()),
            });
        }
    }
    let crowd = crowd::backend(args, postgres);
    for kind in crowd::KINDS {
        items.push(Item::Server {
            row: Row::Crowd,
            backend: crowd.clone(),
            strategy: Some(kind.to_owned()),
        });
    }
    if postgres {
        for config in many_configs(args) {
            items.push(Item::Server {
                row: Row::Many,
                backend: "postgres".into(),
                strategy: Some(config),
            });
        }
    }
    items.push(Item::Server {
        row: Row::Healthz,
        backend: "sqlite".into(),
        strategy: None,
    });
    if postgres {
        items.push(Item::Pgbench);
    }
    if redis {
        items.push(Item::Redis);
    }
    items
}

/// Most customers of a spike: beyond it they repeat (and a winner who comes back is over the limit).
pub const SPIKE_CROWD: usize = 200_000;

/// The many-products rows' configurations: `<instances>` on the single Redis, `<instances>-cluster`
/// on the Redis Cluster.
fn many_configs(args: &BenchArgs) -> Vec<String> {
    let mut configs: Vec<String> = args.many_instances.iter().map(|n| n.to_string()).collect();
    if args.redis_cluster_url.is_some() {
        configs.extend(args.many_instances.iter().map(|n| format!("{n}-cluster")));
    }
    configs
}

/// Instances and whether on the cluster, from a many-products configuration.
pub fn many_config(config: &str) -> (usize, bool) {
    let (instances, cluster) = match config.strip_suffix("-cluster") {
        Some(instances) => (instances, true),
        None => (config, false),
    };
    (instances.parse().unwrap_or(1).max(1), cluster)
}

/// Round `r`'s order: the plan rotated by r/rounds of its length, so each configuration meets the
/// machine at a different moment of the run and slow drift spreads over all of them.
fn order(items: &[Item], round: usize, rounds: usize) -> Vec<Item> {
    let mut ordered = items.to_vec();
    if !ordered.is_empty() {
        let len = ordered.len();
        ordered.rotate_left(round * len / rounds.max(1) % len);
    }
    ordered
}

async fn reachable_postgres(url: &str) -> bool {
    psql(url, "SELECT 1").await.is_ok()
}

async fn reachable_redis(url: &str) -> bool {
    let (host, port) = ceilings::redis_host_port(url);
    tokio::process::Command::new("redis-cli")
        .args(["-h", &host, "-p", &port, "ping"])
        .output()
        .await
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PONG"))
}

fn scenario(args: &BenchArgs, row: Row, strategy: Option<&str>) -> (Scenario, Duration) {
    let duration = Duration::from_secs(args.duration);
    let scenario = match row {
        Row::Crowd => crowd::scenario(args, strategy.unwrap_or("healthz")),
        Row::Hot => {
            let mut s = Scenario::new(ScenarioKind::Hot);
            s.stock = args.stock;
            s.crowd = args.crowd;
            s.per_customer_limit = Some(1);
            s.retry_share = 0.02;
            s
        }
        Row::Winners => {
            // Ample stock and no limit: every attempt wins, so the rate is durable orders per second.
            let mut s = Scenario::new(ScenarioKind::Hot);
            s.stock = 1_000_000_000;
            s.crowd = 5_000;
            s.per_customer_limit = None;
            s.retry_share = 0.02;
            s
        }
        Row::Reads => Scenario::new(ScenarioKind::Reads),
        Row::Many => {
            // Stock to spare: every purchase wins a unit, so this is durable writes over many rows.
            let mut s = Scenario::new(ScenarioKind::Many);
            s.products = args.many_products;
            s.stock = args.stock;
            s
        }
        _ => Scenario::new(ScenarioKind::Healthz),
    };
    (scenario, duration)
}

async fn measure_server(
    args: &BenchArgs,
    row: Row,
    backend: &str,
    strategy: Option<&str>,
    round: usize,
    scratch: &std::path::Path,
    spike: Option<spike::SpikePlan>,
) -> anyhow::Result<Sample> {
    let db = if backend == "postgres" {
        Fresh::postgres(&args.postgres_url).await?
    } else {
        Fresh::sqlite()?
    };
    let url = db.url();
    // A read row's "strategy" is its path: through the product cache or straight to the database.
    let (strategy_env, cached) = match (row, strategy) {
        (Row::Reads, Some(path)) => ("conditional", path != "uncached"),
        (Row::Many | Row::Crowd | Row::Spike, _) => ("gated", true),
        (_, strategy) => (strategy.unwrap_or("conditional"), true),
    };
    let (instances, on_cluster) = match (row, strategy) {
        (Row::Many, Some(config)) => many_config(config),
        _ => (1, false),
    };
    let log = scratch.join(format!("server-{}.log", uuid::Uuid::new_v4().simple()));
    let mut env = args.server_env.clone();
    if !cached {
        env.push(("FLASHGATE_CACHE__ENABLED".to_owned(), "false".to_owned()));
    }
    if backend == "postgres" {
        // Production's shape: PostgreSQL with the fast path in Redis (gate, L2 cache, limits), under
        // a prefix of this server's own so no earlier run's keys are seen. SQLite runs embedded, with
        // the in-process twins.
        let redis_url = match (&args.redis_cluster_url, on_cluster) {
            (Some(cluster), true) => {
                env.push(("FLASHGATE_REDIS__CLUSTER".to_owned(), "true".to_owned()));
                cluster.clone()
            }
            _ => args.redis_url.clone(),
        };
        env.push(("FLASHGATE_REDIS_URL".to_owned(), redis_url));
        env.push((
            "FLASHGATE_REDIS__KEY_PREFIX".to_owned(),
            format!("fgbench:{}:", uuid::Uuid::new_v4().simple()),
        ));
    }
    // One after the other, so that only the first applies the migrations; they share the database
    // and the Redis prefix, as a deployment's instances do.
    let mut servers = Vec::with_capacity(instances);
    for n in 0..instances {
        let log = log.with_extension(format!("{n}.log"));
        match Server::start(&args.flashgate, &url, strategy_env, &env, log).await {
            Ok(server) => servers.push(server),
            Err(error) => {
                for server in servers {
                    let _ = server.stop().await;
                }
                let _ = db.drop_now().await;
                return Err(error);
            }
        }
    }
    let server = &servers[0];
    let (scenario, duration) = scenario(args, row, strategy);
    let targets = servers.iter().map(|s| s.base_url.clone()).collect();
    let mut config = RunConfig::new(targets, scenario);
    config.admin_token = ADMIN_TOKEN.to_owned();
    config.jwt_secret = JWT_SECRET.to_owned();
    config.load = Load::Closed {
        buyers: args.buyers,
    };
    config.duration = duration;
    config.timeout = Duration::from_secs(15);
    if let Some(plan) = spike {
        plan.configure(args, &mut config);
    }
    config.database_url = Some(url.clone());
    config.label = format!(
        "r{} {backend}/{} {}",
        round + 1,
        strategy.unwrap_or("-"),
        format!("{row:?}").to_lowercase()
    );
    let waits = db
        .postgres_name()
        .map(|name| pgwait::Sampler::start(args.postgres_url.clone(), name.to_owned()));
    let before = cpu::Mark::now(Some(server.pid()));
    let report = run_scenario(&config).await;
    let cpu = cpu::Mark::now(Some(server.pid())).since(&before);
    let waits = match waits {
        Some(sampler) => sampler.finish().await,
        None => Default::default(),
    };
    let rss = server.peak_rss_kib();
    for server in servers {
        server.stop().await?;
    }
    db.drop_now().await?;
    let report = report?;
    let mut sample = sample_of(row, backend, strategy, round, &report, rss, cpu);
    sample.pg_waits = waits;
    if let Some(plan) = spike {
        let figures = SpikeFigures::of(
            &report,
            plan.multiplier,
            plan.capacity,
            plan.then_rate(args),
        );
        sample.value = figures.answered_rate();
        sample.requests = figures.offered;
        sample.errors = figures.improper;
        sample.p50_us = figures.p50_us;
        sample.p99_us = figures.p99_us;
        sample.p999_us = figures.max_us;
        sample.spike = Some(figures);
    }
    Ok(sample)
}

fn sample_of(
    row: Row,
    backend: &str,
    strategy: Option<&str>,
    round: usize,
    report: &RunReport,
    rss_kib: Option<u64>,
    cpu: cpu::CpuUse,
) -> Sample {
    let m = &report.measured;
    Sample {
        row,
        backend: (row != Row::Healthz).then(|| backend.to_owned()),
        strategy: strategy.map(str::to_owned),
        round,
        value: if row == Row::Winners {
            report.winners_per_s
        } else {
            m.throughput_rps
        },
        requests: m.requests,
        errors: m.errors,
        sold: report.sold,
        p50_us: m.latency.p50_us,
        p90_us: m.latency.p90_us,
        p99_us: m.latency.p99_us,
        p999_us: m.latency.p999_us,
        rss_kib,
        audit_passed: Some(report.audit.passed),
        audit_failures: report
            .audit
            .failures()
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect(),
        cpu: Some(cpu),
        statuses: m.statuses.clone(),
        codes: m.codes.clone(),
        series: m.series.clone(),
        curve: m.latency.curve.clone(),
        pg_waits: Default::default(),
        spike: None,
    }
}

async fn measure(
    args: &BenchArgs,
    item: &Item,
    round: usize,
    scratch: &std::path::Path,
    pgbench: Option<&std::path::Path>,
) -> anyhow::Result<Vec<Sample>> {
    match item {
        Item::Server {
            row,
            backend,
            strategy,
        } => Ok(vec![
            measure_server(
                args,
                *row,
                backend,
                strategy.as_deref(),
                round,
                scratch,
                None,
            )
            .await?,
        ]),
        Item::Pgbench => {
            let Some(pgbench) = pgbench else {
                return Ok(Vec::new());
            };
            let duration = Duration::from_secs(args.duration);
            let mut out = Vec::new();
            for (row, script, protocol) in [
                (Row::PgbenchLock, ceilings::PGBENCH_LOCK, "simple"),
                (
                    Row::PgbenchConditional,
                    ceilings::PGBENCH_CONDITIONAL,
                    "simple",
                ),
                (Row::PgbenchPrepared, ceilings::PGBENCH_PREPARED, "prepared"),
            ] {
                let before = cpu::Mark::now(None);
                let (tps, waits) = ceilings::pgbench(
                    pgbench,
                    &args.postgres_url,
                    script,
                    protocol,
                    args.pgbench_clients,
                    duration,
                    scratch,
                )
                .await?;
                let mut sample = Sample::ceiling(row, round, tps);
                sample.cpu = Some(cpu::Mark::now(None).since(&before));
                sample.pg_waits = waits;
                eprintln!("[r{} {row:?}] {tps:.0} tx/s", round + 1);
                out.push(sample);
            }
            Ok(out)
        }
        Item::Redis => {
            let requests = if args.smoke { 20_000 } else { 200_000 };
            let (eval, incr) = ceilings::redis_ceilings(&args.redis_url, requests).await?;
            eprintln!("[r{} redis] EVAL {eval:.0}/s, INCR {incr:.0}/s", round + 1);
            Ok(vec![
                Sample::ceiling(Row::RedisEval, round, eval),
                Sample::ceiling(Row::RedisIncr, round, incr),
            ])
        }
    }
}

/// Runs the suite and writes the reports; `Ok(false)` when any correctness audit failed.
pub async fn run(config: BenchConfig) -> anyhow::Result<bool> {
    let args = &config.args;
    let began = Instant::now();
    let load_start = machine::loadavg();
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    if !args.flashgate.exists() {
        anyhow::bail!(
            "{} does not exist: build it with `cargo build --release -p flashgate`",
            args.flashgate.display()
        );
    }
    let postgres = args.backends.iter().any(|b| b == "postgres")
        && reachable_postgres(&args.postgres_url).await;
    if args.backends.iter().any(|b| b == "postgres") && !postgres {
        eprintln!(
            "bench: PostgreSQL is not reachable at {}; its rows and pgbench are left out",
            args.postgres_url
        );
    }
    let redis = reachable_redis(&args.redis_url).await;
    if !redis {
        eprintln!(
            "bench: Redis is not reachable at {}; redis-benchmark is left out",
            args.redis_url
        );
    }
    let pgbench = ceilings::find_pgbench();
    if postgres && pgbench.is_none() {
        eprintln!("bench: pgbench was not found; its ceiling is left out");
    }
    let scratch = std::env::temp_dir().join(format!("fg-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&scratch)?;
    let items = plan(args, postgres, redis);
    let mut samples = Vec::new();
    for round in 0..args.rounds {
        for item in order(&items, round, args.rounds) {
            let measured = measure(args, &item, round, &scratch, pgbench.as_deref())
                .await
                .with_context(|| format!("round {}: {}", round + 1, item.name()))?;
            for sample in &measured {
                if sample.audit_passed == Some(false) {
                    eprintln!(
                        "bench: AUDIT FAILED in round {} for {}: {}",
                        round + 1,
                        item.name(),
                        sample.audit_failures.join("; ")
                    );
                }
            }
            samples.extend(measured);
        }
    }
    samples.extend(spike::run_spikes(args, &samples, postgres, &scratch).await?);
    let _ = std::fs::remove_dir_all(&scratch);
    let backends: Vec<String> = args
        .backends
        .iter()
        .filter(|b| postgres || b.as_str() != "postgres")
        .cloned()
        .collect();
    let figures = Figures::new(&samples, args.strategies.clone(), backends);
    let context = markdown::Context {
        date,
        load: (load_start, machine::loadavg()),
        command: config.command.clone(),
        machine: machine::describe(),
        args: args.clone(),
        elapsed: began.elapsed(),
    };
    let out = &config.outputs;
    write(&out.markdown, &markdown::render(&figures, &context))?;
    write(&out.html, &html::render(&figures, &context))?;
    write(&out.json, &serde_json::to_string_pretty(&samples)?)?;
    eprintln!(
        "bench: wrote {}, {} and {} in {:.0} s",
        out.markdown.display(),
        out.html.display(),
        out.json.display(),
        began.elapsed().as_secs_f64()
    );
    Ok(figures.all_audits_passed())
}

fn write(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: BenchArgs,
    }

    #[test]
    fn a_third_strategy_is_one_more_word() {
        let args = Wrapper::parse_from(["x", "--strategies", "pessimistic,conditional,gated"]).args;
        let items = plan(&args, true, true);
        let gated = items
            .iter()
            .filter(|i| matches!(i, Item::Server { strategy: Some(s), .. } if s == "gated"))
            .count();
        // Hot and winners on each of the two backends.
        assert_eq!(gated, 4);
    }

    #[test]
    fn the_many_products_rows_run_on_each_instance_count_and_on_the_cluster_when_given() {
        let names = |argv: &[&str]| -> Vec<String> {
            let args = Wrapper::parse_from(argv).args;
            plan(&args, true, true)
                .iter()
                .filter(|i| matches!(i, Item::Server { row: Row::Many, .. }))
                .map(Item::name)
                .collect()
        };
        assert_eq!(names(&["x"]), ["postgres/1 many", "postgres/4 many"]);
        let crowd: Vec<String> = plan(&Wrapper::parse_from(["x"]).args, false, true)
            .iter()
            .filter(|i| {
                matches!(
                    i,
                    Item::Server {
                        row: Row::Crowd,
                        ..
                    }
                )
            })
            .map(Item::name)
            .collect();
        assert_eq!(
            crowd[0], "sqlite/healthz crowd",
            "without PostgreSQL the crowd runs on SQLite"
        );
        assert_eq!(
            names(&["x", "--redis-cluster-url", "redis://a:1,redis://b:2"]).len(),
            4
        );
        assert_eq!(many_config("4-cluster"), (4, true));
        assert_eq!(many_config("1"), (1, false));
    }

    #[test]
    fn a_smoke_run_writes_its_reports_apart_unless_told_where() {
        let outputs = |argv: &[&str]| {
            BenchConfig::from_args(Wrapper::parse_from(argv).args)
                .unwrap()
                .outputs
        };
        let full = outputs(&["x"]);
        assert_eq!(full.markdown, PathBuf::from("BENCHMARKS.md"));
        assert_eq!(full.html, PathBuf::from("bench/report.html"));
        assert_eq!(full.json, PathBuf::from("bench/results.json"));
        let smoke = outputs(&["x", "--smoke"]);
        assert_eq!(
            smoke.markdown,
            PathBuf::from("target/bench-smoke/BENCHMARKS.md")
        );
        assert_eq!(
            smoke.html,
            PathBuf::from("target/bench-smoke/bench/report.html")
        );
        assert_eq!(
            smoke.json,
            PathBuf::from("target/bench-smoke/bench/results.json")
        );
        let told = outputs(&["x", "--smoke", "--markdown", "B.md", "--json", "r.json"]);
        assert_eq!(told.markdown, PathBuf::from("B.md"));
        assert_eq!(told.json, PathBuf::from("r.json"));
        assert_eq!(
            told.html,
            PathBuf::from("target/bench-smoke/bench/report.html")
        );
    }

    #[test]
    fn every_round_runs_every_item_in_another_order() {
        let args = Wrapper::parse_from(["x"]).args;
        let items = plan(&args, true, true);
        let first = order(&items, 0, 3);
        let second = order(&items, 1, 3);
        assert_eq!(first.len(), second.len());
        assert_ne!(first[0].name(), second[0].name());
        let mut a: Vec<String> = first.iter().map(Item::name).collect();
        let mut b: Vec<String> = second.iter().map(Item::name).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }
}
