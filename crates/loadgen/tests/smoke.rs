//! The load generator against a real flashgate, in process, on SQLite and PostgreSQL: a few seconds of
//! each buying scenario, asserting only correctness (no oversell, one order per key, limits held,
//! `flashgate audit` clean) so the tooling cannot rot. Figures are the benchmark's business.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use flashgate::Application;
use flashgate::config::{DEFAULTS, Settings};
use flashgate_loadgen::{Load, RunConfig, RunReport, Scenario, ScenarioKind, run};
use flashgate_shared_state::testing::TestRedis;
use flashgate_store::testing::TestDatabase;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

struct Running {
    base: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn shutdown(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }
}

async fn serve(database_url: &str, strategy: &str) -> Running {
    serve_with(database_url, strategy, None).await
}

/// `redis`: the shared fast path in Redis; none, the in-process twins.
async fn serve_with(database_url: &str, strategy: &str, redis: Option<&TestRedis>) -> Running {
    let mut figment = Figment::from(Toml::string(DEFAULTS))
        .merge(Serialized::default("listen", "127.0.0.1:0"))
        .merge(Serialized::default("database_url", database_url))
        .merge(Serialized::default("inventory.strategy", strategy))
        .merge(Serialized::default("log.filter", "warn"))
        // The whole crowd comes from one address: per-IP limits would refuse it.
        .merge(Serialized::default("limits.enabled", false));
    if let Some(redis) = redis {
        figment = figment
            .merge(Serialized::default("redis_url", redis.url()))
            .merge(Serialized::default("redis.key_prefix", &redis.prefix));
    }
    let settings = Settings::from_figment(figment).unwrap();
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    let stop = CancellationToken::new();
    let task = tokio::spawn(app.run(stop.clone()));
    Running { base, stop, task }
}

fn config(base: &str, db: &TestDatabase, scenario: Scenario) -> RunConfig {
    let mut config = RunConfig::new(vec![base.to_owned()], scenario);
    config.load = Load::Closed { buyers: 16 };
    config.duration = Duration::from_millis(1500);
    config.database_url = Some(db.url.clone());
    config.progress = false;
    config
}

fn hot() -> Scenario {
    let mut scenario = Scenario::new(ScenarioKind::Hot);
    scenario.stock = 20;
    scenario.crowd = 300;
    scenario.per_customer_limit = Some(1);
    scenario.retry_share = 0.2;
    scenario
}

fn assert_correct(report: &RunReport) {
    let failures: Vec<String> = report
        .audit
        .failures()
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    assert!(report.audit.passed, "audit failed: {failures:?}");
    assert!(report.measured.requests > 0, "no request was answered");
    let names: Vec<&str> = report.audit.checks.iter().map(|c| c.name).collect();
    assert!(names.contains(&"flashgate_audit"), "{names:?}");
}

/// Hot product, then a burst at sale start, then many products, each on one server.
async fn buying_scenarios(db: TestDatabase, strategy: &str) {
    buying_scenarios_with(db, strategy, None).await;
}

