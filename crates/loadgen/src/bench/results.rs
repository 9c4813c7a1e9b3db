//! The measurements of a benchmark run and their aggregation: one sample per measurement and round,
//! medians per row, and the figures the reports are built from.

use super::cpu::CpuUse;
use super::spike::SpikeFigures;
use crate::recorder::SecondPoint;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a sample measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Row {
    /// Purchase attempts per second on one hot product with a small stock.
    Hot,
    /// Orders created per second on one hot product with ample stock.
    Winners,
    /// GET /products/{id} per second.
    Reads,
    /// Purchases per second spread over many products, on one or several instances (gated).
    Many,
    /// A crowd's answers per second on one gated server, by kind (the strategy column): `healthz`,
    /// `sold_out`, `over_limit`, `duplicate`.
    Crowd,
    /// Open-loop spike at a multiple of the capacity (the strategy column: `2x`, `5x`) at the instant
    /// a sale opens: answers per second to the requests meant for the spike.
    Spike,
    /// GET /healthz per second: the HTTP stack's ceiling.
    Healthz,
    /// pgbench: SELECT … FOR UPDATE + UPDATE on one row, tx/s.
    PgbenchLock,
    /// pgbench: one conditional UPDATE on one row, tx/s.
    PgbenchConditional,
    /// pgbench: the same conditional UPDATE, autocommit, without RETURNING, prepared protocol: the
    /// best shape of a one-row stock update.
    PgbenchPrepared,
    /// redis-benchmark: EVAL of a check-and-decrement script, calls/s.
    RedisEval,
    /// redis-benchmark: INCR, calls/s.
    RedisIncr,
}

impl Row {
    pub fn unit(self) -> &'static str {
        match self {
            Self::Hot => "attempts/s",
            Self::Winners => "winners/s",
            Self::Reads | Self::Healthz | Self::Many | Self::Crowd => "req/s",
            Self::Spike => "answers/s",
            Self::PgbenchLock | Self::PgbenchConditional | Self::PgbenchPrepared => "tx/s",
            Self::RedisEval | Self::RedisIncr => "calls/s",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub row: Row,
    pub backend: Option<String>,
    pub strategy: Option<String>,
    pub round: usize,
    /// The row's rate, in its unit.
    pub value: f64,
    pub requests: u64,
    pub errors: u64,
    pub sold: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub rss_kib: Option<u64>,
    pub audit_passed: Option<bool>,
    pub audit_failures: Vec<String>,
    pub cpu: Option<CpuUse>,
    pub statuses: BTreeMap<String, u64>,
    pub codes: BTreeMap<String, u64>,
    pub series: Vec<SecondPoint>,
    pub curve: Vec<(f64, u64)>,
    /// PostgreSQL: busy backends per wait event, summed over twice-a-second samples.
    #[serde(default)]
    pub pg_waits: BTreeMap<String, u64>,
    /// The spike's own figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spike: Option<SpikeFigures>,
}

impl Sample {
    pub fn ceiling(row: Row, round: usize, value: f64) -> Self {
        Self {
            row,
            backend: None,
            strategy: None,
            round,
            value,
            requests: 0,
            errors: 0,
            sold: 0,
            p50_us: 0,
            p90_us: 0,
            p99_us: 0,
            p999_us: 0,
            rss_kib: None,
            audit_passed: None,
            audit_failures: Vec::new(),
            cpu: None,
            statuses: BTreeMap::new(),
            codes: BTreeMap::new(),
            series: Vec::new(),
            curve: Vec::new(),
            pg_waits: BTreeMap::new(),
            spike: None,
        }
    }

