//! The targets the reports open with, each measured in this run against its goal: met, missed (with
//! the figure) or not measured; and the earlier round's targets, still measured.

use super::results::{Figures, Row};

/// One target of the issue, measured.
pub struct Target {
    pub name: &'static str,
    pub goal: String,
    pub measured: String,
    /// `None`: could not be measured in this run.
    pub met: Option<bool>,
}

/// Durable winners per second of `gated` before set-based group commit (issue 12's reference).
pub const OLD_GATED_WINNERS: f64 = 1_197.0;

fn unmeasured(name: &'static str, goal: String, why: &str) -> Target {
    Target {
        name,
        goal,
        measured: format!("not measured: {why}"),
        met: None,
    }
}

/// The backend a row of one configuration ran on (the crowd and the spike run on one).
fn backend_of(f: &Figures, row: Row) -> Option<String> {
    f.medians
        .keys()
        .find(|k| k.row == row)
        .and_then(|k| k.backend.clone())
}

/// The targets of this round of work, measured side by side in this run.
pub fn targets(f: &Figures) -> Vec<Target> {
    let pg = "postgres";
    let mut out = Vec::new();
    let winners = f.value(Row::Winners, Some(pg), Some("gated"));
    let lock = f.value(Row::PgbenchLock, None, None);
    let goal =
        "gated durable winners/s ≥ 10× pgbench's single-row lock transaction (PostgreSQL + Redis)";
    out.push(match (winners, lock) {
        (Some(w), Some(l)) if l > 0.0 => Target {
            name: "durable winners vs pgbench",
            goal: goal.into(),
            measured: format!("{:.2}× ({w:.0} winners/s vs {l:.0} tx/s)", w / l),
            met: Some(w >= 10.0 * l),
        },
        _ => unmeasured(
            "durable winners vs pgbench",
            goal.into(),
            "gated on PostgreSQL or pgbench missing",
        ),
    });
    let goal = format!(
        "gated durable winners/s ≥ 3× the old gated ({} winners/s, the issue's figure)",
        super::markdown::rate(OLD_GATED_WINNERS)
    );
    out.push(match winners {
        Some(w) => Target {
            name: "durable winners vs the old gated",
            goal,
            measured: format!(
                "{:.2}× ({w:.0} vs {OLD_GATED_WINNERS:.0} winners/s)",
                w / OLD_GATED_WINNERS
            ),
            met: Some(w >= 3.0 * OLD_GATED_WINNERS),
        },
        None => unmeasured(
            "durable winners vs the old gated",
            goal,
            "gated on PostgreSQL missing",
        ),
    });
    let crowd = backend_of(f, Row::Crowd);
    let healthz = crowd
        .as_deref()
        .and_then(|b| f.value(Row::Crowd, Some(b), Some("healthz")));
    for (kind, name) in [
        ("sold_out", "crowd: sold-out answers vs /healthz"),
        ("over_limit", "crowd: over-limit answers vs /healthz"),
        ("duplicate", "crowd: duplicate answers vs /healthz"),
    ] {
        let goal = "≥ 80% of the same (gated) server's GET /healthz rate".to_owned();
        let value = crowd
            .as_deref()
            .and_then(|b| f.value(Row::Crowd, Some(b), Some(kind)));
        out.push(match (value, healthz) {
            (Some(v), Some(h)) if h > 0.0 => Target {
                name,
                goal,
                measured: format!(
                    "{:.0}% ({v:.0} vs {h:.0} req/s; {})",
                    100.0 * v / h,
                    crowd.as_deref().unwrap_or("-")
                ),
                met: Some(v >= 0.8 * h),
            },
            _ => unmeasured(name, goal, "no crowd rows in this run"),
        });
    }
    let pess = f.value(Row::Hot, Some(pg), Some("pessimistic"));
    let gated = f.value(Row::Hot, Some(pg), Some("gated"));
    let goal = "gated ≥ 5× pessimistic hot-product attempts/s (PostgreSQL + Redis)";
    out.push(match (gated, pess) {
        (Some(g), Some(p)) if p > 0.0 => Target {
            name: "gated vs pessimistic, hot product",
            goal: goal.into(),
            measured: format!("{:.1}× ({g:.0} vs {p:.0} attempts/s)", g / p),
            met: Some(g >= 5.0 * p),
        },
        _ => unmeasured(
            "gated vs pessimistic, hot product",
            goal.into(),
            "gated or pessimistic on PostgreSQL missing",
        ),
    });
    out.extend(super::spike_report::targets(f));
    let audited = f.medians.values().filter(|m| m.audits.1 > 0).count();
    out.push(Target {
        name: "oversold 0, audit clean",
        goal: "every measurement of this run".into(),
        measured: if f.all_audits_passed() {
            format!("clean in all {audited} audited rows")
        } else {
            let failed = f
                .medians
                .values()
                .filter(|m| m.audits.0 < m.audits.1)
                .count();
            format!("failed in {failed} of {audited} audited rows")
        },
        met: Some(f.all_audits_passed()),
    });
    out
}

