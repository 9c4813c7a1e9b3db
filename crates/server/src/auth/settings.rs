//! The `[auth]` settings: which credentials buyers may use, the public keys their tokens may be
//! signed with (configured, or fetched from the shop's JWKS), the clock-skew tolerance and the
//! sessions' timeouts.

use crate::config::{http_url, within};
use anyhow::{bail, ensure};
use serde::{Deserialize, Deserializer};
use serde_with::{DurationMilliSeconds, DurationSeconds, serde_as};
use std::collections::HashSet;
use std::time::Duration;

const DAY: u64 = 24 * 3600;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BuyerCredentials {
    Tokens,
    Sessions,
    Both,
}

impl BuyerCredentials {
    pub fn allows_tokens(self) -> bool {
        matches!(self, Self::Tokens | Self::Both)
    }

    pub fn allows_sessions(self) -> bool {
        matches!(self, Self::Sessions | Self::Both)
    }
}

/// The asymmetric algorithms a configured key may verify.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum KeyAlgorithm {
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeySettings {
    pub kid: String,
    pub alg: KeyAlgorithm,
    pub public_key_pem: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    pub idle_timeout_seconds: u64,
    pub max_lifetime_seconds: u64,
    /// Whether a session may live past the `exp` of the token that started it.
    pub outlive_token: bool,
    pub allow_bare_customer: bool,
    /// With `redis_url` set: copies on Redis answer lookups in front of the database.
    pub redis_copies: bool,
}

#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub buyers: BuyerCredentials,
    pub leeway_seconds: u64,
    /// The `iss` every token must carry; empty: not checked.
    pub issuer: String,
    /// The `aud` every token must carry; empty: not checked.
    pub audience: String,
    #[serde(default)]
    pub keys: Vec<PublicKeySettings>,
    /// The shop's JWKS documents (one URL or a list); empty: none.
    #[serde(default, deserialize_with = "one_or_many")]
    pub jwks_url: Vec<String>,
    /// PEM CA certificates trusted for the JWKS URLs besides the system's roots; empty: none.
    #[serde(default)]
    pub jwks_root_ca_file: String,
    /// The least time between two fetches asked for by tokens naming an unknown kid; also the
    /// shortest a JWKS answer is kept, whatever its Cache-Control says.
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "jwks_min_refresh_seconds")]
    pub jwks_min_refresh: Duration,
    /// How long a JWKS answer is kept when it says nothing (no Cache-Control max-age).
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "jwks_max_age_seconds")]
    pub jwks_max_age: Duration,
    /// How long one JWKS fetch may take, connection included; also the longest the start waits.
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "jwks_timeout_ms")]
    pub jwks_timeout: Duration,
    pub sessions: SessionSettings,
}

/// `jwks_url = "https://…"` or `jwks_url = ["https://…", …]`; blank entries are dropped.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let urls = match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(url) => vec![url],
        OneOrMany::Many(urls) => urls,
    };
    Ok(urls
        .into_iter()
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
        .collect())
}

/// The longest a JWKS answer is kept, whatever its Cache-Control says: a removed key is refused a
/// day later at the latest.
pub const JWKS_MAX_AGE_CEILING: Duration = Duration::from_secs(DAY);

