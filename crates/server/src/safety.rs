//! What only a developer's machine may run with. Once the service is exposed (`Settings::exposure`:
//! a listen address that is not loopback, a trusted proxy in front, or a public URL beyond this
//! machine), flashgate refuses to start with a development secret (the committed defaults file's
//! admin token, JWT secret or VNPay hash secret: public, so anyone could sign with them) or with the
//! bundled simulator (its payment page marks any order paid), unless a staging demo says
//! `vnpay.simulator_public = true`, which is logged as a warning at every start. Nor does it fetch
//! the keys that vouch for buyers over plain http (`auth.jwks_url`), where anyone on the way could
//! swap them, unless the JWKS is on loopback too, nor let anyone start a session as any customer
//! (`auth.sessions.allow_bare_customer`). Each refusal names the setting, and what exposes the
//! service. Only the commands that listen check this (`Settings::check_listening`).

use crate::config::{DEFAULTS, Secret, Settings, loopback_host};
use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Format, Toml};

/// The settings whose committed default is a development secret.
const DEVELOPMENT_SECRETS: [&str; 3] = ["admin_token", "jwt_secret", "vnpay.hash_secret"];

/// Refuses an unsafe start of an exposed service, naming the setting and what exposes it.
pub fn check(settings: &Settings) -> anyhow::Result<()> {
    let Some(exposure) = settings.exposure() else {
        return Ok(());
    };
    let exposed = exposure.describe();
    if settings.auth.sessions.allow_bare_customer {
        bail!(
            "auth.sessions.allow_bare_customer: lets anyone act as any customer; only on a service reached from this machine alone ({exposed})"
        );
    }
    let defaults = Figment::from(Toml::string(DEFAULTS));
    for key in DEVELOPMENT_SECRETS {
        let development: Secret = defaults
            .extract_inner(key)
            .with_context(|| format!("the defaults file has no {key}"))?;
        if configured(settings, key) == Some(&development) {
            bail!(
                "{key}: the development value from the defaults file is public; set your own to serve beyond this machine ({exposed})"
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
            "auth.jwks_url: `{url}` is plain http, so anyone on the way could swap the keys that vouch for buyers; use https to serve beyond this machine ({exposed})"
        );
    }
    if settings.vnpay.uses_simulator() && !settings.vnpay.simulator_public {
        bail!(
            "vnpay.pay_url and vnpay.api_url: empty means the bundled VNPay simulator, whose payment page marks any order paid; \
             set VNPay's URLs to serve beyond this machine (or vnpay.simulator_public = true for a staging demo) ({exposed})"
        );
    }
    Ok(())
}

/// Whether fetching `url` keeps its answer from tampering: https, or a host on this machine.
fn https_or_loopback(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    url.scheme() == "https" || loopback_host(&url)
}

fn configured<'a>(settings: &'a Settings, key: &str) -> Option<&'a Secret> {
    match key {
        "admin_token" => Some(&settings.admin_token),
        "jwt_secret" => Some(&settings.jwt_secret),
        "vnpay.hash_secret" => Some(&settings.vnpay.hash_secret),
        _ => None,
    }
}

/// Says loudly, at every start, that the simulator is open to whoever reaches this service.
pub fn warn_if_simulator_public(settings: &Settings) {
    let exposed = settings.exposure().is_some();
    if settings.vnpay.uses_simulator() && settings.vnpay.simulator_public && exposed {
        tracing::warn!(
            setting = "vnpay.simulator_public",
            "the bundled VNPay simulator is public at /vnpay-sim: anyone can mark any order paid. For a staging demo only"
        );
    }
}

