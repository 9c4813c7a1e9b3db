//! Settings in layers: the committed defaults file, an optional `--config` TOML file, then
//! `FLASHGATE_…` environment variables. Each section is declared beside the code that owns it, with its
//! own validation; this file holds the top level and what crosses sections. Durations are read as
//! durations (the keys keep their unit suffix), every duration and size is bounded where it is read,
//! and secrets are typed so they never print; `validate` fails at start naming the key.
//!
//! An environment variable's value is read as figment's `Env` reads it (a list `[…]`, a table `{…}`,
//! a string in quotes), but for one thing: what `Env` would take for a number or a boolean stays the
//! text it is. A token or a terminal code may be all digits (`0123…` keeps its zeros, a 40-digit one
//! every digit) or `true`; a setting that is a number or a boolean reads that text as one, since the
//! settings are extracted lossily.

use crate::assemble::InventorySettings;
use crate::database::{DatabaseSettings, DatabaseUrl};
use crate::http::HttpSettings;
use crate::http::shedding::SheddingSettings;
use crate::payments::settings::{PaymentSettings, VnpaySettings};
use crate::shared::RedisSettings;
use crate::shared::gate::GateSettings;
use crate::shared::limits::LimitSettings;
use crate::shared::products::CacheSettings;
use crate::telemetry::LogSettings;
use crate::workers::monitor::MonitorSettings;
use crate::workers::{ExpirerSettings, ReconcilerSettings};
use anyhow::{Context, bail, ensure};
use figment::providers::{Env, Format, Toml};
use figment::util::nest;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub const DEFAULTS: &str = include_str!("../config/default.toml");

/// The variable that names the `--config` file: the command line's, not a setting.
pub const CONFIG_VARIABLE: &str = "FLASHGATE_CONFIG";

/// A value that must never reach a log line or an error message.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(from = "SecretText")]
pub struct Secret(String);

/// A secret as written: text only. serde's usual refusal of another type quotes the value; an
/// untagged enum's is its `expecting` text alone.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a secret must be text (in a TOML file, in quotes); its value is not shown"
)]
enum SecretText {
    Text(String),
}

