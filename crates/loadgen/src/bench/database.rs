//! A fresh database per measurement: a new PostgreSQL database (created and dropped with `psql`) or a
//! SQLite file in its own folder, removed afterwards.

use anyhow::{Context, bail};
use std::path::PathBuf;
use tokio::process::Command;

pub enum Fresh {
    Postgres { admin_url: String, name: String },
    Sqlite { dir: PathBuf },
}

/// Runs one SQL statement with `psql` against `url`.
pub async fn psql(url: &str, sql: &str) -> anyhow::Result<String> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .await
        .context("running psql (is the PostgreSQL client installed?)")?;
    if !out.status.success() {
        bail!(
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `postgres://host/db` with the database name replaced.
pub fn with_database(admin_url: &str, name: &str) -> String {
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    format!("{base}/{name}")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

impl Fresh {
    pub async fn postgres(admin_url: &str) -> anyhow::Result<Self> {
        let name = unique("fg_bench");
        psql(admin_url, &format!("CREATE DATABASE {name}")).await?;
        Ok(Self::Postgres {
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    pub fn sqlite() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(unique("fg_bench"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self::Sqlite { dir })
    }

    pub fn postgres_name(&self) -> Option<&str> {
        match self {
            Self::Postgres { name, .. } => Some(name),
            Self::Sqlite { .. } => None,
        }
    }

    pub fn url(&self) -> String {
        match self {
            Self::Postgres { admin_url, name } => with_database(admin_url, name),
            Self::Sqlite { dir } => format!("sqlite:{}", dir.join("flashgate.db").display()),
        }
    }

    pub async fn drop_now(self) -> anyhow::Result<()> {
        match self {
            Self::Postgres { admin_url, name } => {
                psql(
                    &admin_url,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                )
                .await?;
            }
            Self::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        Ok(())
    }
}
