//! BENCHMARKS.md: the medians of the rounds, their ratios to pessimistic and to the ceilings, the
//! targets with their verdicts, every round's raw value, the machine, the date and the command.

use super::BenchArgs;
use super::results::{Figures, Median, Row};
use super::targets::{Target, earlier_targets, targets};
use crate::summary::micros;
use std::fmt::Write;
use std::time::Duration;

pub struct Context {
    pub date: String,
    /// /proc/loadavg when the suite started and when it ended.
    pub load: (String, String),
    pub command: String,
    pub machine: Vec<(String, String)>,
    pub args: BenchArgs,
    pub elapsed: Duration,
}

pub fn rate(v: f64) -> String {
    let whole = v.round() as i64;
    let digits = whole.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if whole < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

pub fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

pub fn percent(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 => format!("{:.1}%", 100.0 * a / b),
        _ => "–".into(),
    }
}

pub fn audit(m: &Median) -> String {
    if m.audits.1 == 0 {
        "–".into()
    } else if m.audits.0 == m.audits.1 {
        format!("clean {}/{}", m.audits.0, m.audits.1)
    } else {
        format!("**FAILED** {}/{}", m.audits.1 - m.audits.0, m.audits.1)
    }
}

pub fn cpu(m: &Median) -> String {
    m.cpu.map_or_else(
        || "–".into(),
        |c| {
            if c.server == 0.0 && c.loadgen == 0.0 {
                return format!("– / – / {:.2}", c.machine);
            }
            format!(
                "{:.2} / {:.2} / {:.2}",
                c.server,
                c.loadgen,
                (c.machine - c.server - c.loadgen).max(0.0)
            )
        },
    )
}

fn rss(m: &Median) -> String {
    m.rss_kib
        .map_or_else(|| "–".into(), |k| format!("{:.1} MB", k as f64 / 1024.0))
}

fn codes(m: &Median) -> String {
    let mut parts: Vec<String> = m
        .representative
        .codes
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    for (status, count) in &m.representative.statuses {
        if status.starts_with('5') || status == "transport_error" || status == "429" {
            parts.push(format!("{status}: {count}"));
        }
    }
    if parts.is_empty() {
        "–".into()
    } else {
        parts.join(", ")
    }
}

/// The strategy table of one row: one line per backend and strategy.
fn strategy_table(out: &mut String, f: &Figures, row: Row) {
    let healthz = f.healthz();
    let lock = f.value(Row::PgbenchLock, None, None);
    let conditional = f.value(Row::PgbenchConditional, None, None);
    let _ = writeln!(
        out,
        "| backend | strategy | {} (median) | × pessimistic | vs /healthz | vs pgbench lock | vs pgbench conditional | p50 | p99 | p99.9 | server RSS | CPU server / loadgen / rest (cores) | PostgreSQL backends wait on | codes and errors (median run) | audit |",
        row.unit()
    );
    let _ = writeln!(
        out,
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|---|"
    );
    for backend in &f.backends {
        let pess = f.value(row, Some(backend), Some("pessimistic"));
        for strategy in &f.strategies {
            let Some(m) = f.get(row, Some(backend), Some(strategy)) else {
                continue;
            };
            let pg = backend == "postgres";
            let _ = writeln!(
                out,
                "| {backend} | {strategy} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                rate(m.value),
                ratio(m.value, pess),
                percent(m.value, healthz),
                if pg {
                    ratio(m.value, lock)
                } else {
                    "–".into()
                },
                if pg {
                    ratio(m.value, conditional)
                } else {
                    "–".into()
                },
                micros(m.p50_us),
                micros(m.p99_us),
                micros(m.p999_us),
                rss(m),
                cpu(m),
                super::pgwait::top(&m.pg_waits),
                codes(m),
                audit(m),
            );
        }
    }
}

