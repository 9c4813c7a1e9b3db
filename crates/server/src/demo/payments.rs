//! After the rush: most winners pay through the bundled simulator while it drops a share of the IPNs,
//! the rest never pay; then the orders are watched until the IPN, the reconciler or the expirer has
//! settled each one.

use super::crowd::Won;
use super::{Demo, Options, Progress};
use anyhow::{Context, bail};
use flashgate_core::OrderId;
use futures_util::StreamExt;
use futures_util::stream;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

/// Calls to the simulator or the service in flight at once.
const IN_FLIGHT: usize = 32;
/// How long settlement may take beyond the hold, before the demo reports what is still pending.
const SETTLE_MARGIN: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct Paid {
    /// Orders the simulator took the money for.
    pub at_gateway: HashSet<String>,
    pub gateway_errors: usize,
}

#[derive(Debug, Default)]
pub struct Settled {
    /// Each winner's order status at the end.
    pub statuses: HashMap<String, String>,
    /// Paid orders whose IPN reached the service.
    pub via_ipn: usize,
    /// Paid orders whose IPN was dropped: the reconciler's querydr found them.
    pub via_reconciler: usize,
}

pub async fn pay(
    demo: &Demo,
    won: &[Won],
    options: &Options,
    progress: Progress<'_>,
) -> anyhow::Result<Paid> {
    let payers = won.len() * usize::from(100 - options.unpaid_percent.min(100)) / 100;
    set_ipn_drop_rate(demo, f64::from(options.drop_ipn_percent.min(100)) / 100.0).await?;
    progress(format!(
        "paying for {payers} of {} orders through the simulator, {}% of IPNs dropped; {} left unpaid",
        won.len(),
        options.drop_ipn_percent.min(100),
        won.len() - payers
    ));
    let url = format!("{}/vnpay-sim/sim/pay", demo.base_url);
    let results: Vec<(String, bool)> = stream::iter(&won[..payers])
        .map(|w| {
            let request = demo.client.post(&url).json(&serde_json::json!({
                "url": w.payment_url,
                "outcome": "success",
            }));
            async move {
                let ok = request.send().await.is_ok_and(|r| r.status().is_success());
                (w.order_id.clone(), ok)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    // Leave the simulator without faults for whoever looks around afterwards.
    set_ipn_drop_rate(demo, 0.0).await?;
    let mut paid = Paid::default();
    for (order, ok) in results {
        if ok {
            paid.at_gateway.insert(order);
        } else {
            paid.gateway_errors += 1;
        }
    }
    Ok(paid)
}

async fn set_ipn_drop_rate(demo: &Demo, rate: f64) -> anyhow::Result<()> {
    let response = demo
        .client
        .put(format!("{}/vnpay-sim/sim/faults", demo.base_url))
        .json(&serde_json::json!({ "ipn_drop_rate": rate }))
        .send()
        .await
        .context("PUT /vnpay-sim/sim/faults")?;
    if !response.status().is_success() {
        bail!("PUT /vnpay-sim/sim/faults answered {}", response.status());
    }
    Ok(())
}

/// Watches every winner's order until none is pending (or the hold plus a margin has passed).
pub async fn settle(demo: &Demo, won: &[Won], progress: Progress<'_>) -> anyhow::Result<Settled> {
    let hold = demo.state.settings.inventory.hold;
    progress(format!(
        "waiting for the IPNs, the reconciler (dropped IPNs) and the expirer (unpaid holds, {}s)",
        hold.as_secs()
    ));
    let deadline = Instant::now() + hold + SETTLE_MARGIN;
    let mut last = String::new();
    let statuses = loop {
        let statuses = statuses(demo, won).await?;
        let count = |status: &str| statuses.values().filter(|s| *s == status).count();
        let pending = count("pending_payment");
        let line = format!(
            "  {} paid · {} expired · {pending} pending",
            count("paid"),
            count("expired")
        );
        if line != last {
            progress(line.clone());
            last = line;
        }
        if pending == 0 || Instant::now() >= deadline {
            break statuses;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let acknowledged: HashSet<String> = demo
        .simulator
        .ipn_deliveries()
        .into_iter()
        .filter(|d| !d.dropped && d.acknowledged())
        .map(|d| d.txn_ref)
        .collect();
    let mut settled = Settled::default();
    for (order, status) in &statuses {
        if status == "paid" {
            if acknowledged.contains(&txn_ref(order)?) {
                settled.via_ipn += 1;
            } else {
                settled.via_reconciler += 1;
            }
        }
    }
    settled.statuses = statuses;
    Ok(settled)
}

fn txn_ref(order: &str) -> anyhow::Result<String> {
    let id = uuid::Uuid::parse_str(order).with_context(|| format!("order id {order}"))?;
    Ok(OrderId(id).txn_ref())
}

async fn statuses(demo: &Demo, won: &[Won]) -> anyhow::Result<HashMap<String, String>> {
    #[derive(serde::Deserialize)]
    struct Order {
        id: String,
        status: String,
    }
    stream::iter(won)
        .map(|w| {
            let request = demo
                .client
                .get(format!("{}/orders/{}", demo.base_url, w.order_id))
                .bearer_auth(&w.token);
            async move {
                let order: Order = request
                    .send()
                    .await
                    .context("GET /orders/{id}")?
                    .error_for_status()?
                    .json()
                    .await?;
                Ok((order.id, order.status))
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<anyhow::Result<_>>>()
        .await
        .into_iter()
        .collect()
}
