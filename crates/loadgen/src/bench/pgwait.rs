//! What PostgreSQL's busy backends wait on during a measurement, sampled from `pg_stat_activity` twice
//! a second: the evidence of what limits a strategy (row locks, WAL flushes, or nothing: running).

use super::database::psql;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const EVERY: Duration = Duration::from_millis(500);

pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<BTreeMap<String, u64>>,
}

impl Sampler {
    /// Starts sampling the active backends of database `name`.
    pub fn start(admin_url: String, name: String) -> Self {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let sql = format!(
                "SELECT CASE WHEN state = 'active' \
                 THEN COALESCE(wait_event_type || ':' || wait_event, 'running') \
                 ELSE 'idle in transaction' END, count(*) \
                 FROM pg_stat_activity WHERE datname = '{name}' \
                 AND state IN ('active', 'idle in transaction') \
                 AND pid <> pg_backend_pid() GROUP BY 1"
            );
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            let mut tick = tokio::time::interval(EVERY);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {}
                }
                let Ok(rows) = psql(&admin_url, &sql).await else {
                    continue;
                };
                for line in rows.lines() {
                    if let Some((event, n)) = line.rsplit_once('|') {
                        *counts.entry(event.to_owned()).or_default() += n.parse().unwrap_or(0);
                    }
                }
            }
            counts
        });
        Self { stop, task }
    }

    /// Stops and returns the busy backends seen per wait event, summed over the samples.
    pub async fn finish(self) -> BTreeMap<String, u64> {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// "Lock:transactionid 61%, IO:WALSync 20%, …" — the three most frequent, as shares of all samples.
pub fn top(counts: &BTreeMap<String, u64>) -> String {
    let total: u64 = counts.values().sum();
    if total == 0 {
        return "–".into();
    }
    let mut sorted: Vec<(&String, &u64)> = counts.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1));
    sorted
        .iter()
        .take(3)
        .map(|(event, n)| format!("{event} {:.0}%", 100.0 * **n as f64 / total as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_waits_are_shares_of_all_samples() {
        let counts = BTreeMap::from([
            ("Lock:transactionid".to_owned(), 6),
            ("IO:WALSync".to_owned(), 3),
            ("running".to_owned(), 1),
        ]);
        assert_eq!(
            top(&counts),
            "Lock:transactionid 60%, IO:WALSync 30%, running 10%"
        );
    }
}
