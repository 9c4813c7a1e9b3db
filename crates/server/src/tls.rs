//! TLS to what flashgate calls: VNPay's API (`https://`), PostgreSQL (`sslmode=require`, `verify-ca`
//! or `verify-full` in `database_url`), Redis (`rediss://`), webhook endpoints and the shop's JWKS.
//! All speak rustls with one crypto provider. Each may trust a private CA from a PEM file
//! (`vnpay.root_ca_file`, `database.root_ca_file`, `redis.root_ca_file`, `webhooks.root_ca_file`,
//! `auth.jwks_root_ca_file`), checked here at start so a typo is named before anything connects.

use crate::config::Settings;
use anyhow::{Context, bail};
use std::path::PathBuf;

/// Checks each root CA setting: a readable file, for a connection that can use it.
pub fn validate(settings: &Settings) -> anyhow::Result<()> {
    root_ca("vnpay.root_ca_file", &settings.vnpay.root_ca_file)?;
    root_ca("auth.jwks_root_ca_file", &settings.auth.jwks_root_ca_file)?;
    if let Some(path) = root_ca_path(&settings.database.root_ca_file) {
        readable("database.root_ca_file", &path)?;
        if !settings.database_url.as_str().starts_with("postgres") {
            bail!("database.root_ca_file: only for a postgres:// database_url");
        }
        if settings.database_url.as_str().contains("sslrootcert=") {
            bail!(
                "database.root_ca_file: database_url already names one with sslrootcert; keep one of the two"
            );
        }
    }
    if let Some(path) = root_ca_path(&settings.redis.root_ca_file) {
        readable("redis.root_ca_file", &path)?;
        if !settings
            .redis_url()
            .is_some_and(|url| url.starts_with("rediss://"))
        {
            bail!("redis.root_ca_file: only for a rediss:// redis_url");
        }
    }
    Ok(())
}

/// The file a root CA setting names; `None` when it is empty.
pub fn root_ca_path(setting: &str) -> Option<PathBuf> {
    let setting = setting.trim();
    (!setting.is_empty()).then(|| PathBuf::from(setting))
}

/// The PEM a root CA setting names, read now; `None` when it is empty.
pub fn root_ca(key: &str, setting: &str) -> anyhow::Result<Option<Vec<u8>>> {
    root_ca_path(setting)
        .map(|path| readable(key, &path))
        .transpose()
}

/// `builder` trusting, besides the system's roots, the PEM CA certificates the setting `key` names
/// (`setting` is its value; empty: none).
pub fn trusting_root_ca(
    builder: reqwest::ClientBuilder,
    key: &str,
    setting: &str,
) -> anyhow::Result<reqwest::ClientBuilder> {
    let Some(pem) = root_ca(key, setting)? else {
        return Ok(builder);
    };
    let certs =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
    Ok(builder.tls_certs_merge(certs))
}

fn readable(key: &str, path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{key}: cannot read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use crate::config::{DEFAULTS, Settings};
    use figment::Figment;
    use figment::providers::{Format, Serialized, Toml};

    fn with(pairs: &[(&str, &str)]) -> String {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        for (key, value) in pairs {
            figment = figment.merge(Serialized::default(key, value));
        }
        Settings::from_figment(figment)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default()
    }

    #[test]
    fn a_missing_root_ca_file_is_named() {
        for key in [
            "vnpay.root_ca_file",
            "database.root_ca_file",
            "redis.root_ca_file",
            "auth.jwks_root_ca_file",
        ] {
            let error = with(&[(key, "/nonexistent/ca.pem")]);
            assert!(error.starts_with(key), "{key}: {error}");
        }
    }

    #[test]
    fn a_root_ca_needs_a_connection_that_can_use_it() {
        let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let error = with(&[("database.root_ca_file", ca)]);
        assert!(error.contains("postgres://"), "{error}");
        let error = with(&[
            ("database.root_ca_file", ca),
            (
                "database_url",
                "postgres://db.example/shop?sslmode=verify-full&sslrootcert=/ca.pem",
            ),
        ]);
        assert!(error.contains("sslrootcert"), "{error}");
        let error = with(&[
            ("redis.root_ca_file", ca),
            ("redis_url", "redis://127.0.0.1:6379"),
        ]);
        assert!(error.contains("rediss://"), "{error}");
        let fine = with(&[
            ("redis.root_ca_file", ca),
            ("redis_url", "rediss://127.0.0.1:6380"),
        ]);
        assert_eq!(fine, "");
    }
}
