//! The correctness audit of a run: what the buyers were told against what the service's products show,
//! then the service's own invariant checks (`flashgate audit`) run on its database through the
//! `flashgate-store` auditor.

use crate::ledger::LedgerView;
use crate::scenario::Stocked;
use crate::target::Targets;
use anyhow::Context;
use flashgate_store::{PoolSettings, Store};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// One product after the run.
#[derive(Debug, Clone, Serialize)]
pub struct ProductOutcome {
    pub id: i64,
    pub stock: i64,
    /// `available` from GET /products/{id} after the run.
    pub available: i64,
    /// Units the service no longer offers: stock - available.
    pub taken: i64,
    /// Units in orders that a 201 named.
    pub confirmed: i64,
    /// Units the crowd asked for, each customer capped at the limit (attempts with a definitive answer).
    pub demand: i64,
    /// Attempts whose outcome is unknown (no answer, 5xx, 429).
    pub unknown: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    pub passed: bool,
    pub checks: Vec<Check>,
    pub products: Vec<ProductOutcome>,
    /// The `flashgate audit --json` report, when the database was given.
    pub store_report: Option<serde_json::Value>,
}

impl Audit {
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }
}

fn check(name: &'static str, problems: &[String], ok: String) -> Check {
    Check {
        name,
        passed: problems.is_empty(),
        detail: if problems.is_empty() {
            ok
        } else {
            let mut shown: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
            if problems.len() > 5 {
                shown.push("…");
            }
            shown.join("; ")
        },
    }
}

/// Audits a purchase scenario's products against the ledger; `database_url` adds the store's audit.
pub async fn audit(
    targets: &Targets,
    products: &[Stocked],
    ledger: &LedgerView,
    buys: bool,
    database_url: Option<&str>,
) -> anyhow::Result<Audit> {
    let mut checks = Vec::new();
    let mut outcomes = Vec::new();
    if buys {
        let mut confirmed: HashMap<i64, i64> = HashMap::new();
        let mut held: HashMap<(usize, i64), i64> = HashMap::new();
        for order in &ledger.orders {
            *confirmed.entry(order.product_id).or_default() += order.quantity;
            *held.entry((order.customer, order.product_id)).or_default() += order.quantity;
        }
        let limits: HashMap<i64, Option<i64>> = products
            .iter()
            .map(|p| (p.id, p.per_customer_limit))
            .collect();
        let mut demand: HashMap<i64, i64> = HashMap::new();
        for (&(_, product), &units) in &ledger.demand {
            let cap = limits.get(&product).copied().flatten().unwrap_or(i64::MAX);
            *demand.entry(product).or_default() += units.min(cap);
        }
        let (mut oversold, mut mismatched) = (Vec::new(), Vec::new());
        for product in products {
            let now = targets.product(product.id).await?;
            let outcome = ProductOutcome {
                id: product.id,
                stock: product.stock,
                available: now.available,
                taken: product.stock - now.available,
                confirmed: confirmed.get(&product.id).copied().unwrap_or(0),
                demand: demand.get(&product.id).copied().unwrap_or(0),
                unknown: ledger.unknown.get(&product.id).copied().unwrap_or(0),
            };
            if outcome.available < 0
                || outcome.taken > outcome.stock
                || outcome.confirmed > outcome.stock
            {
                oversold.push(format!(
                    "product {}: stock {}, available {}, confirmed {}",
                    outcome.id, outcome.stock, outcome.available, outcome.confirmed
                ));
            }
            let floor = outcome.stock.min(outcome.demand);
            let unknown = i64::try_from(outcome.unknown).unwrap_or(i64::MAX);
            let ceiling = outcome.stock.min(outcome.demand.saturating_add(unknown));
            if outcome.taken < floor || outcome.taken > ceiling || outcome.confirmed > outcome.taken
            {
                mismatched.push(format!(
                    "product {}: taken {}, confirmed {}, expected min(stock {}, demand {}) (+{} unknown)",
                    outcome.id,
                    outcome.taken,
                    outcome.confirmed,
                    outcome.stock,
                    outcome.demand,
                    outcome.unknown
                ));
            }
            outcomes.push(outcome);
        }
        let taken: i64 = outcomes.iter().map(|o| o.taken).sum();
        let stock: i64 = outcomes.iter().map(|o| o.stock).sum();
        let wanted: i64 = outcomes.iter().map(|o| o.demand).sum();
        checks.push(check(
            "no_oversell",
            &oversold,
            format!("{taken} of {stock} units taken, none beyond stock"),
        ));
        checks.push(check(
            "orders_match_demand",
            &mismatched,
            format!("orders = min(stock, demand): {taken} units for a demand of {wanted}"),
        ));
        let mut keys = ledger.keys_with_two_orders.clone();
        keys.extend(ledger.retry_mismatches.iter().cloned());
        checks.push(check(
            "one_order_per_key",
            &keys,
            format!(
                "{} orders, {} retries with the same key replayed the same order",
                ledger.orders.len(),
                ledger.retries_checked
            ),
        ));
        let over: Vec<String> = held
            .iter()
            .filter_map(|(&(customer, product), &units)| {
                let limit = limits.get(&product).copied().flatten()?;
                (units > limit).then(|| {
                    format!("customer {customer}, product {product}: {units} units, limit {limit}")
                })
            })
            .collect();
        checks.push(check(
            "per_customer_limit",
            &over,
            format!("{} buyers, none over the limit", held.len()),
        ));
    }
    let store_report = match database_url {
        Some(url) => {
            let report = store_audit(url).await?;
            let clean = report
                .get("checks")
                .and_then(|c| c.as_array())
                .is_some_and(|checks| {
                    checks.iter().all(|c| {
                        c.get("violations")
                            .and_then(|v| v.as_array())
                            .is_some_and(Vec::is_empty)
                    })
                });
            let failed: Vec<String> = if clean {
                Vec::new()
            } else {
                vec![format!("violations: {report}")]
            };
            checks.push(check(
                "flashgate_audit",
                &failed,
                "every invariant of `flashgate audit` holds".to_owned(),
            ));
            Some(report)
        }
        None => None,
    };
    Ok(Audit {
        passed: checks.iter().all(|c| c.passed),
        checks,
        products: outcomes,
        store_report,
    })
}

/// The report `flashgate audit --json` prints, computed by the same auditor in this process.
async fn store_audit(url: &str) -> anyhow::Result<serde_json::Value> {
    let pool = PoolSettings {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(30),
        ..PoolSettings::default()
    };
    let store = Store::open(url, &pool, false)
        .await
        .context("opening the database to audit it")?;
    let report = store
        .auditor
        .audit()
        .await
        .context("auditing the database")?;
    serde_json::to_value(&report).context("serialising the audit report")
}
