//! The raw ceilings of the parts on the same box: pgbench on one hot row (the purchase transaction with
//! nothing around it) and redis-benchmark (a Lua stock decrement, and INCR).

use super::database::{Fresh, psql};
use super::pgwait::Sampler;
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

/// `SELECT … FOR UPDATE` then `UPDATE` on one row: what `pessimistic` does to the stock row.
pub const PGBENCH_LOCK: &str = "BEGIN;\n\
SELECT available FROM stock WHERE id = 1 FOR UPDATE;\n\
UPDATE stock SET available = available - 1 WHERE id = 1;\n\
COMMIT;\n";

/// One conditional `UPDATE … WHERE available >= 1`: what `conditional` does to it.
pub const PGBENCH_CONDITIONAL: &str = "UPDATE stock SET available = available - 1 WHERE id = 1 AND available >= 1 RETURNING available;\n";

/// pgbench's best shape for one hot row: the same conditional decrement, autocommit, with nothing
/// returned; run with `-M prepared`, so each statement is only bound and executed.
pub const PGBENCH_PREPARED: &str =
    "UPDATE stock SET available = available - 1 WHERE id = 1 AND available > 0;\n";

/// The admission gate's shape: check and take a unit in one script.
pub const REDIS_DECREMENT: &str = "local v = tonumber(redis.call('GET', KEYS[1]) or '0') \
if v >= 1 then return redis.call('DECRBY', KEYS[1], 1) else return -1 end";

/// pgbench beside the PostgreSQL server, or on the PATH.
pub fn find_pgbench() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin/pgbench"))
        .filter(|path| path.exists())
        .collect();
    found.sort();
    found.pop().or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("pgbench"))
                .find(|path| path.exists())
        })
    })
}

/// Transactions per second of `script` on one hot row, with `clients` connections for `duration`,
/// over `protocol` (pgbench's `-M`: simple, extended or prepared).
pub async fn pgbench(
    pgbench: &Path,
    admin_url: &str,
    script: &str,
    protocol: &str,
    clients: u32,
    duration: Duration,
    scratch: &Path,
) -> anyhow::Result<(f64, BTreeMap<String, u64>)> {
    let db = Fresh::postgres(admin_url).await?;
    let url = db.url();
    let name = db.postgres_name().unwrap_or_default().to_owned();
    let result = async {
        psql(
            &url,
            "CREATE TABLE stock (id int PRIMARY KEY, available bigint NOT NULL CHECK (available >= 0)); \
             INSERT INTO stock VALUES (1, 1000000000000)",
        )
        .await?;
        let file = scratch.join(format!("pgbench-{}.sql", uuid::Uuid::new_v4().simple()));
        std::fs::write(&file, script)?;
        let waits = Sampler::start(admin_url.to_owned(), name);
        let out = Command::new(pgbench)
            .arg("-n")
            .args(["-c", &clients.to_string(), "-j", "2"])
            .args(["-M", protocol])
            .args(["-T", &duration.as_secs().max(1).to_string()])
            .arg("-f")
            .arg(&file)
            .arg(&url)
            .output()
            .await
            .context("running pgbench");
        let waits = waits.finish().await;
        let out = out?;
        let _ = std::fs::remove_file(&file);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!("pgbench failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let tps = parse_pgbench_tps(&stdout)
            .with_context(|| format!("no tps in pgbench's output: {stdout}"))?;
        Ok((tps, waits))
    }
    .await;
    db.drop_now().await?;
    result
}

pub fn parse_pgbench_tps(out: &str) -> Option<f64> {
    out.lines()
        .filter_map(|line| line.trim().strip_prefix("tps = "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .next_back()
}

/// host and port of a `redis://host:port` URL.
pub fn redis_host_port(url: &str) -> (String, String) {
    let rest = url.trim_start_matches("redis://");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    match rest.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.to_owned()),
        None => (rest.to_owned(), "6379".to_owned()),
    }
}

/// Requests per second of one redis-benchmark test (`args` after the common options).
pub async fn redis_benchmark(
    redis_url: &str,
    clients: u32,
    requests: u64,
    args: &[&str],
) -> anyhow::Result<f64> {
    let (host, port) = redis_host_port(redis_url);
    let out = Command::new("redis-benchmark")
        .args(["-h", &host, "-p", &port, "-c", &clients.to_string()])
        .args(["-n", &requests.to_string(), "-q", "--csv"])
        .args(args)
        .output()
        .await
        .context("running redis-benchmark (is redis-tools installed?)")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "redis-benchmark failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_redis_csv(&stdout)
        .with_context(|| format!("no rps in redis-benchmark's output: {stdout}"))
}

/// The `rps` column of redis-benchmark's `--csv` output (the last data line).
pub fn parse_redis_csv(out: &str) -> Option<f64> {
    out.lines()
        .filter(|line| !line.starts_with("\"test\""))
        .filter_map(|line| {
            let mut fields = line.split("\",\"");
            fields.next()?;
            fields.next()?.trim_matches('"').parse().ok()
        })
        .next_back()
}

/// Seeds the gate's key, measures EVAL of the decrement script and INCR, then removes the keys.
pub async fn redis_ceilings(redis_url: &str, requests: u64) -> anyhow::Result<(f64, f64)> {
    let (host, port) = redis_host_port(redis_url);
    let key = format!("fg:bench:{}", uuid::Uuid::new_v4().simple());
    let cli = |args: Vec<String>| {
        let (host, port) = (host.clone(), port.clone());
        async move {
            Command::new("redis-cli")
                .args(["-h", &host, "-p", &port])
                .args(args)
                .output()
                .await
                .context("running redis-cli")
        }
    };
    cli(vec!["SET".into(), key.clone(), "1000000000000".into()]).await?;
    let eval = redis_benchmark(
        redis_url,
        50,
        requests,
        &["EVAL", REDIS_DECREMENT, "1", &key],
    )
    .await;
    let incr = redis_benchmark(redis_url, 50, requests, &["INCR", &format!("{key}:n")]).await;
    cli(vec!["DEL".into(), key.clone(), format!("{key}:n")]).await?;
    Ok((eval?, incr?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgbench_tps_is_read_from_its_summary() {
        let out = "number of transactions actually processed: 9000\n\
                   latency average = 8.9 ms\n\
                   initial connection time = 12.3 ms\n\
                   tps = 1793.123456 (without initial connection time)\n";
        assert_eq!(parse_pgbench_tps(out), Some(1793.123456));
    }

    #[test]
    fn redis_rps_is_read_from_the_csv() {
        let out = "\"test\",\"rps\",\"avg_latency_ms\"\n\"INCR\",\"51020.41\",\"0.511\"\n";
        assert_eq!(parse_redis_csv(out), Some(51020.41));
    }

    #[test]
    fn a_redis_url_gives_host_and_port() {
        assert_eq!(
            redis_host_port("redis://127.0.0.1:6380/0"),
            ("127.0.0.1".to_owned(), "6380".to_owned())
        );
        assert_eq!(redis_host_port("redis://cache").1, "6379");
    }
}