/// The many-products rows: one sale over many products on one or several instances, on the single
/// Redis and, when measured, on the Redis Cluster.
fn many_table(out: &mut String, f: &Figures, a: &super::BenchArgs) {
    let rows: Vec<_> = f
        .medians
        .values()
        .filter(|m| m.key.row == Row::Many)
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n## Many products\n\n{} products of {} units each, purchases spread over them (strategy `gated`, \
         PostgreSQL + Redis): every purchase wins a unit, so this is durable writes over many stock rows, \
         by instances that share one database and one Redis (or Redis Cluster), the load generator \
         sending to each in turn. On one 2-core machine more instances add contention, not CPU.\n",
        rate(a.many_products as f64),
        a.stock
    );
    let _ = writeln!(
        out,
        "| instances | Redis | req/s (median) | p50 | p99 | p99.9 | errors | PostgreSQL backends wait on | audit |"
    );
    let _ = writeln!(out, "|--:|---|--:|--:|--:|--:|--:|---|---|");
    for m in rows {
        let (instances, cluster) = super::many_config(m.key.strategy.as_deref().unwrap_or("1"));
        let _ = writeln!(
            out,
            "| {instances} | {} | {} | {} | {} | {} | {} | {} | {} |",
            if cluster { "cluster" } else { "one server" },
            rate(m.value),
            micros(m.p50_us),
            micros(m.p99_us),
            micros(m.p999_us),
            m.errors,
            super::pgwait::top(&m.pg_waits),
            audit(m),
        );
    }
}

fn target_table(out: &mut String, targets: &[Target]) {
    let _ = writeln!(out, "| target | goal | measured | verdict |");
    let _ = writeln!(out, "|---|---|---|---|");
    for t in targets {
        let verdict = match t.met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "not measured",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {verdict} |",
            t.name, t.goal, t.measured
        );
    }
}