impl AuthSettings {
    /// Fails at start, naming the key, on what types alone cannot catch (a key that does not parse
    /// among them). The demo's bare customer ids are refused off a loopback address by `safety`.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut kids = HashSet::new();
        for key in &self.keys {
            ensure!(!key.kid.is_empty(), "auth.keys: a kid must not be empty");
            ensure!(
                kids.insert(key.kid.as_str()),
                "auth.keys: kid `{}` appears twice",
                key.kid
            );
            super::tokens::decoding_key(key)?;
        }
        within("auth.leeway_seconds", self.leeway_seconds, 0, 3_600)?;
        for url in &self.jwks_url {
            http_url("auth.jwks_url", url)?;
        }
        within(
            "auth.jwks_min_refresh_seconds",
            self.jwks_min_refresh,
            Duration::from_secs(1),
            Duration::from_secs(3_600),
        )?;
        within(
            "auth.jwks_max_age_seconds",
            self.jwks_max_age,
            self.jwks_min_refresh,
            JWKS_MAX_AGE_CEILING,
        )?;
        within(
            "auth.jwks_timeout_ms",
            self.jwks_timeout,
            Duration::from_millis(1),
            Duration::from_secs(60),
        )?;
        if crate::tls::root_ca_path(&self.jwks_root_ca_file).is_some() && self.jwks_url.is_empty() {
            bail!("auth.jwks_root_ca_file: only with auth.jwks_url");
        }
        let s = &self.sessions;
        within(
            "auth.sessions.idle_timeout_seconds",
            s.idle_timeout_seconds,
            1,
            30 * DAY,
        )?;
        within(
            "auth.sessions.max_lifetime_seconds",
            s.max_lifetime_seconds,
            s.idle_timeout_seconds,
            90 * DAY,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{DEFAULTS, Settings};
    use figment::Figment;
    use figment::providers::{Format, Serialized, Toml};
    use serde_json::json;

    fn refusal(key: &str, value: serde_json::Value) -> String {
        let figment = Figment::from(Toml::string(DEFAULTS)).merge(Serialized::default(key, value));
        format!("{:#}", Settings::from_figment(figment).unwrap_err())
    }

    #[test]
    fn buyers_may_use_both_kinds_by_default() {
        let settings = Settings::from_figment(Figment::from(Toml::string(DEFAULTS))).unwrap();
        assert!(settings.auth.buyers.allows_tokens() && settings.auth.buyers.allows_sessions());
        assert!(settings.auth.keys.is_empty());
    }

    #[test]
    fn a_key_that_is_not_a_public_key_names_its_kid() {
        let keys = json!([{"kid": "shop-1", "alg": "RS256", "public_key_pem": "not a key"}]);
        let error = refusal("auth.keys", keys);
        assert!(error.contains("shop-1"), "{error}");
    }

    #[test]
    fn a_kid_configured_twice_is_refused() {
        let pem = include_str!("../../tests/it/sessions/keys/ed-a.pub");
        let key = json!({"kid": "twice", "alg": "EdDSA", "public_key_pem": pem});
        let error = refusal("auth.keys", json!([key, key]));
        assert!(error.contains("twice"), "{error}");
    }

    #[test]
    fn an_unknown_algorithm_is_refused() {
        let keys = json!([{"kid": "k", "alg": "HS256", "public_key_pem": "x"}]);
        let error = refusal("auth.keys", keys);
        assert!(error.contains("alg") || error.contains("HS256"), "{error}");
    }

    fn with(key: &str, value: serde_json::Value) -> Settings {
        Settings::from_figment(
            Figment::from(Toml::string(DEFAULTS)).merge(Serialized::default(key, value)),
        )
        .unwrap()
    }

    #[test]
    fn jwks_url_is_one_url_or_a_list() {
        assert!(with("auth.jwks_url", json!("")).auth.jwks_url.is_empty());
        let one = with("auth.jwks_url", json!(" https://shop.example/jwks.json "));
        assert_eq!(one.auth.jwks_url, ["https://shop.example/jwks.json"]);
        let urls = json!(["https://a.example/jwks.json", "https://b.example/jwks.json"]);
        assert_eq!(with("auth.jwks_url", urls).auth.jwks_url.len(), 2);
        let error = refusal("auth.jwks_url", json!("ftp://shop.example/jwks.json"));
        assert!(error.starts_with("auth.jwks_url"), "{error}");
        let error = refusal("auth.jwks_url", json!("not a url"));
        assert!(error.starts_with("auth.jwks_url"), "{error}");
    }

    #[test]
    fn jwks_intervals_and_a_ca_without_a_url_name_their_keys() {
        for key in [
            "auth.jwks_min_refresh_seconds",
            "auth.jwks_max_age_seconds",
            "auth.jwks_timeout_ms",
        ] {
            let error = refusal(key, json!(0));
            assert!(error.starts_with(key), "{error}");
        }
        let error = refusal("auth.jwks_max_age_seconds", json!(2));
        assert!(error.contains("auth.jwks_max_age_seconds"), "{error}");
        let error = refusal("auth.jwks_root_ca_file", json!("/etc/ssl/ca.pem"));
        assert!(error.starts_with("auth.jwks_root_ca_file"), "{error}");
    }

    #[test]
    fn an_es256_key_is_read_from_its_pem() {
        let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\nq9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n-----END PUBLIC KEY-----\n";
        let keys = json!([{"kid": "ec", "alg": "ES256", "public_key_pem": pem}]);
        assert_eq!(with("auth.keys", keys).auth.keys.len(), 1);
    }

    #[test]
    fn a_lifetime_shorter_than_the_idle_timeout_is_refused() {
        let error = refusal("auth.sessions.max_lifetime_seconds", json!(60));
        assert!(
            error.contains("auth.sessions.max_lifetime_seconds"),
            "{error}"
        );
    }

    #[test]
    fn extreme_lifetimes_and_leeways_name_their_keys() {
        for key in [
            "auth.leeway_seconds",
            "auth.sessions.idle_timeout_seconds",
            "auth.sessions.max_lifetime_seconds",
        ] {
            let error = refusal(key, json!(u64::MAX));
            assert!(error.contains(key), "{error}");
        }
    }

    #[test]
    fn bare_customer_ids_are_refused_off_loopback() {
        let figment = Figment::from(Toml::string(DEFAULTS))
            .merge(Serialized::default("listen", "0.0.0.0:8080"))
            .merge(Serialized::default(
                "admin_token",
                "a-real-admin-token-0123",
            ))
            .merge(Serialized::default(
                "jwt_secret",
                "a-real-jwt-secret-0123456789abcdefgh",
            ))
            .merge(Serialized::default(
                "auth.sessions.allow_bare_customer",
                true,
            ));
        let settings = Settings::from_figment(figment).unwrap();
        let error = format!("{:#}", settings.check_listening().unwrap_err());
        assert!(error.contains("allow_bare_customer"), "{error}");
    }
}
