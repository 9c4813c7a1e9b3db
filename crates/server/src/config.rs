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
    /// Unset or empty: the in-process fast path.
    #[serde(default)]
    pub redis_url: Option<String>,
    pub admin_token: Secret,
    pub jwt_secret: Secret,
    pub database: DatabaseSettings,
    pub inventory: InventorySettings,
    pub redis: RedisSettings,
    pub gate: GateSettings,
    pub cache: CacheSettings,
    pub limits: LimitSettings,
    pub shedding: SheddingSettings,
    pub expirer: ExpirerSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub vnpay: VnpaySettings,
    pub reconciler: ReconcilerSettings,
    pub monitor: MonitorSettings,
    /// Buyers' credentials: tokens, sessions or both.
    pub auth: crate::auth::AuthSettings,
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

/// The sale monitor behind the admin dashboard and the database-derived gauges.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorSettings {
    pub interval_ms: u64,
    pub idle_interval_ms: u64,
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
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
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
        // `FLASHGATE_TEST_*` belongs to the test suite (where its databases and Redis are), and
        // processes it starts inherit it: not a setting, so not an unknown key either.
        let env = Env::prefixed("FLASHGATE_")
            .filter(|key| !key.as_str().to_ascii_lowercase().starts_with("test_"))
            .split("__");
        Self::from_figment(figment.merge(env))
    }

    pub fn from_figment(figment: Figment) -> anyhow::Result<Self> {
        let settings: Settings = figment.extract().context("invalid settings")?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what types alone cannot, naming the offending key.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.validate_fast_path()?;
        let listen = self.listen_addr()?;
        self.auth.validate(listen.ip().is_loopback())?;
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
        if self.monitor.interval_ms == 0 {
            bail!("monitor.interval_ms: must be at least 1");
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

    /// The Redis URL, if the fast path is to use Redis.
    pub fn redis_url(&self) -> Option<&str> {
        self.redis_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
    }

    fn validate_fast_path(&self) -> anyhow::Result<()> {
        if let Some(url) = self.redis_url()
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            bail!("redis_url: must start with redis:// or rediss://");
        }
        if self.redis.key_prefix.contains(['{', '}']) {
            bail!("redis.key_prefix: must not contain {{ or }}");
        }
        if self.redis.connect_timeout_ms == 0 || self.redis.response_timeout_ms == 0 {
            bail!("redis.connect_timeout_ms and redis.response_timeout_ms: must be at least 1");
        }
        let g = &self.gate;
        if g.max_batch == 0 || g.concurrent_batches == 0 || g.keeper_interval_ms == 0 {
            bail!(
                "gate.max_batch, gate.concurrent_batches and gate.keeper_interval_ms: must be at least 1"
            );
        }
        if g.idempotency_ttl_seconds == 0 {
            bail!("gate.idempotency_ttl_seconds: must be at least 1");
        }
        let c = &self.cache;
        if c.l1_ttl_ms == 0 || c.l2_ttl_ms == 0 || c.negative_ttl_ms == 0 || c.l1_capacity == 0 {
            bail!("cache: TTLs and l1_capacity must be at least 1");
        }
        for (name, policy) in [
            ("reads", &self.limits.reads),
            ("purchases", &self.limits.purchases),
            ("callbacks", &self.limits.callbacks),
        ] {
            if policy.rate == 0 || policy.burst == 0 || policy.period_ms == 0 {
                bail!("limits.{name}: rate, period_ms and burst must be at least 1");
            }
        }
        let p = &self.limits.penalty;
        if p.strikes == 0 || p.window_ms == 0 || p.ban_ms == 0 {
            bail!("limits.penalty: strikes, window_ms and ban_ms must be at least 1");
        }
        if self.shedding.max_concurrent_purchases == 0 {
            bail!("shedding.max_concurrent_purchases: must be at least 1");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub key_prefix: String,
    pub connect_timeout_ms: u64,
    pub response_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSettings {
    pub max_batch: usize,
    pub max_wait_us: u64,
    pub concurrent_batches: usize,
    pub duplicate_wait_ms: u64,
    pub sold_out_ttl_ms: u64,
    pub idempotency_ttl_seconds: u64,
    pub keeper_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    pub enabled: bool,
    pub l1_ttl_ms: u64,
    pub l1_capacity: u64,
    pub l2_ttl_ms: u64,
    pub l2_jitter_ms: u64,
    pub negative_ttl_ms: u64,
    pub http_max_age_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub enabled: bool,
    pub reads: RatePolicy,
    pub purchases: RatePolicy,
    pub callbacks: RatePolicy,
    pub penalty: PenaltySettings,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatePolicy {
    pub rate: u32,
    pub period_ms: u64,
    pub burst: u32,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PenaltySettings {
    pub strikes: u32,
    pub window_ms: u64,
    pub ban_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SheddingSettings {
    pub max_concurrent_purchases: usize,
    pub queue_budget_ms: u64,
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
    // figment's Jail fixes the closure's error type.
    #[allow(clippy::result_large_err)]
    fn the_test_suites_variables_are_not_settings_but_others_are_checked() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FLASHGATE_TEST_DATABASE_URL", "postgres://elsewhere/db");
            jail.set_env("FLASHGATE_INVENTORY__STRATEGY", "gated");
            let settings = Settings::load(None).map_err(|e| format!("{e:#}"))?;
            assert_eq!(settings.inventory.strategy, Strategy::Gated);
            jail.set_env("FLASHGATE_TSET_DATABASE_URL", "x");
            assert!(
                Settings::load(None).is_err(),
                "a misspelt key is still refused"
            );
            Ok(())
        });
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
    fn without_a_redis_url_the_fast_path_runs_in_process() {
        let settings = Settings::from_figment(defaults()).unwrap();
        assert_eq!(settings.redis_url(), None);
        let empty = defaults().merge(Serialized::default("redis_url", ""));
        assert_eq!(Settings::from_figment(empty).unwrap().redis_url(), None);
    }

    #[test]
    fn no_proxy_is_trusted_by_default_and_cidrs_parse() {
        let settings = Settings::from_figment(defaults()).unwrap();
        assert!(settings.http.trusted_proxies.is_empty());
        let figment = defaults().merge(Serialized::default(
            "http.trusted_proxies",
            vec!["10.0.0.0/8", "::1/128"],
        ));
        let settings = Settings::from_figment(figment).unwrap();
        assert_eq!(settings.http.trusted_proxies.len(), 2);
        let bad = defaults().merge(Serialized::default(
            "http.trusted_proxies",
            vec!["10.0.0.0"],
        ));
        assert!(Settings::from_figment(bad).is_err());
    }

    #[test]
    fn every_strategy_is_a_setting() {
        for strategy in [
            Strategy::Pessimistic,
            Strategy::Conditional,
            Strategy::Gated,
        ] {
            let figment =
                defaults().merge(Serialized::default("inventory.strategy", strategy.as_str()));
            let settings = Settings::from_figment(figment).unwrap();
            assert_eq!(settings.inventory.strategy, strategy);
        }
    }

    #[test]
    fn a_zero_rate_limit_names_its_key() {
        let figment = defaults().merge(Serialized::default("limits.purchases.burst", 0));
        let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
        assert!(error.contains("limits.purchases"), "{error}");
    }

    #[test]
    fn a_short_jwt_secret_is_refused() {
        let figment = defaults().merge(Serialized::default("jwt_secret", "short"));
        let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
        assert!(error.contains("jwt_secret"), "{error}");
    }
}
