//! The spike's part of the reports: its targets, its table in BENCHMARKS.md and its plots, from every
//! round's figures (medians over the rounds, the median round's windows).

use super::markdown::{audit, cpu, rate};
use super::results::{Figures, Row, Sample};
use super::spike::{P99_LIMIT_US, RECOVERY_LIMIT, SpikeFigures, WINDOW};
use super::svg::{Axis, Series, line_chart};
use super::targets::Target;
use crate::summary::micros;
use crate::windows::WindowPoint;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The spike's figures of every round, by multiple, in the order measured.
fn by_multiple(f: &Figures) -> BTreeMap<String, Vec<(&Sample, &SpikeFigures)>> {
    let mut out: BTreeMap<String, Vec<(&Sample, &SpikeFigures)>> = BTreeMap::new();
    for sample in f.samples.iter().filter(|s| s.row == Row::Spike) {
        if let (Some(strategy), Some(spike)) = (&sample.strategy, &sample.spike) {
            out.entry(strategy.clone())
                .or_default()
                .push((sample, spike));
        }
    }
    out
}

fn median_u(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// The median recovery, a round that never recovered counting as the slowest.
fn median_recovery(rounds: &[(&Sample, &SpikeFigures)]) -> Option<f64> {
    let mut values: Vec<f64> = rounds
        .iter()
        .map(|(_, s)| s.recovered_s.unwrap_or(f64::INFINITY))
        .collect();
    values.sort_by(f64::total_cmp);
    values
        .get(values.len() / 2)
        .copied()
        .filter(|v| v.is_finite())
}

/// What the spike of one multiple missed, in words; empty when it met every part of the target.
fn misses(rounds: &[(&Sample, &SpikeFigures)]) -> Vec<String> {
    let mut out = Vec::new();
    let improper: u64 = rounds.iter().map(|(_, s)| s.improper).sum();
    if improper > 0 {
        out.push(format!("{improper} improper answers"));
    }
    let p99 = median_u(rounds.iter().map(|(_, s)| s.p99_us).collect());
    if p99 >= P99_LIMIT_US {
        out.push(format!("p99 {}", micros(p99)));
    }
    match median_recovery(rounds) {
        Some(s) if s <= RECOVERY_LIMIT.as_secs_f64() => {}
        Some(s) => out.push(format!("recovered after {s:.1} s")),
        None => out.push("not recovered before the run ended".into()),
    }
    let oversold: i64 = rounds.iter().map(|(_, s)| s.oversold).sum();
    if oversold > 0 {
        out.push(format!("{oversold} oversold"));
    }
    if rounds
        .iter()
        .any(|(sample, _)| sample.audit_passed == Some(false))
    {
        out.push("audit failed".into());
    }
    out
}

pub fn targets(f: &Figures) -> Vec<Target> {
    let spikes = by_multiple(f);
    let goal = |m: &str| {
        format!(
            "offered {m} the capacity for the spike at the sale's opening: every request answered \
             201/409/429/503+Retry-After, p99 of the answered < 50 ms, oversold 0, back to full speed \
             within 1 s"
        )
    };
    let mut out = Vec::new();
    for m in ["2x", "5x"] {
        let name = if m == "2x" {
            "spike at 2×"
        } else {
            "spike at 5×"
        };
        let Some(rounds) = spikes.get(m) else {
            out.push(Target {
                name,
                goal: goal(m),
                measured: "not measured: no spike in this run".into(),
                met: None,
            });
            continue;
        };
        let p99 = median_u(rounds.iter().map(|(_, s)| s.p99_us).collect());
        let missed = misses(rounds);
        let recovered = median_recovery(rounds).map_or_else(
            || "not recovered".to_owned(),
            |s| format!("recovered in {s:.1} s"),
        );
        let improper: u64 = rounds.iter().map(|(_, s)| s.improper).sum();
        let offered: u64 = rounds.iter().map(|(_, s)| s.offered).sum();
        out.push(Target {
            name,
            goal: goal(m),
            measured: format!(
                "p99 {}, {improper} of {offered} improper, {recovered}{}",
                micros(p99),
                if missed.is_empty() {
                    String::new()
                } else {
                    format!(" — missed: {}", missed.join(", "))
                }
            ),
            met: Some(missed.is_empty()),
        });
    }
    out
}

fn classes_cell(spike: &SpikeFigures) -> String {
    let parts: Vec<String> = crate::classes::Class::ALL
        .iter()
        .filter_map(|c| {
            let n = spike.classes.get(c.label())?;
            Some(format!("{} {}", c.label(), rate(*n as f64)))
        })
        .collect();
    if parts.is_empty() {
        "–".into()
    } else {
        parts.join(", ")
    }
}

/// BENCHMARKS.md's spike section; empty when no spike ran.
pub fn markdown(f: &Figures, a: &super::BenchArgs) -> String {
    let spikes = by_multiple(f);
    let mut out = String::new();
    let Some(first) = spikes.values().flatten().next() else {
        return out;
    };
    let (sample, any) = first;
    let _ = writeln!(
        out,
        "\n## Spike at the sale's opening\n\nA fresh product ({} units, limit 1) whose sale opens at a fixed \
         instant on a fresh `gated` server ({}): from that instant the load generator offers requests on a \
         fixed schedule (open loop; each latency from the request's intended send time, so a queue in front \
         of the service counts) at a multiple of the capacity, {} attempts/s (this run's median of the \
         gated hot-product closed-loop row), for {} s, then {:.0}% of the capacity for {} s to watch it \
         recover, in {} ms windows. Each request is a different customer (up to {} of them); at most {} \
         requests are in flight, and a request unanswered after {} s is a timeout. Proper answers are \
         201, 409, 403 `limit_exceeded`, 429 and 503 with `Retry-After`. Recovered = the first window \
         after the spike from which every window's answered p99 is under {} with only proper answers and \
         nothing older than the window still unanswered. Medians of {} round(s); the answer classes are \
         the median round's.\n",
        a.stock,
        sample.backend.as_deref().unwrap_or("-"),
        rate(any.capacity),
        any.spike_s,
        100.0 * a.spike_after_share,
        a.spike_after,
        WINDOW.as_millis(),
        rate(super::SPIKE_CROWD as f64),
        rate(a.spike_in_flight as f64),
        a.spike_timeout_ms as f64 / 1000.0,
        micros(P99_LIMIT_US),
        a.rounds,
    );
    let _ = writeln!(
        out,
        "| offered | rate | sent during the spike | answered during the spike | answers to the spike's requests (median round) | p50 | p99 | max | p99 from the send | recovered after | CPU server / loadgen / rest (cores) | oversold | audit |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|---|");
    for (m, rounds) in &spikes {
        let Some(median) = f.get(Row::Spike, rounds[0].0.backend.as_deref(), Some(m)) else {
            continue;
        };
        let Some(rep) = &median.representative.spike else {
            continue;
        };
        let sent = rounds
            .iter()
            .map(|(_, s)| s.per_second(s.sent))
            .sum::<f64>()
            / rounds.len() as f64;
        let _ = writeln!(
            out,
            "| {m} | {} /s | {} /s | {} /s | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            rate(rep.rate),
            rate(sent),
            rate(median.value),
            classes_cell(rep),
            micros(median.p50_us),
            micros(median.p99_us),
            micros(median_u(rounds.iter().map(|(_, s)| s.max_us).collect())),
            micros(median_u(
                rounds.iter().map(|(_, s)| s.service_p99_us).collect()
            )),
            median_recovery(rounds).map_or_else(|| "not recovered".into(), |s| format!("{s:.1} s")),
            cpu(median),
            rounds.iter().map(|(_, s)| s.oversold).sum::<i64>(),
            audit(median),
        );
    }
    let _ = writeln!(
        out,
        "\nSent and answered are per second of the spike (the median-value round's answers, sent averaged \
         over the rounds). Sent below the rate: the load generator held requests back, at its in-flight \
         bound (the service answered too slowly for the rate) or for want of CPU on this shared machine; \
         the wait of every late request counts in its latency. P99 from the send times the same answers \
         from the moment their request actually left: the service's own part; far under the p99, the \
         wait was in the load generator before the send. Plots of every window: [bench/report.html](bench/report.html)."
    );
    out
}

/// The report's spike plots: offered, sent and answered per second in each window, and each window's
/// answered p50 and p99, for the median round of each multiple.
pub fn charts(f: &Figures) -> String {
    let spikes = by_multiple(f);
    let mut out = String::new();
    for (m, rounds) in &spikes {
        let Some(median) = f.get(Row::Spike, rounds[0].0.backend.as_deref(), Some(m)) else {
            continue;
        };
        let Some(rep) = &median.representative.spike else {
            continue;
        };
        let per_s = 1000.0 / WINDOW.as_millis() as f64;
        let at = |p: &WindowPoint| p.start_ms as f64 / 1000.0;
        let line =
            |name: &str, color: &'static str, v: fn(&WindowPoint) -> u64, scale: f64| Series {
                name: name.to_owned(),
                color,
                points: rep
                    .windows
                    .iter()
                    .map(|p| (at(p), v(p) as f64 * scale))
                    .collect(),
            };
        out.push_str(&line_chart(
            &format!(
                "{m} ({} /s for {} s from the opening): per second",
                rate(rep.rate),
                rep.spike_s
            ),
            &Axis {
                label: "seconds since the sale opened".into(),
                log: false,
                ticks: None,
            },
            &Axis {
                label: "requests / s".into(),
                log: false,
                ticks: None,
            },
            &[
                line("offered", "#7f7f7f", |p| p.offered, per_s),
                line("sent", "#1f77b4", |p| p.sent, per_s),
                line("answered", "#2ca02c", |p| p.arrived, per_s),
                line("improper", "#d62728", |p| p.improper, per_s),
            ],
        ));
        // The queue is a count, not a rate: on the rates' axis it would flatten them.
        out.push_str(&line_chart(
            &format!("{m}: requests waiting for an answer at each window's end"),
            &Axis {
                label: "seconds since the sale opened".into(),
                log: false,
                ticks: None,
            },
            &Axis {
                label: "requests".into(),
                log: false,
                ticks: None,
            },
            &[line("waiting", "#ff7f0e", |p| p.backlog, 1.0)],
        ));
        let latency = |name: &str, color: &'static str, v: fn(&WindowPoint) -> u64| Series {
            name: name.to_owned(),
            color,
            points: rep
                .windows
                .iter()
                .filter(|p| p.answered > 0)
                .map(|p| (at(p), v(p) as f64 / 1000.0))
                .collect(),
        };
        let limit = Series {
            name: "50 ms".into(),
            color: "#bcbd22",
            points: rep
                .windows
                .iter()
                .map(|p| (at(p), P99_LIMIT_US as f64 / 1000.0))
                .collect(),
        };
        out.push_str(&line_chart(
            &format!("{m}: latency of the answered, per window"),
            &Axis {
                label: "seconds since the sale opened".into(),
                log: false,
                ticks: None,
            },
            &Axis {
                label: "ms (log)".into(),
                log: true,
                ticks: None,
            },
            &[
                latency("p50", "#1f77b4", |p| p.p50_us),
                latency("p99", "#d62728", |p| p.p99_us),
                latency("p99 from the send", "#2ca02c", |p| p.service_p99_us),
                limit,
            ],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spike(p99_us: u64, improper: u64, recovered_s: Option<f64>) -> SpikeFigures {
        SpikeFigures {
            multiplier: 2.0,
            capacity: 1000.0,
            rate: 2000.0,
            spike_s: 10.0,
            then_rate: 500.0,
            offered: 20_000,
            sent: 20_000,
            arrived: 20_000,
            answered: 20_000 - improper,
            improper,
            classes: BTreeMap::new(),
            p50_us: 1000,
            p99_us,
            max_us: p99_us,
            service_p50_us: 1000,
            service_p99_us: p99_us,
            recovered_s,
            oversold: 0,
            windows: Vec::new(),
        }
    }

    fn figures(spikes: Vec<SpikeFigures>) -> Figures {
        let samples: Vec<Sample> = spikes
            .into_iter()
            .enumerate()
            .map(|(round, s)| Sample {
                backend: Some("postgres".into()),
                strategy: Some(super::super::spike::name(s.multiplier)),
                audit_passed: Some(true),
                p99_us: s.p99_us,
                spike: Some(s),
                ..Sample::ceiling(Row::Spike, round, 2000.0)
            })
            .collect();
        Figures::new(&samples, vec!["gated".into()], vec!["postgres".into()])
    }

    #[test]
    fn a_spike_answered_fast_and_recovered_at_once_meets_its_target() {
        let targets = targets(&figures(vec![spike(20_000, 0, Some(0.0))]));
        assert_eq!(targets[0].met, Some(true), "{}", targets[0].measured);
        assert_eq!(targets[1].met, None);
    }

    #[test]
    fn one_improper_answer_in_any_round_misses_the_target() {
        let targets = targets(&figures(vec![
            spike(20_000, 0, Some(0.0)),
            spike(20_000, 1, Some(0.0)),
            spike(20_000, 0, Some(0.0)),
        ]));
        assert_eq!(targets[0].met, Some(false));
        assert!(
            targets[0].measured.contains("1 improper"),
            "{}",
            targets[0].measured
        );
    }

    #[test]
    fn a_slow_recovery_is_reported_with_its_figure() {
        let targets = targets(&figures(vec![
            spike(20_000, 0, Some(2.5)),
            spike(90_000, 0, None),
        ]));
        assert_eq!(targets[0].met, Some(false));
        assert!(
            targets[0].measured.contains("not recovered"),
            "{}",
            targets[0].measured
        );
    }
}
