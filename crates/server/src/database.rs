//! The database a deployment runs on: its URL, parsed once, the pool's bounds, and opening it.

use crate::config::{Settings, within};
use anyhow::{Context, ensure};
use flashgate_store::{PoolSettings, Store};
use serde::Deserialize;
use serde_with::{DurationMilliSeconds, serde_as};
use std::fmt;
use std::time::Duration;

/// `database_url`: a `sqlite:` or `postgres://` URL, checked when the settings are read.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `postgres` or `sqlite`, for messages that must not print the URL (it may hold a password).
    pub fn scheme(&self) -> &'static str {
        if self.0.starts_with("sqlite:") {
            "sqlite"
        } else {
            "postgres"
        }
    }
}

impl TryFrom<String> for DatabaseUrl {
    type Error = String;

    fn try_from(url: String) -> Result<Self, String> {
        if ["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            Ok(Self(url))
        } else {
            // Without the key: a settings error names it (as database_url or
            // database.migrations_url), the command line names its option.
            Err("must start with sqlite: or postgres://".to_owned())
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:[redacted]", self.scheme())
    }
}

#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub max_connections: u32,
    /// How long a request may wait for a connection before it is answered 503.
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "acquire_timeout_ms")]
    pub acquire_timeout: Duration,
    pub migrate_on_start: bool,
    /// PEM CA certificates trusted for PostgreSQL besides the built-in roots; empty: none.
    pub root_ca_file: String,
    /// `database_url` names PgBouncer (or another pooler) in transaction pooling mode.
    pub transaction_pooling: bool,
    /// Where migrations run instead of `database_url`: PostgreSQL itself, behind a transaction pooler.
    #[serde(default)]
    pub migrations_url: Option<DatabaseUrl>,
}

impl DatabaseSettings {
    /// Checks the pool's bounds, and that what is for a PostgreSQL pooler is set with one only.
    pub fn validate(&self, url: &DatabaseUrl) -> anyhow::Result<()> {
        ensure!(
            !self.transaction_pooling || url.scheme() == "postgres",
            "database.transaction_pooling: PostgreSQL only, and database_url is sqlite:"
        );
        if let Some(migrations) = &self.migrations_url {
            ensure!(
                migrations.scheme() == "postgres",
                "database.migrations_url: must be a postgres:// URL"
            );
            // Without a pooler, migrations run over database_url: a migrations_url would be ignored.
            ensure!(
                self.transaction_pooling,
                "database.migrations_url: only with database.transaction_pooling = true (without a pooler, migrations run over database_url)"
            );
        }
        within("database.max_connections", self.max_connections, 1, 10_000)?;
        within(
            "database.acquire_timeout_ms",
            self.acquire_timeout,
            Duration::from_millis(1),
            Duration::from_secs(600),
        )
    }
}

pub async fn open_store(settings: &Settings, migrate: bool) -> anyhow::Result<Store> {
    let url = &settings.database_url;
    let pool = PoolSettings {
        max_connections: settings.database.max_connections,
        acquire_timeout: settings.database.acquire_timeout,
        root_ca_file: crate::tls::root_ca_path(&settings.database.root_ca_file),
        transaction_pooling: settings.database.transaction_pooling,
        migrations_url: settings
            .database
            .migrations_url
            .as_ref()
            .map(|url| url.as_str().to_owned()),
    };
    Store::open(url.as_str(), &pool, migrate)
        .await
        .with_context(|| format!("database_url: cannot open the {} database", url.scheme()))
}
