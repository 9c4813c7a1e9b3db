//! One load run from setup to audit: create the scenario's products, offer the load, watch progress,
//! pay (scenario `pay`), audit, and gather every figure into a [`RunReport`].

use crate::audit::{self, Audit};
use crate::driver::{self, Bounds, Load};
use crate::execute::Context;
use crate::ledger::Ledger;
use crate::pay::{self, PayOutcome, PaySpec};
use crate::progress;
use crate::recorder::{Measured, Recorder};
use crate::scenario::Scenario;
use crate::target::Targets;
use crate::tokens::Crowd;
use crate::windows::Span;
use anyhow::Context as _;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Everything a run needs. [`RunConfig::new`] gives the defaults of the command line.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Base URLs of the instances, e.g. `http://127.0.0.1:8080`.
    pub targets: Vec<String>,
    pub admin_token: String,
    pub jwt_secret: String,
    pub scenario: Scenario,
    pub load: Load,
    pub duration: Duration,
    /// Largest number of requests in flight (open loop, burst) and the connection pool's size.
    pub max_in_flight: usize,
    pub max_requests: Option<u64>,
    pub timeout: Duration,
    /// The service's database, for `flashgate audit`'s checks; `None` skips them.
    pub database_url: Option<String>,
    pub pay: PaySpec,
    /// Print the live progress line.
    pub progress: bool,
    /// Names the run in the progress line and the report.
    pub label: String,
    /// Also measure in windows of this width from the start (see [`crate::windows`]).
    pub windows: Option<Duration>,
}

impl RunConfig {
    pub fn new(targets: Vec<String>, scenario: Scenario) -> Self {
        Self {
            targets,
            admin_token: "dev-admin-token-change-me".to_owned(),
            jwt_secret: "dev-jwt-secret-change-me-0123456789abcdef".to_owned(),
            scenario,
            load: Load::Closed { buyers: 64 },
            duration: Duration::from_secs(10),
            max_in_flight: 256,
            max_requests: None,
            timeout: Duration::from_secs(30),
            database_url: None,
            pay: PaySpec {
                sim_url: None,
                ipn_drop_share: 0.1,
                wait: Duration::from_secs(10),
            },
            progress: true,
            label: "run".to_owned(),
            windows: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub label: String,
    pub scenario: Scenario,
    pub load: Load,
    pub targets: Vec<String>,
    pub duration_s: f64,
    #[serde(flatten)]
    pub measured: Measured,
    /// Orders created (each counted once, replays aside).
    pub sold: u64,
    /// Orders created per second of the run.
    pub winners_per_s: f64,
    pub audit: Audit,
    pub pay: Option<PayOutcome>,
    /// `Load::Spike` with windows: the requests meant for the spike itself, taken together.
    pub spike: Option<Span>,
    pub finished_at: String,
}

/// Runs one scenario against the targets and audits the outcome.
pub async fn run(config: &RunConfig) -> anyhow::Result<RunReport> {
    let pool = match config.load {
        Load::Closed { buyers } => buyers,
        _ => config.max_in_flight,
    };
    let targets = Targets::new(
        config.targets.clone(),
        &config.admin_token,
        pool,
        config.timeout,
    )?;
    targets.wait_ready(Duration::from_secs(30)).await?;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let scenario = &config.scenario;
    let crowd_size = if scenario.kind.buys() {
        scenario.crowd.max(1)
    } else {
        1
    };
    let crowd = Arc::new(Crowd::mint(
        &config.jwt_secret,
        &format!("lg-{run_id}"),
        crowd_size,
        time::Duration::hours(2),
    )?);
    let prepared = scenario
        .prepare(&targets, &run_id)
        .await
        .context("setting the scenario up through the admin API")?;
    let load = if scenario.kind == crate::scenario::ScenarioKind::Burst {
        Load::Burst
    } else {
        config.load
    };
    let ledger = Arc::new(Ledger::default());
    let mut start = prepared.start;
    if let Some(presell) = &prepared.presell {
        let presale = Arc::new(Context {
            targets: targets.clone(),
            crowd: crowd.clone(),
            recorder: Arc::new(Recorder::new(std::time::Instant::now())?),
            ledger: ledger.clone(),
            run_id: run_id.clone(),
        });
        let bounds = Bounds {
            duration: Duration::from_secs(3600),
            max_requests: None,
            max_in_flight: pool,
        };
        let buyers = Load::Closed { buyers: pool };
        driver::drive(
            presale,
            presell.clone(),
            buyers,
            bounds,
            std::time::Instant::now(),
        )
        .await;
        start = start.max(std::time::Instant::now());
    }
    let recorder = Arc::new(match config.windows {
        Some(width) => Recorder::with_windows(start, width)?,
        None => Recorder::new(start)?,
    });
    let ctx = Arc::new(Context {
        targets: targets.clone(),
        crowd: crowd.clone(),
        recorder: recorder.clone(),
        ledger: ledger.clone(),
        run_id,
    });
    let progress = config
        .progress
        .then(|| progress::spawn(config.label.clone(), recorder.clone()));
    let bounds = Bounds {
        duration: config.duration,
        max_requests: config.max_requests,
        max_in_flight: config.max_in_flight,
    };
    driver::drive(ctx, prepared.traffic.clone(), load, bounds, start).await;
    let ran = start.elapsed();
    if let Some(task) = progress {
        task.abort();
        progress::finish();
    }
    let measured = recorder.measured();
    let spike = match load {
        Load::Spike { spike_s, .. } => {
            let spike = Duration::from_secs_f64(spike_s.max(0.0));
            recorder.span(Duration::ZERO, spike)
        }
        _ => None,
    };
    let view = ledger.view();
    let pay = if scenario.kind == crate::scenario::ScenarioKind::Pay {
        Some(pay::pay(&targets, &crowd, view.orders.clone(), &config.pay).await?)
    } else {
        None
    };
    let audit = audit::audit(
        &targets,
        &prepared.products,
        &view,
        scenario.kind.buys(),
        config.database_url.as_deref(),
    )
    .await?;
    let sold = view.orders.len() as u64;
    let elapsed = if measured.elapsed_s > 0.0 {
        measured.elapsed_s
    } else {
        ran.as_secs_f64()
    };
    Ok(RunReport {
        label: config.label.clone(),
        scenario: scenario.clone(),
        load,
        targets: config.targets.clone(),
        duration_s: ran.as_secs_f64(),
        winners_per_s: if elapsed > 0.0 {
            sold as f64 / elapsed
        } else {
            0.0
        },
        sold,
        measured,
        audit,
        pay,
        spike,
        finished_at: now_rfc3339(),
    })
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