impl From<SecretText> for Secret {
    fn from(SecretText::Text(text): SecretText) -> Self {
        Self(text)
    }
}

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
    /// Parsed once; a value that is not an address names this key.
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
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
    pub payments: PaymentSettings,
    pub monitor: MonitorSettings,
    pub callbacks: crate::workers::callback_pruner::CallbackSettings,
    /// Buyers' credentials: tokens, sessions or both.
    pub auth: crate::auth::AuthSettings,
    pub metrics: crate::metrics::MetricsSettings,
    pub webhooks: crate::webhooks::WebhookSettings,
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
        // processes it starts inherit it; `FLASHGATE_CONFIG` names the file above. Neither is a
        // setting, so neither is an unknown key.
        let env = Env::prefixed("FLASHGATE_")
            .filter(|key| {
                let key = key.as_str();
                !(key.to_ascii_lowercase().starts_with("test_")
                    || CONFIG_VARIABLE.eq_ignore_ascii_case(&format!("FLASHGATE_{key}")))
            })
            .split("__");
        let metadata = env.metadata();
        for (key, text) in env.iter() {
            let value = match text.parse::<Value>() {
                Ok(value @ (Value::String(..) | Value::Array(..) | Value::Dict(..))) => value,
                _ => Value::from(text.trim()),
            };
            figment = figment.merge(Variable {
                key: key.into_string(),
                value,
                metadata: metadata.clone(),
            });
        }
        Self::from_figment(figment)
    }

    pub fn from_figment(figment: Figment) -> anyhow::Result<Self> {
        // Lossy: a number or a boolean may come as text (an environment variable's, see `load`).
        let settings: Settings = figment.extract_lossy().context("invalid settings")?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what types alone cannot, naming the offending key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(url) = self.redis_url() {
            // One node, or several of one cluster, all spoken to alike (TLS or not).
            let options = flashgate_shared_state::RedisOptions::new(url);
            let nodes = options.nodes();
            let scheme = if url.trim_start().starts_with("rediss://") {
                "rediss://"
            } else {
                "redis://"
            };
            if nodes.iter().any(|node| !node.starts_with(scheme)) {
                bail!(
                    "redis_url: every node must start with redis:// or rediss://, all of them the same"
                );
            }
        }
        self.auth.validate()?;
        crate::tls::validate(self)?;
        self.callbacks.validate()?;
        self.webhooks.validate()?;
        self.database.validate(&self.database_url)?;
        self.inventory.validate()?;
        self.redis.validate()?;
        self.gate.validate()?;
        self.cache.validate()?;
        self.limits.validate()?;
        self.shedding.validate()?;
        self.expirer.validate()?;
        self.http.validate()?;
        self.reconciler.validate()?;
        self.monitor.validate()?;
        self.payments.validate()?;
        self.vnpay.validate()?;
        self.metrics.validate()?;
        self.log.validate()?;
        let admin_token = self.admin_token.expose();
        if admin_token.len() < 16 {
            bail!("admin_token: must be at least 16 characters");
        }
        if distinct_characters(admin_token) < ADMIN_TOKEN_DISTINCT {
            bail!(
                "admin_token: must hold at least {ADMIN_TOKEN_DISTINCT} different characters (a repeated pattern is guessed first)"
            );
        }
        if self.jwt_secret.expose().len() < 32 {
            bail!("jwt_secret: must be at least 32 bytes");
        }
        // Whoever holds the buyers' signing key (the shop's login, every service that mints tokens)
        // would hold the admin API too, and an admin token would sign buyer tokens.
        if self.admin_token == self.jwt_secret {
            bail!(
                "admin_token and jwt_secret: must differ (each would unlock what the other guards)"
            );
        }
        // A lease must outlast the call made under it, or another instance claims the work while it
        // is under way: a webhook delivery still being sent goes out twice, an order is asked about
        // (or refunded) twice. The expirer's lease is also the reconciler's and the refunder's
        // (app.rs), and each of them calls VNPay under it.
        outlasts(
            ("webhooks.lease_seconds", self.webhooks.lease),
            ("webhooks.timeout_ms", self.webhooks.timeout),
        )?;
        outlasts(
            ("expirer.lease_seconds", self.expirer.lease),
            ("vnpay.api_timeout_ms", self.vnpay.api_timeout),
        )
    }

    /// What listening adds to `validate`: once exposed (`exposure`), nothing only a developer's
    /// machine may run with (`safety`). Checked by the commands that listen (serve, demo) alone:
    /// `token`, `migrate` and `audit` open no port, so the image's `FLASHGATE_LISTEN=0.0.0.0:8080`
    /// with development values does not stop them.
    pub fn check_listening(&self) -> anyhow::Result<()> {
        crate::safety::check(self)
    }

    /// The setting that makes this service reachable from beyond this machine, if one does: a
    /// `listen` address that is not loopback, a proxy it trusts (`http.trusted_proxies`: whoever
    /// reaches the proxy reaches flashgate, as nginx on :443 in front of 127.0.0.1:8080 does), or a
    /// `vnpay.public_url` whose host is not loopback (buyers and the gateway are told to come there).
    /// The one notion of "exposed" behind every development-only check (`safety`, webhooks'
    /// internal targets).
    pub fn exposure(&self) -> Option<Exposure> {
        if !self.listen.ip().is_loopback() {
            Some(Exposure::Listen)
        } else if !self.http.trusted_proxies.is_empty() {
            Some(Exposure::TrustedProxies)
        } else if !self.vnpay.public_url.is_empty()
            && !reqwest::Url::parse(&self.vnpay.public_url).is_ok_and(|url| loopback_host(&url))
        {
            Some(Exposure::PublicUrl)
        } else {
            None
        }
    }

    /// Whether webhooks may go to internal addresses: as `webhooks.allow_private_targets` says, and
    /// when it is unset only for a service that is not exposed (development).
    pub fn private_webhook_targets_allowed(&self) -> bool {
        self.webhooks
            .allow_private_targets
            .unwrap_or(self.exposure().is_none())
    }

    /// The Redis URL, if the shared state is to live on Redis.
    pub fn redis_url(&self) -> Option<&str> {
        self.redis_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
    }
}

/// The fewest different characters an admin token may be made of: a long run of one character or a
/// short pattern repeated (`aaaa…`, `abababab…`, `0000…`) is refused.
const ADMIN_TOKEN_DISTINCT: usize = 8;

fn distinct_characters(text: &str) -> usize {
    text.chars().collect::<std::collections::HashSet<_>>().len()
}

/// Why a service is reachable from beyond this machine (`Settings::exposure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    Listen,
    TrustedProxies,
    PublicUrl,
}