pub fn render(f: &Figures, c: &Context) -> String {
    let a = &c.args;
    let mut out = String::new();
    let _ = writeln!(out, "# flashgate benchmarks\n");
    let _ = writeln!(
        out,
        "## Targets\n\nMeasured side by side in one run of `scripts/bench.sh` ({}, median of {} round(s), \
         the machine and the command below); a missed target is shown missed, with its figure.\n",
        c.date, a.rounds
    );
    target_table(&mut out, &targets(f));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Generated by `scripts/bench.sh` on {} in {:.0} s. Every figure is the **median of {} round(s)**; \
         each round runs every configuration once, in an order rotated between rounds so that drift of the \
         shared machine spreads over all configurations. Each measurement gets a freshly started `flashgate \
         serve` (release build, `FLASHGATE_LOG__FILTER=warn`) on a fresh database, {} closed-loop buyers for \
         {} s, then the correctness audit (`flashgate audit`'s checks through the `flashgate-store` auditor, \
         plus the load generator's own: no oversell, orders = min(stock, demand), one order per idempotency \
         key, per-customer limits).\n",
        c.date,
        c.elapsed.as_secs_f64(),
        a.rounds,
        a.buyers,
        a.duration
    );
    let _ = writeln!(
        out,
        "Backends: `sqlite` is the embedded default (a SQLite file, every fast-path part in process); \
         `postgres` is production's shape (PostgreSQL, with the admission gate, the L2 product cache and \
         the invalidation bus in Redis). Per-IP rate limits are off in every run: the whole crowd comes \
         from one address.\n"
    );
    let _ = writeln!(out, "Command:\n\n```\n{}\n```\n", c.command);

    let _ = writeln!(
        out,
        "\n## Hot product: purchase attempts per second\n\nOne product with {} units, a crowd of {} customers \
         (limit 1 each), {}% of attempts retried with the same `Idempotency-Key`. Most attempts meet a sold-out \
         product: this is the rate at which the service answers a crowd.\n",
        a.stock,
        rate(a.crowd as f64),
        2
    );
    strategy_table(&mut out, f, Row::Hot);

    let _ = writeln!(
        out,
        "\n## Durable winners per second\n\nThe same hot product with ample stock and no per-customer limit: \
         every attempt creates an order (committed, with its idempotency record and ledger row), so this is \
         the rate of durable sales on one row.\n"
    );
    strategy_table(&mut out, f, Row::Winners);
    super::crowd::table(&mut out, f, a);
    out.push_str(&super::spike_report::markdown(f, a));

    let _ = writeln!(
        out,
        "\n## Product reads\n\n`GET /products/{{id}}` of one product: `uncached` with the product cache switched \
         off (`FLASHGATE_CACHE__ENABLED=false`, every read a database query), `cached` through the in-process \
         L1 over Redis L2 (SQLite: the L1 alone).\n"
    );
    let _ = writeln!(
        out,
        "| backend | path | req/s (median) | vs /healthz | p50 | p99 | p99.9 | CPU server / loadgen / rest | PostgreSQL backends wait on |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|---|");
    for backend in &f.backends {
        for path in super::READ_PATHS {
            let Some(m) = f.get(Row::Reads, Some(backend), Some(path)) else {
                continue;
            };
            let _ = writeln!(
                out,
                "| {backend} | {path} | {} | {} | {} | {} | {} | {} | {} |",
                rate(m.value),
                percent(m.value, f.healthz()),
                micros(m.p50_us),
                micros(m.p99_us),
                micros(m.p999_us),
                cpu(m),
                super::pgwait::top(&m.pg_waits)
            );
        }
    }

    many_table(&mut out, f, a);

    let _ = writeln!(out, "\n## Ceilings on the same machine\n");
    let _ = writeln!(
        out,
        "| ceiling | what | rate (median) | p50 | p99 | CPU server / loadgen / rest | PostgreSQL backends wait on |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|---|");
    let ceilings = [
        (
            Row::Healthz,
            "`GET /healthz` of flashgate: the HTTP stack with no work behind it",
        ),
        (
            Row::PgbenchLock,
            "pgbench, one hot row: `BEGIN; SELECT … FOR UPDATE; UPDATE …; COMMIT`",
        ),
        (
            Row::PgbenchConditional,
            "pgbench, one hot row: `UPDATE … WHERE available >= 1 RETURNING`",
        ),
        (
            Row::PgbenchPrepared,
            "pgbench, one hot row, its best shape: autocommit `UPDATE … WHERE available > 0`, `-M prepared`",
        ),
        (
            Row::RedisEval,
            "redis-benchmark: `EVAL` of a check-and-decrement script, 50 clients",
        ),
        (Row::RedisIncr, "redis-benchmark: `INCR`, 50 clients"),
    ];
    for (row, what) in ceilings {
        if let Some(m) = f.get(row, None, None) {
            let lat = |us: u64| {
                if us == 0 {
                    "–".to_owned()
                } else {
                    micros(us)
                }
            };
            let _ = writeln!(
                out,
                "| {row:?} | {what} | {} {} | {} | {} | {} | {} |",
                rate(m.value),
                row.unit(),
                lat(m.p50_us),
                lat(m.p99_us),
                cpu(m),
                super::pgwait::top(&m.pg_waits)
            );
        }
    }
    let _ = writeln!(
        out,
        "\npgbench runs {} clients (the server's pool size) with `-j 2`.\n",
        a.pgbench_clients
    );

    let _ = writeln!(
        out,
        "## Earlier targets\n\nThe previous round of work's targets, still measured by the same run.\n"
    );
    target_table(&mut out, &earlier_targets(f));

    let _ = writeln!(out, "\n## Every round\n");
    let _ = writeln!(
        out,
        "| row | backend | strategy | rounds | spread (max/min) |"
    );
    let _ = writeln!(out, "|---|---|---|---|--:|");
    for m in f.medians.values() {
        let values: Vec<String> = m.values.iter().map(|v| rate(*v)).collect();
        let (lo, hi) = m
            .values
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        let _ = writeln!(
            out,
            "| {:?} | {} | {} | {} | {} |",
            m.key.row,
            m.key.backend.as_deref().unwrap_or("–"),
            m.key.strategy.as_deref().unwrap_or("–"),
            values.join(" · "),
            if lo > 0.0 {
                format!("{:.2}", hi / lo)
            } else {
                "–".into()
            }
        );
    }

    let _ = writeln!(out, "\n## Machine\n");
    for (k, v) in &c.machine {
        let _ = writeln!(out, "- {k}: {v}");
    }
    let _ = writeln!(
        out,
        "- load average (1, 5, 15 min): {} at the start, {} at the end. The machine may be shared with \
         other work; the CPU columns' \"rest\" shows how much of it was busy besides flashgate and the load \
         generator.",
        c.load.0, c.load.1
    );
    if let Some(note) = &a.machine_note {
        let _ = writeln!(out, "- note: {note}");
    }
    let _ = writeln!(
        out,
        "\nCPU columns: average cores used during the measurement by the flashgate process, by the load \
         generator, and by everything else on the machine (mostly PostgreSQL), from /proc. Wait column: \
         what PostgreSQL's active backends were doing in `pg_stat_activity`, sampled twice a second over \
         every round (`running` = on CPU or about to be; `Lock:transactionid`/`Lock:tuple` = queued behind \
         another transaction's row lock; `IO:WALSync`/`LWLock:WALWrite` = waiting for the commit to reach \
         disk; `idle in transaction` = inside a transaction, waiting for flashgate's next statement).\n\nPlots: \
         [bench/report.html](bench/report.html). Raw samples: `bench/results.json`."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_grouped_by_thousands() {
        assert_eq!(rate(1_234_567.4), "1,234,567");
        assert_eq!(rate(999.6), "1,000");
        assert_eq!(rate(12.0), "12");
    }
}
