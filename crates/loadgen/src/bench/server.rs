//! One `flashgate serve` process per measurement: configured through `FLASHGATE_*` variables, ready when
//! `/readyz` answers, measured through `/proc/<pid>/status`, stopped with SIGTERM.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

pub struct Server {
    child: Child,
    pid: u32,
    pub base_url: String,
    log: PathBuf,
}

/// A free loopback port: bound, read, released. Another process could take it in between; the server
/// then fails to bind and says so.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

impl Server {
    pub async fn start(
        binary: &Path,
        database_url: &str,
        strategy: &str,
        extra_env: &[(String, String)],
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let out = std::fs::File::create(&log)
            .with_context(|| format!("creating the server log {}", log.display()))?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .env("FLASHGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("FLASHGATE_DATABASE_URL", database_url)
            .env("FLASHGATE_INVENTORY__STRATEGY", strategy)
            .env("FLASHGATE_LOG__FILTER", "warn")
            .env("FLASHGATE_ADMIN_TOKEN", super::ADMIN_TOKEN)
            .env("FLASHGATE_JWT_SECRET", super::JWT_SECRET)
            // The whole crowd comes from one address: per-IP limits would measure the limiter.
            .env("FLASHGATE_LIMITS__ENABLED", "false")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true);
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let mut server = Self {
            child,
            pid,
            base_url: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let url = format!("{}/readyz", self.base_url);
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the server exited with {status} before it was ready: {}",
                    self.log_tail()
                );
            }
            if client
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the server was not ready within 15 s: {}", self.log_tail())
    }

    /// The most memory the process ever had resident (VmHWM), in KiB.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
    }

    /// SIGTERM, then up to 15 s for a graceful exit before the process is killed.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    eprintln!(
                        "bench: the server exited with {status} on SIGTERM: {}",
                        self.log_tail()
                    );
                }
            }
            Err(_) => {
                eprintln!("bench: the server ignored SIGTERM for 15 s; killing it");
                self.child.kill().await?;
            }
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}
