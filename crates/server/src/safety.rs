//! What only a developer's machine may run with. Off a loopback address, flashgate refuses to start
//! with a development secret (the committed defaults file's admin token, JWT secret or VNPay hash
//! secret: public, so anyone could sign with them) or with the bundled simulator (its payment page
//! marks any order paid), unless a staging demo says `vnpay.simulator_public = true`, which is logged
//! as a warning at every start. Nor does it fetch the keys that vouch for buyers over plain http
//! (`auth.jwks_url`), where anyone on the way could swap them, unless the JWKS is on loopback too,
//! nor let anyone start a session as any customer (`auth.sessions.allow_bare_customer`). Only the
//! commands that listen check this (`Settings::check_listening`).

use crate::config::{DEFAULTS, Secret, Settings};
use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Format, Toml};

/// The settings whose committed default is a development secret.
const DEVELOPMENT_SECRETS: [&str; 3] = ["admin_token", "jwt_secret", "vnpay.hash_secret"];

/// Refuses an unsafe start off loopback, naming the setting.
pub fn check(settings: &Settings, on_loopback: bool) -> anyhow::Result<()> {
    if on_loopback {
        return Ok(());
    }
    if settings.auth.sessions.allow_bare_customer {
        bail!(
            "auth.sessions.allow_bare_customer: lets anyone act as any customer; only on a loopback address"
        );
    }
    let defaults = Figment::from(Toml::string(DEFAULTS));
    for key in DEVELOPMENT_SECRETS {
        let development: Secret = defaults
            .extract_inner(key)
            .with_context(|| format!("the defaults file has no {key}"))?;
        if configured(settings, key) == Some(&development) {
            bail!(
                "{key}: the development value from the defaults file is public; set your own to listen off loopback"
            );
        }
    }
    if let Some(url) = settings
        .auth
        .jwks_url
        .iter()
        .find(|url| !https_or_loopback(url))
    {
        bail!(
            "auth.jwks_url: `{url}` is plain http, so anyone on the way could swap the keys that vouch for buyers; use https to listen off loopback"
        );
    }
    if settings.vnpay.uses_simulator() && !settings.vnpay.simulator_public {
        bail!(
            "vnpay.pay_url and vnpay.api_url: empty means the bundled VNPay simulator, whose payment page marks any order paid; \
             set VNPay's URLs to listen off loopback (or vnpay.simulator_public = true for a staging demo)"
        );
    }
    Ok(())
}

/// Whether fetching `url` keeps its answer from tampering: https, or a host on this machine.
fn https_or_loopback(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    url.scheme() == "https"
        || url.host_str().is_some_and(|host| {
            host.eq_ignore_ascii_case("localhost")
                || host
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
}

fn configured<'a>(settings: &'a Settings, key: &str) -> Option<&'a Secret> {
    match key {
        "admin_token" => Some(&settings.admin_token),
        "jwt_secret" => Some(&settings.jwt_secret),
        "vnpay.hash_secret" => Some(&settings.vnpay.hash_secret),
        _ => None,
    }
}

/// Says loudly, at every start, that the simulator is open to whoever reaches this address.
pub fn warn_if_simulator_public(settings: &Settings, on_loopback: bool) {
    if settings.vnpay.uses_simulator() && settings.vnpay.simulator_public && !on_loopback {
        tracing::warn!(
            setting = "vnpay.simulator_public",
            "the bundled VNPay simulator is public at /vnpay-sim: anyone can mark any order paid. For a staging demo only"
        );
    }
}

/// Says at every start that `/metrics` is open to whoever reaches the API off loopback.
pub fn warn_if_metrics_public(settings: &Settings, on_loopback: bool) {
    let m = &settings.metrics;
    if !on_loopback && m.listen_addr().is_none() && m.token.expose().is_empty() {
        tracing::warn!(
            setting = "metrics.listen",
            "/metrics is served to anyone who reaches the API: set metrics.listen to an internal address, or metrics.token"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    /// Off loopback with secrets of our own and a real gateway, then `overrides`.
    fn public(overrides: Figment) -> anyhow::Result<Settings> {
        let figment = Figment::from(Toml::string(DEFAULTS))
            .merge(Serialized::default("listen", "0.0.0.0:8080"))
            .merge(Serialized::default(
                "admin_token",
                "an-admin-token-of-our-own",
            ))
            .merge(Serialized::default(
                "jwt_secret",
                "a-jwt-secret-of-our-own-0123456789abcdef",
            ))
            .merge(Serialized::default(
                "vnpay.hash_secret",
                "a-vnpay-secret-of-our-own",
            ))
            .merge(Serialized::default(
                "vnpay.pay_url",
                "https://pay.example/vpcpay.html",
            ))
            .merge(Serialized::default(
                "vnpay.api_url",
                "https://api.example/transaction",
            ))
            .merge(overrides);
        let settings = Settings::from_figment(figment)?;
        settings.check_listening()?;
        Ok(settings)
    }

    fn simulator() -> Figment {
        Figment::new()
            .merge(Serialized::default("vnpay.pay_url", ""))
            .merge(Serialized::default("vnpay.api_url", ""))
    }

    #[test]
    fn own_secrets_and_a_real_gateway_may_listen_anywhere() {
        public(Figment::new()).unwrap();
    }

    #[test]
    fn each_development_secret_is_refused_by_name() {
        let defaults = Figment::from(Toml::string(DEFAULTS));
        for key in DEVELOPMENT_SECRETS {
            let development: Secret = defaults.extract_inner(key).unwrap();
            let overrides = Figment::new().merge(Serialized::default(key, development.expose()));
            let error = format!("{:#}", public(overrides).unwrap_err());
            assert!(error.starts_with(&format!("{key}:")), "{error}");
        }
    }

    #[test]
    fn the_simulator_is_refused_unless_declared_public() {
        let error = format!("{:#}", public(simulator()).unwrap_err());
        assert!(error.starts_with("vnpay.pay_url"), "{error}");
        let declared = simulator().merge(Serialized::default("vnpay.simulator_public", true));
        assert!(public(declared).unwrap().vnpay.uses_simulator());
    }

    #[test]
    fn plain_http_jwks_is_refused_off_loopback_unless_the_jwks_is_local() {
        let jwks = |url: &str| Figment::new().merge(Serialized::default("auth.jwks_url", url));
        let error = format!(
            "{:#}",
            public(jwks("http://shop.example/jwks.json")).unwrap_err()
        );
        assert!(error.starts_with("auth.jwks_url:"), "{error}");
        let list = Figment::new().merge(Serialized::default(
            "auth.jwks_url",
            [
                "https://shop.example/jwks.json",
                "http://10.0.0.7/jwks.json",
            ],
        ));
        assert!(public(list).is_err());
        public(jwks("https://shop.example/jwks.json")).unwrap();
        public(jwks("http://127.0.0.1:8081/jwks.json")).unwrap();
        public(jwks("http://localhost:8081/jwks.json")).unwrap();
    }

    #[test]
    fn loopback_keeps_the_embedded_defaults() {
        let settings = Settings::from_figment(Figment::from(Toml::string(DEFAULTS))).unwrap();
        check(&settings, true).unwrap();
        assert!(check(&settings, false).is_err());
    }
}