    pub fn key(&self) -> Key {
        Key {
            row: self.row,
            backend: self.backend.clone(),
            strategy: self.strategy.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub row: Row,
    pub backend: Option<String>,
    pub strategy: Option<String>,
}

/// The medians of one row over the rounds.
#[derive(Debug, Clone)]
pub struct Median {
    pub key: Key,
    pub value: f64,
    pub values: Vec<f64>,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub errors: u64,
    pub rss_kib: Option<u64>,
    pub audits: (usize, usize),
    pub cpu: Option<CpuUse>,
    /// PostgreSQL wait events summed over every round.
    pub pg_waits: BTreeMap<String, u64>,
    /// The round whose value is the median: its series and curve stand for the row in the plots.
    pub representative: Sample,
}

fn median_f(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn median_u(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

pub fn medians(samples: &[Sample]) -> BTreeMap<Key, Median> {
    let mut groups: BTreeMap<Key, Vec<&Sample>> = BTreeMap::new();
    for sample in samples {
        groups.entry(sample.key()).or_default().push(sample);
    }
    groups
        .into_iter()
        .filter_map(|(key, group)| {
            let values: Vec<f64> = group.iter().map(|s| s.value).collect();
            let value = median_f(&mut values.clone());
            let representative = (*group
                .iter()
                .min_by(|a, b| (a.value - value).abs().total_cmp(&(b.value - value).abs()))?)
            .clone();
            let pick = |f: fn(&Sample) -> u64| {
                median_u(&mut group.iter().map(|s| f(s)).collect::<Vec<_>>())
            };
            let cpus: Vec<CpuUse> = group.iter().filter_map(|s| s.cpu).collect();
            let cpu = (!cpus.is_empty()).then(|| {
                let mid =
                    |f: fn(&CpuUse) -> f64| median_f(&mut cpus.iter().map(f).collect::<Vec<_>>());
                CpuUse {
                    server: mid(|c| c.server),
                    loadgen: mid(|c| c.loadgen),
                    machine: mid(|c| c.machine),
                }
            });
            let mut pg_waits: BTreeMap<String, u64> = BTreeMap::new();
            for sample in &group {
                for (event, n) in &sample.pg_waits {
                    *pg_waits.entry(event.clone()).or_default() += n;
                }
            }
            let audited: Vec<bool> = group.iter().filter_map(|s| s.audit_passed).collect();
            Some((
                key.clone(),
                Median {
                    key,
                    value,
                    values,
                    p50_us: pick(|s| s.p50_us),
                    p99_us: pick(|s| s.p99_us),
                    p999_us: pick(|s| s.p999_us),
                    errors: group.iter().map(|s| s.errors).sum(),
                    rss_kib: group.iter().filter_map(|s| s.rss_kib).max(),
                    audits: (audited.iter().filter(|&&p| p).count(), audited.len()),
                    cpu,
                    pg_waits,
                    representative,
                },
            ))
        })
        .collect()
}

/// The figures the reports are built from.
pub struct Figures {
    pub medians: BTreeMap<Key, Median>,
    /// Every sample, for the rows whose report needs more than the medians (the spike).
    pub samples: Vec<Sample>,
    pub strategies: Vec<String>,
    pub backends: Vec<String>,
}

impl Figures {
    pub fn new(samples: &[Sample], strategies: Vec<String>, backends: Vec<String>) -> Self {
        Self {
            medians: medians(samples),
            samples: samples.to_vec(),
            strategies,
            backends,
        }
    }

    pub fn get(&self, row: Row, backend: Option<&str>, strategy: Option<&str>) -> Option<&Median> {
        self.medians.get(&Key {
            row,
            backend: backend.map(str::to_owned),
            strategy: strategy.map(str::to_owned),
        })
    }

    pub fn value(&self, row: Row, backend: Option<&str>, strategy: Option<&str>) -> Option<f64> {
        self.get(row, backend, strategy).map(|m| m.value)
    }

    /// The static endpoint's rate (measured on the SQLite server; no database work either way).
    pub fn healthz(&self) -> Option<f64> {
        self.value(Row::Healthz, None, None)
    }

    /// The best strategy's median for a row on a backend.
    pub fn best(&self, row: Row, backend: &str) -> Option<(&str, f64)> {
        self.strategies
            .iter()
            .filter_map(|s| Some((s.as_str(), self.value(row, Some(backend), Some(s))?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    pub fn all_audits_passed(&self) -> bool {
        self.medians.values().all(|m| m.audits.0 == m.audits.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(row: Row, strategy: &str, round: usize, value: f64) -> Sample {
        Sample {
            backend: Some("postgres".into()),
            strategy: Some(strategy.into()),
            ..Sample::ceiling(row, round, value)
        }
    }

    #[test]
    fn the_median_of_the_rounds_is_reported_with_its_run() {
        let samples = vec![
            sample(Row::Hot, "pessimistic", 0, 900.0),
            sample(Row::Hot, "pessimistic", 1, 1000.0),
            sample(Row::Hot, "pessimistic", 2, 5000.0),
        ];
        let medians = medians(&samples);
        let median = medians.values().next().unwrap();
        assert_eq!(median.value, 1000.0);
        assert_eq!(median.representative.round, 1);
    }
}
