//! Settings in layers: the committed defaults file, an optional `--config` TOML file, then
//! `FLASHGATE_…` environment variables. Secrets are typed so they never print; `validate` fails at start
//! naming the key.

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use flashgate_core::Strategy;
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub const DEFAULTS: &str = include_str!("../config/default.toml");

const DEV_ADMIN_TOKEN: &str = "dev-admin-token-change-me";
const DEV_JWT_SECRET: &str = "dev-jwt-secret-change-me-0123456789abcdef";

/// A value that must never reach a log line or an error message.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: String,
    pub database_url: String,
    pub admin_token: Secret,
    pub jwt_secret: Secret,
    pub database: DatabaseSettings,
    pub inventory: InventorySettings,
    pub expirer: ExpirerSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub vnpay: VnpaySettings,
    pub reconciler: ReconcilerSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VnpaySettings {
    pub tmn_code: String,
    pub hash_secret: Secret,
    pub pay_url: String,
    pub api_url: String,
    pub public_url: String,
    pub api_timeout_ms: u64,
    pub sim_ipn_retry_ms: u64,
    pub sim_querydr_min_interval_ms: u64,
}

impl VnpaySettings {
    /// Whether the bundled simulator stands in for the gateway.
    pub fn uses_simulator(&self) -> bool {
        self.pay_url.is_empty()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcilerSettings {
    pub tick_ms: u64,
    pub first_poll_after_seconds: u64,
    pub poll_interval_seconds: u64,
    pub min_poll_interval_seconds: u64,
    pub batch: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventorySettings {
    pub strategy: Strategy,
    pub hold_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpirerSettings {
    pub interval_ms: u64,
    pub batch: i64,
    pub lease_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub body_limit_bytes: usize,
    pub request_timeout_ms: u64,
    pub shutdown_grace_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Json,
    Pretty,
}

impl Settings {
    /// Defaults, then the file (if any), then the environment; validated.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.exists() {
                bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        Self::from_figment(figment.merge(Env::prefixed("FLASHGATE_").split("__")))
    }

    pub fn from_figment(figment: Figment) -> anyhow::Result<Self> {
        let settings: Settings = figment.extract().context("invalid settings")?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what types alone cannot, naming the offending key.
    pub fn validate(&self) -> anyhow::Result<()> {
        let listen = self.listen_addr()?;
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            bail!("database_url: must start with sqlite: or postgres://");
        }
        if self.admin_token.expose().len() < 16 {
            bail!("admin_token: must be at least 16 characters");
        }
        if self.jwt_secret.expose().len() < 32 {
            bail!("jwt_secret: must be at least 32 bytes");
        }
        if !listen.ip().is_loopback() {
            if self.admin_token.expose() == DEV_ADMIN_TOKEN {
                bail!("admin_token: the development token may only be used on a loopback address");
            }
            if self.jwt_secret.expose() == DEV_JWT_SECRET {
                bail!("jwt_secret: the development secret may only be used on a loopback address");
            }
        }
        if self.database.max_connections == 0 {
            bail!("database.max_connections: must be at least 1");
        }
        if self.database.acquire_timeout_ms == 0 {
            bail!("database.acquire_timeout_ms: must be at least 1");
        }
        if self.inventory.hold_seconds == 0 {
            bail!("inventory.hold_seconds: must be at least 1");
        }
        if self.expirer.batch < 1 {
            bail!("expirer.batch: must be at least 1");
        }
        if self.expirer.interval_ms == 0 || self.expirer.lease_seconds == 0 {
            bail!("expirer.interval_ms and expirer.lease_seconds: must be at least 1");
        }
        if vnpay::TmnCode::parse(&self.vnpay.tmn_code).is_err() {
            bail!("vnpay.tmn_code: must be VNPay's 8-character terminal code");
        }
        if self.vnpay.hash_secret.expose().trim().is_empty() {
            bail!("vnpay.hash_secret: must not be empty");
        }
        if self.vnpay.pay_url.is_empty() != self.vnpay.api_url.is_empty() {
            bail!(
                "vnpay.api_url: set both vnpay.pay_url and vnpay.api_url, or neither (the simulator)"
            );
        }
        if !self.vnpay.public_url.is_empty() && !self.vnpay.public_url.starts_with("http") {
            bail!("vnpay.public_url: must be an http(s) URL");
        }
        if self.reconciler.tick_ms == 0 || self.reconciler.batch < 1 {
            bail!("reconciler.tick_ms and reconciler.batch: must be at least 1");
        }
        if self.reconciler.min_poll_interval_seconds == 0
            || self.reconciler.min_poll_interval_seconds > self.reconciler.poll_interval_seconds
        {
            bail!(
                "reconciler.min_poll_interval_seconds: must be between 1 and poll_interval_seconds"
            );
        }
        if self.http.body_limit_bytes < 256 {
            bail!("http.body_limit_bytes: must be at least 256");
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listen.parse().with_context(|| {
            format!(
                "listen: {:?} is not an address such as 127.0.0.1:8080",
                self.listen
            )
        })
    }

    pub fn hold(&self) -> time::Duration {
        time::Duration::seconds(i64::try_from(self.inventory.hold_seconds).unwrap_or(i64::MAX))
    }

    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.database.acquire_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    fn defaults() -> Figment {
        Figment::from(Toml::string(DEFAULTS))
    }

    #[test]
    fn the_committed_defaults_are_valid() {
        let settings = Settings::from_figment(defaults()).unwrap();
        assert_eq!(settings.inventory.strategy, Strategy::Conditional);
        assert!(settings.database_url.starts_with("sqlite:"));
    }

    #[test]
    fn a_secret_never_prints() {
        let settings = Settings::from_figment(defaults()).unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains(DEV_JWT_SECRET));
        assert!(!printed.contains(DEV_ADMIN_TOKEN));
    }

    #[test]
    fn an_unknown_strategy_names_its_key() {
        let figment = defaults().merge(Serialized::default("inventory.strategy", "optimistic"));
        let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
        assert!(error.contains("strategy"), "{error}");
    }

    #[test]
    fn development_secrets_are_refused_off_loopback() {
        let figment = defaults().merge(Serialized::default("listen", "0.0.0.0:8080"));
        let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
        assert!(error.contains("admin_token"), "{error}");
    }

    #[test]
    fn a_short_jwt_secret_is_refused() {
        let figment = defaults().merge(Serialized::default("jwt_secret", "short"));
        let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
        assert!(error.contains("jwt_secret"), "{error}");
    }
}