impl Exposure {
    /// The setting, and what it says, as a refusal names it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Listen => "listen is not a loopback address",
            Self::TrustedProxies => {
                "http.trusted_proxies is set: a proxy brings requests from elsewhere"
            }
            Self::PublicUrl => "vnpay.public_url names a host that is not loopback",
        }
    }
}

/// Whether a URL's host is this machine: `localhost` or a loopback address.
pub fn loopback_host(url: &reqwest::Url) -> bool {
    url.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

/// One `FLASHGATE_…` variable's setting, under the metadata of figment's `Env`, so that a refusal
/// names the variable as `Env`'s would.
struct Variable {
    /// The setting's key, its parts joined with `.` (never empty: `Env` drops such names).
    key: String,
    value: Value,
    metadata: Metadata,
}

impl Provider for Variable {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let (section, rest) = self.key.split_once('.').unwrap_or((&self.key, ""));
        let dict = Dict::from([(section.to_owned(), nest(rest, self.value.clone()))]);
        Ok(Profile::Default.collect(dict))
    }
}

/// Checks that a setting lies within its bounds, naming its key: every duration and size has a
/// ceiling, so no arithmetic on it later can overflow, and a floor where zero would mean "never".
pub fn within<T: Bounded>(key: &str, value: T, min: T, max: T) -> anyhow::Result<()> {
    if value < min || value > max {
        bail!(
            "{key}: {} is outside {}..={}",
            value.as_written(key),
            min.as_written(key),
            max.as_written(key)
        );
    }
    Ok(())
}

/// A bounded setting, printed in a refusal as it is written in the settings.
pub trait Bounded: PartialOrd {
    fn as_written(&self, key: &str) -> String;
}

macro_rules! bounded_numbers {
    ($($number:ty),*) => {$(
        impl Bounded for $number {
            fn as_written(&self, _key: &str) -> String {
                self.to_string()
            }
        }
    )*};
}

bounded_numbers!(u32, u64, i64, usize);

impl Bounded for Duration {
    /// In the unit the key names (`_us`, `_ms`, else `_seconds`), in which every bound is whole.
    fn as_written(&self, key: &str) -> String {
        let units = if key.ends_with("_us") {
            self.as_micros()
        } else if key.ends_with("_ms") {
            self.as_millis()
        } else {
            u128::from(self.as_secs())
        };
        units.to_string()
    }
}

/// Checks that a lease (key and length) is longer than the call made under it.
fn outlasts(lease: (&str, Duration), call: (&str, Duration)) -> anyhow::Result<()> {
    let ((lease_key, lease), (call_key, call)) = (lease, call);
    ensure!(
        lease > call,
        "{lease_key}: must be longer than {call_key} ({}), or work still under way is claimed again",
        call.as_written(call_key)
    );
    Ok(())
}

