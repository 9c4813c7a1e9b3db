//! The crowd rows: the answers most of a flash sale's crowd gets (sold out, over the limit, a duplicate
//! of a purchase already made), each on a fresh gated server beside that server's own `GET /healthz`.

use super::BenchArgs;
use super::markdown::{audit, cpu, percent, rate};
use super::results::{Figures, Row};
use crate::scenario::{Scenario, ScenarioKind};
use crate::summary::micros;
use std::fmt::Write;

/// The crowd rows: the same gated server's static endpoint, then a crowd meeting a sold-out product,
/// customers over their limit, and duplicates of purchases already made.
pub const KINDS: [&str; 4] = ["healthz", "sold_out", "over_limit", "duplicate"];

/// The one backend the crowd rows and the spike run on: production's shape when it is measured.
pub fn backend(args: &BenchArgs, postgres: bool) -> String {
    if postgres && args.backends.iter().any(|b| b == "postgres") {
        return "postgres".to_owned();
    }
    args.backends
        .iter()
        .find(|b| b.as_str() != "postgres")
        .cloned()
        .unwrap_or_else(|| "sqlite".to_owned())
}

/// A crowd row's scenario: answers that refuse, on one hot product.
pub fn scenario(args: &BenchArgs, kind: &str) -> Scenario {
    let mut s = Scenario::new(ScenarioKind::Hot);
    s.per_customer_limit = Some(1);
    s.retry_share = 0.0;
    match kind {
        // One unit: the first attempt takes it, every later one is told sold out.
        "sold_out" => {
            s.stock = 1;
            s.crowd = args.crowd;
        }
        // Ample stock; every customer bought their one unit before the clock started.
        "over_limit" | "duplicate" => {
            s.stock = 1_000_000_000;
            s.crowd = args.crowd_customers.max(1);
            s.presell = true;
            s.key_per_customer = kind == "duplicate";
        }
        _ => s = Scenario::new(ScenarioKind::Healthz),
    }
    s
}

/// The crowd rows: one gated server's answers that refuse, beside its own static endpoint.
pub fn table(out: &mut String, f: &Figures, a: &BenchArgs) {
    let Some(backend) = f
        .medians
        .keys()
        .find(|k| k.row == Row::Crowd)
        .and_then(|k| k.backend.clone())
    else {
        return;
    };
    let healthz = f.value(Row::Crowd, Some(&backend), Some("healthz"));
    let _ = writeln!(
        out,
        "\n## A crowd's refusals\n\nThe answers most of a flash sale's crowd gets, each on a fresh `gated` \
         server ({backend}) beside that kind of server's own `GET /healthz`: `sold_out` = a product of one \
         unit, bought out by the first attempt, then {} customers (limit 1) asking for it; `over_limit` = \
         {} customers who each bought their one unit before the clock started, buying again with new keys; \
         `duplicate` = the same customers sending their first purchase again with its `Idempotency-Key` \
         (the stored 201 is the answer). {} closed-loop buyers, {} s each.\n",
        rate(a.crowd as f64),
        rate(a.crowd_customers as f64),
        a.buyers,
        a.duration
    );
    let _ = writeln!(
        out,
        "| answers | req/s (median) | vs /healthz | p50 | p99 | p99.9 | CPU server / loadgen / rest (cores) | statuses and codes (median run) | audit |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|---|---|");
    for kind in KINDS {
        let Some(m) = f.get(Row::Crowd, Some(&backend), Some(kind)) else {
            continue;
        };
        let mut answers: Vec<String> = m
            .representative
            .statuses
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        answers.extend(
            m.representative
                .codes
                .iter()
                .map(|(k, v)| format!("{k} {v}")),
        );
        let _ = writeln!(
            out,
            "| {kind} | {} | {} | {} | {} | {} | {} | {} | {} |",
            rate(m.value),
            percent(m.value, healthz),
            micros(m.p50_us),
            micros(m.p99_us),
            micros(m.p999_us),
            cpu(m),
            answers.join(", "),
            audit(m),
        );
    }
}
