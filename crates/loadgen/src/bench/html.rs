//! bench/report.html: one self-contained page (inline CSS and SVG, no script, no external asset) with
//! the targets, the medians, and plots of throughput over time and latency percentiles per strategy.

use super::markdown::{Context, audit, cpu, percent, rate, ratio};
use super::results::{Figures, Median, Row};
use super::svg::{Axis, Series, bar_chart, line_chart};
use super::targets::{Target, earlier_targets, targets};
use crate::summary::micros;
use std::fmt::Write;

const PALETTE: [&str; 6] = [
    "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

fn color(f: &Figures, strategy: &str) -> &'static str {
    let i = f.strategies.iter().position(|s| s == strategy).unwrap_or(0);
    PALETTE[i % PALETTE.len()]
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// x position of quantile q on a "number of nines" axis.
fn nines(q: f64) -> f64 {
    -(1.0 - q).log10()
}

/// One line per strategy measured for `row` on `backend`, its points read from the run shown.
fn per_strategy(
    f: &Figures,
    row: Row,
    backend: &str,
    points: impl Fn(&Median) -> Vec<(f64, f64)>,
) -> Vec<Series> {
    f.strategies
        .iter()
        .filter_map(|s| {
            let m = f.get(row, Some(backend), Some(s))?;
            Some(Series {
                name: s.clone(),
                color: color(f, s),
                points: points(m),
            })
        })
        .collect()
}

fn throughput_chart(f: &Figures, row: Row, backend: &str) -> String {
    let series = per_strategy(f, row, backend, |m| {
        m.representative
            .series
            .iter()
            // The last bucket holds only the stragglers of the final second.
            .take(m.representative.series.len().saturating_sub(1).max(1))
            .map(|p| (p.t as f64, p.requests as f64))
            .collect()
    });
    let what = if row == Row::Hot {
        "attempts"
    } else {
        "requests (all winning)"
    };
    line_chart(
        &format!("{backend}: {what} per second over the run"),
        &Axis {
            label: "seconds since start".into(),
            log: false,
            ticks: None,
        },
        &Axis {
            label: "answers / s".into(),
            log: false,
            ticks: None,
        },
        &series,
    )
}

fn percentile_chart(f: &Figures, row: Row, backend: &str) -> String {
    let ticks = vec![
        (nines(0.5), "50%".to_owned()),
        (1.0, "90%".to_owned()),
        (2.0, "99%".to_owned()),
        (3.0, "99.9%".to_owned()),
        (4.0, "99.99%".to_owned()),
    ];
    let series = per_strategy(f, row, backend, |m| {
        m.representative
            .curve
            .iter()
            .filter(|(q, _)| *q >= 0.5 && *q <= 0.9999)
            .map(|&(q, us)| (nines(q), us as f64 / 1000.0))
            .collect()
    });
    line_chart(
        &format!("{backend}: latency by percentile"),
        &Axis {
            label: "percentile".into(),
            log: false,
            ticks: Some(ticks),
        },
        &Axis {
            label: "latency (ms, log)".into(),
            log: true,
            ticks: None,
        },
        &series,
    )
}

fn overview(f: &Figures) -> String {
    let mut bars = Vec::new();
    for backend in &f.backends {
        for s in &f.strategies {
            if let Some(v) = f.value(Row::Hot, Some(backend), Some(s)) {
                bars.push((format!("{backend} / {s}: hot attempts"), v, color(f, s)));
            }
        }
    }
    for backend in &f.backends {
        for s in &f.strategies {
            if let Some(v) = f.value(Row::Winners, Some(backend), Some(s)) {
                bars.push((format!("{backend} / {s}: winners"), v, color(f, s)));
            }
        }
    }
    for backend in &f.backends {
        for path in super::READ_PATHS {
            if let Some(v) = f.value(Row::Reads, Some(backend), Some(path)) {
                bars.push((
                    format!("{backend}: GET /products/{{id}} {path}"),
                    v,
                    "#7f7f7f",
                ));
            }
        }
    }
    for m in f.medians.values().filter(|m| m.key.row == Row::Many) {
        let (instances, cluster) = super::many_config(m.key.strategy.as_deref().unwrap_or("1"));
        let redis = if cluster { "Redis Cluster" } else { "Redis" };
        bars.push((
            format!("many products: {instances} instance(s), {redis}"),
            m.value,
            "#17becf",
        ));
    }
    for m in f.medians.values().filter(|m| m.key.row == Row::Crowd) {
        bars.push((
            format!("crowd: {}", m.key.strategy.as_deref().unwrap_or("-")),
            m.value,
            "#e377c2",
        ));
    }
    for (row, name) in [
        (Row::Healthz, "GET /healthz (HTTP ceiling)"),
        (Row::PgbenchLock, "pgbench FOR UPDATE + UPDATE"),
        (Row::PgbenchConditional, "pgbench conditional UPDATE"),
        (Row::PgbenchPrepared, "pgbench UPDATE, autocommit, prepared"),
        (Row::RedisEval, "redis EVAL decrement"),
        (Row::RedisIncr, "redis INCR"),
    ] {
        if let Some(v) = f.value(row, None, None) {
            bars.push((name.to_owned(), v, "#bcbd22"));
        }
    }
    bar_chart("Medians beside the ceilings", "per second", &bars)
}

fn median_row(out: &mut String, f: &Figures, m: &Median) {
    let pess = match (&m.key.backend, m.key.strategy.is_some()) {
        (Some(b), true) => f.value(m.key.row, Some(b), Some("pessimistic")),
        _ => None,
    };
    let _ = write!(
        out,
        "<tr><td>{:?}</td><td>{}</td><td>{}</td><td class=n>{} {}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td><td>{}</td></tr>",
        m.key.row,
        esc(m.key.backend.as_deref().unwrap_or("–")),
        esc(m.key.strategy.as_deref().unwrap_or("–")),
        rate(m.value),
        m.key.row.unit(),
        ratio(m.value, pess),
        percent(m.value, f.healthz()),
        if m.p50_us > 0 {
            micros(m.p50_us)
        } else {
            "–".into()
        },
        if m.p99_us > 0 {
            micros(m.p99_us)
        } else {
            "–".into()
        },
        if m.p999_us > 0 {
            micros(m.p999_us)
        } else {
            "–".into()
        },
        m.rss_kib
            .map_or_else(|| "–".into(), |k| format!("{:.1} MB", k as f64 / 1024.0)),
        cpu(m),
        esc(&super::pgwait::top(&m.pg_waits)),
        audit(m),
    );
}

fn target_table(out: &mut String, targets: &[Target]) {
    out.push_str("<table><tr><th>target</th><th>goal</th><th>measured</th><th>verdict</th></tr>");
    for t in targets {
        let (class, verdict) = match t.met {
            Some(true) => ("met", "met"),
            Some(false) => ("missed", "missed"),
            None => ("", "not measured"),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class={class}>{verdict}</td></tr>",
            esc(t.name),
            esc(&t.goal),
            esc(&t.measured)
        );
    }
    out.push_str("</table>");
}

pub fn render(f: &Figures, c: &Context) -> String {
    let mut out = String::new();
    out.push_str(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>flashgate benchmarks</title>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\"><style>\
         body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1280px;color:#222;padding:0 16px}\
         table{border-collapse:collapse;margin:8px 0 20px;font-size:13px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}\
         th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}.met{color:#187a18;font-weight:600}\
         .missed{color:#b00;font-weight:600}.grid{display:flex;flex-wrap:wrap;gap:12px}.grid svg{border:1px solid #eee}\
         code,pre{background:#f6f6f6;padding:2px 4px}pre{padding:8px;white-space:pre-wrap}\
         </style></head><body>",
    );
    let _ = write!(
        out,
        "<h1>flashgate benchmarks</h1><p>{} · median of {} round(s) · {} closed-loop buyers · {} s per measurement · {:.0} s in all</p>",
        esc(&c.date),
        c.args.rounds,
        c.args.buyers,
        c.args.duration,
        c.elapsed.as_secs_f64()
    );
    out.push_str("<h2>Targets</h2>");
    target_table(&mut out, &targets(f));
    let _ = write!(out, "<div class=grid>{}</div>", overview(f));
    let spikes = super::spike_report::charts(f);
    if !spikes.is_empty() {
        let _ = write!(
            out,
            "<h2>Spike at the sale's opening</h2><p>Open loop at a multiple of the measured capacity from \
             the instant the sale opens, then half of it; 100 ms windows of the median round. Offered = \
             meant to leave in the window, sent = actually left (below offered when the load generator \
             holds requests back), answered = HTTP answers arriving in the window, improper = requests \
             meant for the window answered anything but 201/409/403 limit/429/503 with Retry-After, waiting = requests meant to leave \
             by the window's end still without an outcome. Latency counts from the intended send \
             time.</p><div class=grid>{spikes}</div>"
        );
    }
    for (row, title, note) in [
        (
            Row::Hot,
            "Hot product: purchase attempts",
            "One product, small stock, a crowd many times larger; most attempts meet a sold-out product.",
        ),
        (
            Row::Winners,
            "Durable winners",
            "The same hot product with ample stock: every attempt commits an order.",
        ),
    ] {
        let _ = write!(
            out,
            "<h2>{title}</h2><p>{note} Plots show the round whose rate is the median.</p><div class=grid>"
        );
        for backend in &f.backends {
            out.push_str(&throughput_chart(f, row, backend));
            out.push_str(&percentile_chart(f, row, backend));
        }
        out.push_str("</div>");
    }
    out.push_str(
        "<h2>All medians</h2><table><tr><th>row</th><th>backend</th><th>strategy</th><th>rate</th>\
         <th>× pessimistic</th><th>vs /healthz</th><th>p50</th><th>p99</th><th>p99.9</th><th>server RSS</th>\
         <th>CPU server / loadgen / rest</th><th>PostgreSQL backends wait on</th><th>audit</th></tr>",
    );
    for m in f.medians.values() {
        median_row(&mut out, f, m);
    }
    out.push_str("</table><h2>Earlier targets</h2>");
    target_table(&mut out, &earlier_targets(f));
    out.push_str("<h2>Machine</h2><ul>");
    for (k, v) in &c.machine {
        let _ = write!(out, "<li>{}: {}</li>", esc(k), esc(v));
    }
    let _ = write!(
        out,
        "<li>load average (1, 5, 15 min): {} at the start, {} at the end</li>",
        esc(&c.load.0),
        esc(&c.load.1)
    );
    if let Some(note) = &c.args.machine_note {
        let _ = write!(out, "<li>note: {}</li>", esc(note));
    }
    let _ = writeln!(
        out,
        "</ul><h2>Command</h2><pre>{}</pre></body></html>",
        esc(&c.command)
    );
    out
}