/// The targets of the earlier round of work, still measured.
pub fn earlier_targets(f: &Figures) -> Vec<Target> {
    let pg = "postgres";
    let mut out = Vec::new();
    let pess = f.value(Row::Hot, Some(pg), Some("pessimistic"));
    let gated = f.value(Row::Hot, Some(pg), Some("gated"));
    out.push(match (gated, pess) {
        (Some(g), Some(p)) if p > 0.0 => Target {
            name: "gated vs pessimistic, hot product",
            goal: "gated ≥ 25× pessimistic attempts/s (PostgreSQL + Redis)".into(),
            measured: format!("{:.1}× ({g:.0} vs {p:.0} attempts/s)", g / p),
            met: Some(g >= 25.0 * p),
        },
        _ => Target {
            name: "gated vs pessimistic, hot product",
            goal: "gated ≥ 25× pessimistic attempts/s (PostgreSQL + Redis)".into(),
            measured: "not measured: the gated strategy is not in this run".into(),
            met: None,
        },
    });
    let best_hot = f.best(Row::Hot, pg);
    out.push(match best_hot {
        Some((s, v)) => Target {
            name: "hot-product attempts/s",
            goal: "≥ 20,000 attempts/s (PostgreSQL)".into(),
            measured: format!("{v:.0} attempts/s ({s})"),
            met: Some(v >= 20_000.0),
        },
        None => Target {
            name: "hot-product attempts/s",
            goal: "≥ 20,000 attempts/s (PostgreSQL)".into(),
            measured: "not measured: no PostgreSQL run".into(),
            met: None,
        },
    });
    let lock = f.value(Row::PgbenchLock, None, None);
    out.push(match (f.best(Row::Winners, pg), lock) {
        (Some((s, w)), Some(l)) if l > 0.0 => Target {
            name: "durable winners/s vs pgbench",
            goal: "winners/s ≥ 5× pgbench single-row lock tx/s".into(),
            measured: format!("{:.2}× ({w:.0} winners/s with {s} vs {l:.0} tx/s)", w / l),
            met: Some(w >= 5.0 * l),
        },
        _ => Target {
            name: "durable winners/s vs pgbench",
            goal: "winners/s ≥ 5× pgbench single-row lock tx/s".into(),
            measured: "not measured: PostgreSQL or pgbench missing".into(),
            met: None,
        },
    });
    let reads = f
        .backends
        .iter()
        .filter_map(|b| Some((b.as_str(), f.value(Row::Reads, Some(b), Some("cached"))?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    out.push(match (reads, f.healthz()) {
        (Some((b, r)), Some(h)) if h > 0.0 => Target {
            name: "cached reads vs static endpoint",
            goal: "cached reads ≥ 70% of GET /healthz".into(),
            measured: format!("{:.0}% ({r:.0} vs {h:.0} req/s; {b})", 100.0 * r / h),
            met: Some(r >= 0.7 * h),
        },
        _ => Target {
            name: "cached reads vs static endpoint",
            goal: "cached reads ≥ 70% of GET /healthz".into(),
            measured: "not measured".into(),
            met: None,
        },
    });
    let rss = f
        .medians
        .values()
        .filter(|m| matches!(m.key.row, Row::Hot | Row::Winners))
        .filter_map(|m| Some((m.rss_kib?, &m.key)))
        .max_by_key(|(kib, _)| *kib);
    out.push(match rss {
        Some((kib, key)) => Target {
            name: "server RSS under hot-product load",
            goal: "≤ 150 MB".into(),
            measured: format!(
                "{:.1} MB peak ({} / {})",
                kib as f64 / 1024.0,
                key.backend.as_deref().unwrap_or("-"),
                key.strategy.as_deref().unwrap_or("-")
            ),
            met: Some(kib as f64 / 1024.0 <= 150.0),
        },
        None => Target {
            name: "server RSS under hot-product load",
            goal: "≤ 150 MB".into(),
            measured: "not measured".into(),
            met: None,
        },
    });
    out
}

#[cfg(test)]
mod tests {
    use super::super::results::Sample;
    use super::*;

    fn sample(row: Row, strategy: &str, round: usize, value: f64) -> Sample {
        Sample {
            backend: Some("postgres".into()),
            strategy: Some(strategy.into()),
            ..Sample::ceiling(row, round, value)
        }
    }

    #[test]
    fn the_crowd_is_compared_with_the_same_servers_healthz() {
        let samples = vec![
            sample(Row::Crowd, "healthz", 0, 10_000.0),
            sample(Row::Crowd, "sold_out", 0, 8_500.0),
            sample(Row::Crowd, "over_limit", 0, 7_000.0),
        ];
        let figures = Figures::new(&samples, vec!["gated".into()], vec!["postgres".into()]);
        let targets = targets(&figures);
        let verdict = |name: &str| targets.iter().find(|t| t.name.contains(name)).unwrap().met;
        assert_eq!(verdict("sold-out"), Some(true));
        assert_eq!(verdict("over-limit"), Some(false));
        assert_eq!(verdict("duplicate"), None);
    }

    #[test]
    fn winners_are_held_against_pgbench_and_the_old_gated_figure() {
        let samples = vec![
            sample(Row::Winners, "gated", 0, 4_000.0),
            Sample::ceiling(Row::PgbenchLock, 0, 500.0),
        ];
        let figures = Figures::new(&samples, vec!["gated".into()], vec!["postgres".into()]);
        let targets = targets(&figures);
        assert_eq!(targets[0].met, Some(false), "{}", targets[0].measured);
        assert_eq!(targets[1].met, Some(true), "{}", targets[1].measured);
    }

    #[test]
    fn the_gated_target_is_unmeasured_until_gated_runs() {
        let samples = vec![sample(Row::Hot, "pessimistic", 0, 900.0)];
        let figures = Figures::new(
            &samples,
            vec!["pessimistic".into()],
            vec!["postgres".into()],
        );
        let targets = earlier_targets(&figures);
        assert_eq!(targets[0].met, None);
        assert_eq!(targets[1].met, Some(false));
    }
}