/// Says at every start that `/metrics` is open to whoever reaches the API of an exposed service.
pub fn warn_if_metrics_public(settings: &Settings) {
    let m = &settings.metrics;
    let exposed = settings.exposure().is_some();
    if exposed && m.listen_addr().is_none() && m.token.expose().is_empty() {
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
        assert_eq!(settings.exposure(), None);
        check(&settings).unwrap();
        assert!(settings.private_webhook_targets_allowed());
    }

    /// On loopback with the development defaults, then `overrides`.
    fn on_loopback(overrides: Figment) -> Settings {
        let figment = Figment::from(Toml::string(DEFAULTS)).merge(overrides);
        Settings::from_figment(figment).unwrap()
    }

    /// A proxy in front of a loopback address (nginx on :443 before 127.0.0.1:8080), or a public URL
    /// beyond this machine, exposes the service as an address off loopback does: the same refusals,
    /// naming what exposes it, and webhooks kept off internal addresses.
    #[test]
    fn a_trusted_proxy_or_a_public_url_exposes_a_loopback_service() {
        for (key, value, named) in [
            ("listen", serde_json::json!("0.0.0.0:8080"), "listen"),
            (
                "http.trusted_proxies",
                serde_json::json!(["127.0.0.1/32"]),
                "http.trusted_proxies",
            ),
            (
                "vnpay.public_url",
                serde_json::json!("https://shop.example"),
                "vnpay.public_url",
            ),
            (
                "vnpay.public_url",
                serde_json::json!("http://192.168.1.20:8080"),
                "vnpay.public_url",
            ),
        ] {
            let settings = on_loopback(Figment::new().merge(Serialized::default(key, &value)));
            assert!(settings.exposure().is_some(), "{key} = {value}");
            let error = format!("{:#}", check(&settings).unwrap_err());
            assert!(
                error.starts_with("admin_token: the development value"),
                "{key} = {value}: {error}"
            );
            assert!(error.contains(named), "{key} = {value}: {error}");
            assert!(
                !settings.private_webhook_targets_allowed(),
                "{key} = {value}"
            );
            // The other development-only settings are refused alike.
            let bare = on_loopback(
                Figment::new()
                    .merge(Serialized::default(key, &value))
                    .merge(Serialized::default(
                        "auth.sessions.allow_bare_customer",
                        true,
                    )),
            );
            let error = format!("{:#}", check(&bare).unwrap_err());
            assert!(
                error.starts_with("auth.sessions.allow_bare_customer:") && error.contains(named),
                "{error}"
            );
        }
        // Development keeps working: a public URL on this machine exposes nothing.
        for url in [
            "http://127.0.0.1:8080",
            "http://localhost:8080/",
            "http://[::1]:8080",
        ] {
            let settings =
                on_loopback(Figment::new().merge(Serialized::default("vnpay.public_url", url)));
            assert_eq!(settings.exposure(), None, "{url}");
            check(&settings).unwrap();
        }
        // An explicit webhooks.allow_private_targets still wins.
        let allowed = on_loopback(
            Figment::new()
                .merge(Serialized::default(
                    "http.trusted_proxies",
                    ["127.0.0.1/32"],
                ))
                .merge(Serialized::default("webhooks.allow_private_targets", true)),
        );
        assert!(allowed.private_webhook_targets_allowed());
    }

    /// With secrets of its own and a real gateway, a service behind a proxy starts.
    #[test]
    fn a_proxied_service_with_its_own_secrets_starts() {
        let proxied = Figment::new()
            .merge(Serialized::default("listen", "127.0.0.1:8080"))
            .merge(Serialized::default(
                "http.trusted_proxies",
                ["127.0.0.1/32"],
            ))
            .merge(Serialized::default(
                "vnpay.public_url",
                "https://shop.example",
            ));
        let settings = public(proxied).unwrap();
        assert_eq!(
            settings.exposure(),
            Some(crate::config::Exposure::TrustedProxies)
        );
        let simulator = simulator()
            .merge(Serialized::default("listen", "127.0.0.1:8080"))
            .merge(Serialized::default(
                "vnpay.public_url",
                "https://shop.example",
            ));
        let error = format!("{:#}", public(simulator).unwrap_err());
        assert!(
            error.starts_with("vnpay.pay_url") && error.contains("vnpay.public_url"),
            "{error}"
        );
    }
}