async fn buying_scenarios_with(db: TestDatabase, strategy: &str, redis: Option<&TestRedis>) {
    let server = serve_with(&db.url, strategy, redis).await;

    let report = run(&config(&server.base, &db, hot())).await.unwrap();
    assert_correct(&report);
    assert_eq!(report.sold, 20, "the hot product must sell out exactly");
    let product = &report.audit.products[0];
    assert_eq!((product.available, product.taken), (0, 20));

    let mut burst = hot();
    burst.kind = ScenarioKind::Burst;
    burst.crowd = 60;
    burst.stock = 10;
    burst.burst_lead = Duration::from_millis(500);
    let report = run(&config(&server.base, &db, burst)).await.unwrap();
    assert_correct(&report);
    assert_eq!(report.sold, 10);

    let mut many = hot();
    many.kind = ScenarioKind::Many;
    many.products = 5;
    many.stock = 50;
    many.crowd = 40;
    many.per_customer_limit = Some(2);
    let mut open = config(&server.base, &db, many);
    open.load = Load::Open { rate: 300.0 };
    let report = run(&open).await.unwrap();
    assert_correct(&report);

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pessimistic_never_oversells_under_load() {
    buying_scenarios(TestDatabase::sqlite(), "pessimistic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conditional_never_oversells_under_load() {
    buying_scenarios(TestDatabase::sqlite(), "conditional").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pessimistic_never_oversells_under_load() {
    // Fails loudly when PostgreSQL is unreachable: the test command brings it up.
    buying_scenarios(TestDatabase::postgres().await, "pessimistic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conditional_never_oversells_under_load() {
    // Fails loudly when PostgreSQL is unreachable: the test command brings it up.
    buying_scenarios(TestDatabase::postgres().await, "conditional").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_gated_in_process_never_oversells_under_load() {
    buying_scenarios(TestDatabase::sqlite(), "gated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_gated_on_redis_never_oversells_under_load() {
    // Fails loudly when PostgreSQL or Redis is unreachable: the test command brings them up.
    let redis = TestRedis::new();
    buying_scenarios_with(TestDatabase::postgres().await, "gated", Some(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_measured_and_winners_pay_through_the_simulator() {
    let db = TestDatabase::sqlite();
    let server = serve(&db.url, "conditional").await;
    for kind in [
        ScenarioKind::Browse,
        ScenarioKind::Reads,
        ScenarioKind::Healthz,
    ] {
        let mut scenario = Scenario::new(kind);
        scenario.products = 5;
        let mut cfg = config(&server.base, &db, scenario);
        cfg.duration = Duration::from_millis(500);
        let report = run(&cfg).await.unwrap();
        assert_correct(&report);
        assert_eq!(
            report.measured.statuses.get("200"),
            Some(&report.measured.requests)
        );
    }
    let mut pay = hot();
    pay.kind = ScenarioKind::Pay;
    let mut cfg = config(&server.base, &db, pay.clone());
    cfg.duration = Duration::from_millis(500);
    let report = run(&cfg).await.unwrap();
    assert_correct(&report);
    let skipped = report.pay.and_then(|p| p.skipped).unwrap_or_default();
    assert!(skipped.contains("--sim-url"), "{skipped}");

    // The bundled simulator, mounted in-process: every winner pays and every IPN arrives.
    cfg.pay.sim_url = Some(format!("{}/vnpay-sim", server.base));
    cfg.pay.ipn_drop_share = 0.0;
    let report = run(&cfg).await.unwrap();
    assert_correct(&report);
    let paid = report.pay.unwrap();
    assert_eq!(paid.skipped, None);
    assert_eq!(paid.winners, 20);
    assert_eq!(
        (paid.paid_at_gateway, paid.paid, paid.still_pending),
        (20, 20, 0),
        "{paid:?}"
    );
    server.shutdown().await;
}

/// The benchmark's spike and crowd rows at a tiny size: a sale opening under an open-loop spike,
/// measured in windows, then customers over their limit and duplicates of purchases already made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spike_at_the_opening_and_the_crowds_refusals_are_measured_and_audited() {
    let redis = TestRedis::new();
    let db = TestDatabase::postgres().await;
    let server = serve_with(&db.url, "gated", Some(&redis)).await;

    let mut spike = hot();
    spike.kind = ScenarioKind::Spike;
    spike.stock = 10;
    spike.crowd = 200;
    spike.retry_share = 0.0;
    spike.burst_lead = Duration::from_millis(500);
    let mut cfg = config(&server.base, &db, spike);
    cfg.load = Load::Spike {
        rate: 200.0,
        spike_s: 0.5,
        then_rate: 50.0,
    };
    cfg.duration = Duration::from_secs(1);
    cfg.windows = Some(Duration::from_millis(100));
    let report = run(&cfg).await.unwrap();
    assert_correct(&report);
    assert_eq!(report.sold, 10, "the product must sell out exactly");
    let span = report.spike.clone().expect("a spike reports its span");
    assert_eq!(span.offered, 100, "{span:?}");
    assert_eq!(span.improper, 0, "{span:?}");
    assert_eq!(span.classes.values().sum::<u64>(), span.offered);
    let windows = &report.measured.windows;
    assert_eq!(windows.iter().map(|w| w.offered).sum::<u64>(), 125);
    assert_eq!(
        windows.last().unwrap().backlog,
        0,
        "every request has an outcome"
    );

    let mut over = hot();
    over.stock = 1_000;
    over.crowd = 20;
    over.retry_share = 0.0;
    over.presell = true;
    let mut cfg = config(&server.base, &db, over.clone());
    cfg.duration = Duration::from_millis(500);
    let report = run(&cfg).await.unwrap();
    assert_correct(&report);
    assert_eq!(
        report.sold, 20,
        "the presale sells one unit to each customer"
    );
    assert_eq!(
        report.measured.codes.get("limit_exceeded"),
        Some(&report.measured.requests),
        "{:?}",
        report.measured.statuses
    );

    over.key_per_customer = true;
    let mut cfg = config(&server.base, &db, over);
    cfg.duration = Duration::from_millis(500);
    let report = run(&cfg).await.unwrap();
    assert_correct(&report);
    assert_eq!(report.sold, 20, "duplicates replay the presale's orders");
    assert_eq!(
        report.measured.statuses.get("201"),
        Some(&report.measured.requests),
        "{:?}",
        report.measured.statuses
    );

    server.shutdown().await;
}
