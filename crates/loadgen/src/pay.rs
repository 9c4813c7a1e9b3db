//! The payment leg of the `pay` scenario: winners pay through the VNPay simulator (`POST /sim/pay`,
//! outcome success) while a chosen share of IPNs is dropped (`PUT /sim/faults`), then the orders are
//! watched until they turn paid or the wait ends.

use crate::ledger::Won;
use crate::target::Targets;
use crate::tokens::Crowd;
use anyhow::{Context, bail};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct PaySpec {
    pub sim_url: Option<String>,
    pub ipn_drop_share: f64,
    /// How long to watch orders turn paid after the last payment.
    pub wait: Duration,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PayOutcome {
    /// Why nothing was paid, when nothing could be.
    pub skipped: Option<String>,
    pub winners: usize,
    /// Payments the simulator completed.
    pub paid_at_gateway: usize,
    pub gateway_errors: usize,
    /// Orders the service shows as paid at the end of the wait.
    pub paid: usize,
    pub still_pending: usize,
    pub ipn_drop_share: f64,
    pub elapsed_s: f64,
}

impl PayOutcome {
    fn skipped(why: impl Into<String>, winners: usize) -> Self {
        Self {
            skipped: Some(why.into()),
            winners,
            ..Self::default()
        }
    }
}

async fn set_faults(targets: &Targets, sim: &str, drop: f64) -> anyhow::Result<()> {
    let response = targets
        .client
        .put(format!("{sim}/sim/faults"))
        .json(&serde_json::json!({ "ipn_drop_rate": drop }))
        .send()
        .await
        .context("PUT /sim/faults")?;
    if !response.status().is_success() {
        bail!("PUT /sim/faults answered {}", response.status());
    }
    Ok(())
}

async fn status(targets: &Targets, crowd: &Crowd, won: &Won) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Order {
        status: String,
    }
    let response = targets
        .client
        .get(format!("{}/orders/{}", targets.base(), won.order_id))
        .header(
            reqwest::header::AUTHORIZATION,
            crowd.authorization(won.customer),
        )
        .send()
        .await
        .ok()?;
    response.json::<Order>().await.ok().map(|o| o.status)
}

pub async fn pay(
    targets: &Targets,
    crowd: &Arc<Crowd>,
    winners: Vec<Won>,
    spec: &PaySpec,
) -> anyhow::Result<PayOutcome> {
    let Some(sim) = spec.sim_url.as_deref().map(|s| s.trim_end_matches('/')) else {
        return Ok(PayOutcome::skipped(
            "no --sim-url given: the pay scenario needs the VNPay simulator; orders were placed but not paid",
            winners.len(),
        ));
    };
    let payable: Vec<Won> = winners
        .iter()
        .filter(|w| w.payment_url.is_some())
        .cloned()
        .collect();
    if payable.is_empty() {
        return Ok(PayOutcome::skipped(
            "the service answered its orders without a payment_url: no gateway is wired to it",
            winners.len(),
        ));
    }
    set_faults(targets, sim, spec.ipn_drop_share).await?;
    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for won in payable.clone() {
        let (client, slots, url) = (
            targets.client.clone(),
            slots.clone(),
            format!("{sim}/sim/pay"),
        );
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await.ok()?;
            let body = serde_json::json!({"url": won.payment_url, "outcome": "success"});
            let response = client.post(url).json(&body).send().await.ok()?;
            response.status().is_success().then_some(())
        });
    }
    let (mut paid_at_gateway, mut gateway_errors) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Some(())) => paid_at_gateway += 1,
            _ => gateway_errors += 1,
        }
    }
    let deadline = Instant::now() + spec.wait;
    let mut pending = payable;
    let mut paid = 0;
    loop {
        let mut still = Vec::new();
        for won in pending {
            match status(targets, crowd, &won).await.as_deref() {
                Some("paid") => paid += 1,
                _ => still.push(won),
            }
        }
        pending = still;
        if pending.is_empty() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    set_faults(targets, sim, 0.0).await?;
    Ok(PayOutcome {
        skipped: None,
        winners: winners.len(),
        paid_at_gateway,
        gateway_errors,
        paid,
        still_pending: pending.len(),
        ipn_drop_share: spec.ipn_drop_share,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}