/// Checks that the setting `key` is an absolute http(s) URL with a host.
pub fn http_url(key: &str, url: &str) -> anyhow::Result<()> {
    let parsed =
        reqwest::Url::parse(url).with_context(|| format!("{key}: `{url}` is not a URL"))?;
    ensure!(
        matches!(parsed.scheme(), "https" | "http") && parsed.host().is_some(),
        "{key}: `{url}` is not an http(s) URL with a host"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;
    use flashgate_core::Strategy;

    fn defaults() -> Figment {
        Figment::from(Toml::string(DEFAULTS))
    }

    #[test]
    fn the_committed_defaults_are_valid() {
        let settings = Settings::from_figment(defaults()).unwrap();
        assert_eq!(settings.inventory.strategy, Strategy::Gated);
        assert_eq!(settings.database_url.scheme(), "sqlite");
    }

    #[test]
    // figment's Jail fixes the closure's error type.
    #[allow(clippy::result_large_err)]
    fn the_test_suites_variables_are_not_settings_but_others_are_checked() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FLASHGATE_TEST_DATABASE_URL", "postgres://elsewhere/db");
            jail.set_env("FLASHGATE_INVENTORY__STRATEGY", "conditional");
            let settings = Settings::load(None).map_err(|e| format!("{e:#}"))?;
            assert_eq!(settings.inventory.strategy, Strategy::Conditional);
            jail.set_env("FLASHGATE_TSET_DATABASE_URL", "x");
            assert!(
                Settings::load(None).is_err(),
                "a misspelt key is still refused"
            );
            Ok(())
        });
    }

    #[test]
    // figment's Jail fixes the closure's error type.
    #[allow(clippy::result_large_err)]
    fn the_config_files_variable_is_not_a_setting() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FLASHGATE_CONFIG", "a.toml");
            Settings::load(None).map_err(|e| format!("{e:#}"))?;
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn text_settings_take_numbers_and_booleans_from_the_environment_as_written() {
        figment::Jail::expect_with(|jail| {
            // Leading zeros and more digits than any integer holds: kept, not reformatted.
            let token = "0123456789012345678901234567890123456789";
            jail.set_env("FLASHGATE_ADMIN_TOKEN", token);
            jail.set_env("FLASHGATE_METRICS__TOKEN", "1234567890123456");
            jail.set_env("FLASHGATE_VNPAY__TMN_CODE", "01234567");
            jail.set_env("FLASHGATE_AUTH__AUDIENCE", "123");
            jail.set_env("FLASHGATE_AUTH__ISSUER", "true");
            // Numbers, booleans and lists still read as such.
            jail.set_env("FLASHGATE_INVENTORY__HOLD_SECONDS", "60");
            jail.set_env("FLASHGATE_LIMITS__ENABLED", "false");
            jail.set_env("FLASHGATE_HTTP__TRUSTED_PROXIES", "[\"10.0.0.0/8\"]");
            let settings = Settings::load(None).map_err(|e| format!("{e:#}"))?;
            assert_eq!(settings.admin_token.expose(), token);
            assert_eq!(settings.metrics.token.expose(), "1234567890123456");
            assert_eq!(settings.vnpay.tmn_code, "01234567");
            assert_eq!(settings.auth.audience, "123");
            assert_eq!(settings.auth.issuer, "true");
            assert_eq!(settings.inventory.hold, Duration::from_secs(60));
            assert!(!settings.limits.enabled);
            assert_eq!(settings.http.trusted_proxies.len(), 1);
            Ok(())
        });
    }

    #[test]
    fn a_secret_that_is_not_text_is_refused_without_its_value() {
        for key in [
            "admin_token",
            "jwt_secret",
            "vnpay.hash_secret",
            "metrics.token",
        ] {
            let figment = defaults().merge(Serialized::default(key, 123_456_789_012_345_678_u64));
            let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
            assert!(error.contains(key), "{key}: {error}");
            assert!(!error.contains("123456789012345678"), "{key}: {error}");
        }
    }

    /// Every `FLASHGATE_…` variable the deployment files and the documentation name is a setting (or
    /// `FLASHGATE_CONFIG`, or the test suite's): exported in a shell, none may stop a command.
    #[test]
    #[allow(clippy::result_large_err)]
    fn every_variable_the_deployment_and_the_docs_name_is_a_setting() {
        let files = [
            ("README.md", include_str!("../../../README.md")),
            (
                "deploy/README.md",
                include_str!("../../../deploy/README.md"),
            ),
            (
                "deploy/compose.yaml",
                include_str!("../../../deploy/compose.yaml"),
            ),
            ("Dockerfile", include_str!("../../../Dockerfile")),
            (
                "scripts/cluster.sh",
                include_str!("../../../scripts/cluster.sh"),
            ),
            ("the defaults file", DEFAULTS),
        ];
        for (file, text) in files {
            let names = text
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|word| word.starts_with("FLASHGATE_"));
            for name in names {
                figment::Jail::expect_with(|jail| {
                    jail.set_env(name, "x");
                    if let Err(error) = Settings::load(None) {
                        let error = format!("{error:#}");
                        assert!(!error.contains("unknown field"), "{file}: {name}: {error}");
                    }
                    Ok(())
                });
            }
        }
    }

    #[test]
    fn a_secret_never_prints() {
        let settings = Settings::from_figment(defaults()).unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains(settings.jwt_secret.expose()));
        assert!(!printed.contains(settings.admin_token.expose()));
        assert!(!printed.contains(settings.vnpay.hash_secret.expose()));
    }

    #[test]
    fn migrations_go_to_postgresql_only() {
        let pooled = defaults()
            .merge(Serialized::default(
                "database_url",
                "postgres://pgbouncer:6432/flashgate",
            ))
            .merge(Serialized::default("database.transaction_pooling", true));
        let figment = pooled.clone().merge(Serialized::default(
            "database.migrations_url",
            "sqlite:x.db",
        ));
        let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
        assert!(error.contains("database.migrations_url"), "{error}");
        let figment = pooled.merge(Serialized::default(
            "database.migrations_url",
            "postgres://db.internal:5432/flashgate",
        ));
        let settings = Settings::from_figment(figment).unwrap();
        assert!(
            !format!("{settings:?}").contains("db.internal"),
            "never printed"
        );
    }

    #[test]
    fn migrations_url_and_transaction_pooling_are_for_a_postgresql_pooler_only() {
        let postgres = "postgres://flashgate@pgbouncer:6432/flashgate";
        let with = |pairs: &[(&str, serde_json::Value)]| {
            let mut figment = defaults();
            for (key, value) in pairs {
                figment = figment.merge(Serialized::default(key, value));
            }
            Settings::from_figment(figment).map_err(|e| format!("{e:#}"))
        };
        let migrations = "postgres://flashgate@db:5432/flashgate";
        let error = with(&[
            ("database_url", postgres.into()),
            ("database.migrations_url", migrations.into()),
        ])
        .unwrap_err();
        assert!(
            error.starts_with("database.migrations_url:") && error.contains("transaction_pooling"),
            "ignored without a pooler: {error}"
        );
        let error = with(&[("database.transaction_pooling", true.into())]).unwrap_err();
        assert!(
            error.starts_with("database.transaction_pooling:") && error.contains("PostgreSQL"),
            "{error}"
        );
        with(&[
            ("database_url", postgres.into()),
            ("database.transaction_pooling", true.into()),
            ("database.migrations_url", migrations.into()),
        ])
        .unwrap();
    }

    #[test]
    fn a_lease_outlasts_the_call_made_under_it() {
        for (key, value, named) in [
            ("webhooks.timeout_ms", 60_000, "webhooks.lease_seconds"),
            ("webhooks.lease_seconds", 10, "webhooks.lease_seconds"),
            ("expirer.lease_seconds", 5, "expirer.lease_seconds"),
            ("vnpay.api_timeout_ms", 30_000, "expirer.lease_seconds"),
        ] {
            let figment = defaults().merge(Serialized::default(key, value));
            let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
            assert!(error.starts_with(named), "{key} = {value}: {error}");
        }
        let figment = defaults()
            .merge(Serialized::default("expirer.lease_seconds", 6))
            .merge(Serialized::default("webhooks.lease_seconds", 11));
        Settings::from_figment(figment).unwrap();
    }

    #[test]
    fn a_log_filter_that_does_not_parse_names_its_key() {
        let figment = defaults().merge(Serialized::default("log.filter", "!!!=?"));
        let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
        assert!(error.starts_with("log.filter:"), "{error}");
        let figment = defaults().merge(Serialized::default("log.filter", "flashgate=debug,warn"));
        Settings::from_figment(figment).unwrap();
    }

    /// Bounds are printed as the setting is written: in the unit its key names.
    #[test]
    fn a_bound_prints_in_its_keys_unit() {
        for (key, value, message) in [
            (
                "inventory.hold_seconds",
                0,
                "inventory.hold_seconds: 0 is outside 1..=604800",
            ),
            (
                "http.request_timeout_ms",
                0,
                "http.request_timeout_ms: 0 is outside 1..=3600000",
            ),
            (
                "gate.max_wait_us",
                2_000_000,
                "gate.max_wait_us: 2000000 is outside 0..=1000000",
            ),
            ("expirer.batch", 0, "expirer.batch: 0 is outside 1..=100000"),
        ] {
            let figment = defaults().merge(Serialized::default(key, value));
            let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
            assert_eq!(error, message);
        }
    }

    #[test]
    fn an_unknown_strategy_names_its_key() {
        let figment = defaults().merge(Serialized::default("inventory.strategy", "optimistic"));
        let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
        assert!(error.contains("strategy"), "{error}");
    }

    #[test]
    fn development_secrets_are_refused_to_listen_off_loopback_only() {
        let figment = defaults().merge(Serialized::default("listen", "0.0.0.0:8080"));
        let settings = Settings::from_figment(figment).unwrap();
        let error = format!("{:#}", settings.check_listening().unwrap_err());
        assert!(error.contains("admin_token"), "{error}");
    }

    #[test]
    fn a_redis_url_names_one_node_or_several_of_one_scheme() {
        let with = |url: &str| {
            Settings::from_figment(defaults().merge(Serialized::default("redis_url", url)))
        };
        assert!(with("redis://127.0.0.1:7001").is_ok());
        assert!(with("redis://127.0.0.1:7001, redis://127.0.0.1:7002").is_ok());
        for bad in [
            "127.0.0.1:7001",
            "redis://127.0.0.1:7001,rediss://127.0.0.1:7002",
            "rediss://127.0.0.1:7001,127.0.0.1:7002",
        ] {
            let error = format!("{:#}", with(bad).unwrap_err());
            assert!(error.contains("redis_url"), "{bad}: {error}");
        }
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
    fn a_duration_past_its_ceiling_names_its_key() {
        let figment = defaults().merge(Serialized::default("inventory.hold_seconds", u64::MAX));
        let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
        assert!(error.contains("inventory.hold_seconds"), "{error}");
    }

    /// Every duration and size at its type's extreme is refused at start with its key named, never
    /// carried into arithmetic that could overflow.
    #[test]
    fn every_duration_and_size_at_its_extreme_names_its_key() {
        let keys = [
            "inventory.hold_seconds",
            "expirer.interval_ms",
            "expirer.lease_seconds",
            "expirer.batch",
            "http.body_limit_bytes",
            "http.request_timeout_ms",
            "http.shutdown_grace_ms",
            "redis.connect_timeout_ms",
            "redis.response_timeout_ms",
            "gate.max_wait_us",
            "gate.idempotency_ttl_seconds",
            "cache.l2_ttl_ms",
            "cache.l1_capacity",
            "limits.reads.period_ms",
            "limits.admin.burst",
            "limits.sessions.rate",
            "limits.customer_sessions.period_ms",
            "limits.penalty.ban_ms",
            "limits.admin_penalty.window_ms",
            "shedding.queue_budget_ms",
            "vnpay.api_timeout_ms",
            "vnpay.sim_ipn_retry_ms",
            "vnpay.sim_querydr_min_interval_ms",
            "callbacks.unverified_retention_seconds",
            "reconciler.first_poll_after_seconds",
            "reconciler.poll_interval_seconds",
            "payments.late_money_window_seconds",
            "payments.expiry_grace_seconds",
            "monitor.interval_ms",
            "auth.leeway_seconds",
            "auth.sessions.idle_timeout_seconds",
            "auth.sessions.max_lifetime_seconds",
            "webhooks.interval_ms",
            "webhooks.batch",
            "webhooks.lease_seconds",
            "webhooks.timeout_ms",
            "webhooks.max_response_bytes",
            "webhooks.previous_secret_seconds",
        ];
        for key in keys {
            let figment = defaults().merge(Serialized::default(key, u64::MAX));
            let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
            assert!(error.contains(key), "{key}: {error}");
        }
    }

    #[test]
    fn durations_are_read_from_their_unit_keys() {
        let figment = defaults().merge(Serialized::default("gate.max_wait_us", 1500));
        let settings = Settings::from_figment(figment).unwrap();
        assert_eq!(settings.gate.max_wait, Duration::from_micros(1500));
        assert_eq!(settings.inventory.hold, Duration::from_secs(900));
    }

    #[test]
    fn a_listen_value_that_is_no_address_names_its_key() {
        let figment = defaults().merge(Serialized::default("listen", "localhost"));
        let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
        assert!(error.contains("listen"), "{error}");
    }

    #[test]
    fn an_admin_token_that_is_the_jwt_secret_or_a_repeated_pattern_is_refused() {
        let same = "the-same-secret-for-both-0123456789abcdef";
        let figment = defaults()
            .merge(Serialized::default("admin_token", same))
            .merge(Serialized::default("jwt_secret", same));
        let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
        assert!(error.starts_with("admin_token and jwt_secret:"), "{error}");
        for weak in [
            "aaaaaaaaaaaaaaaaaaaa",
            "abababababababababab",
            "0000000000000000",
            "1234567123456712",
        ] {
            let figment = defaults().merge(Serialized::default("admin_token", weak));
            let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
            assert!(
                error.starts_with("admin_token: must hold at least 8"),
                "{weak}: {error}"
            );
        }
        let figment = defaults().merge(Serialized::default("admin_token", "12345678123456781234"));
        Settings::from_figment(figment).unwrap();
    }

    #[test]
    fn a_short_jwt_secret_is_refused() {
        let figment = defaults().merge(Serialized::default("jwt_secret", "short"));
        let error = format!("{:#}", Settings::from_figment(figment).unwrap_err());
        assert!(error.contains("jwt_secret"), "{error}");
    }
}
