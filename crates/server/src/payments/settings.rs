//! The `[vnpay]` settings (the gateway: terminal, secret, URLs, TLS, the bundled simulator) and the
//! `[payments]` settings: how long money may still arrive after a hold ended, how long the expirer
//! waits past the payment link's `vnp_ExpireDate` before it asks the gateway, and how many refusals
//! of a refund the refunder takes before it hands the order to an operator.

use crate::config::{Secret, http_url, within};
use anyhow::{bail, ensure};
use serde::Deserialize;
use serde_with::{DurationMilliSeconds, DurationSeconds, serde_as};
use std::time::Duration;

#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VnpaySettings {
    pub tmn_code: String,
    pub hash_secret: Secret,
    pub pay_url: String,
    pub api_url: String,
    pub public_url: String,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "api_timeout_ms")]
    pub api_timeout: Duration,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "sim_ipn_retry_ms")]
    pub sim_ipn_retry: Duration,
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    #[serde(rename = "sim_querydr_min_interval_ms")]
    pub sim_querydr_min_interval: Duration,
    /// Off loopback, the bundled simulator only with this said out loud (a staging demo).
    pub simulator_public: bool,
    /// PEM CA certificates trusted for the API besides the system's roots; empty: none.
    pub root_ca_file: String,
    /// `vnp_IpAddr` of querydr and refund: this server's IP as the gateway sees it (spec §5.1).
    /// Empty: the `listen` address when it is a specific one (see `app::server_ip`).
    pub server_ip: String,
}

impl VnpaySettings {
    /// Whether the bundled simulator stands in for the gateway.
    pub fn uses_simulator(&self) -> bool {
        self.pay_url.is_empty()
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        // vnp_TmnCode is Alnum[8] (spec §2.1), as VNPay issues it; `vnpay::TmnCode` also takes the
        // longer codes of test fixtures.
        ensure!(
            self.tmn_code.len() == 8 && self.tmn_code.bytes().all(|b| b.is_ascii_alphanumeric()),
            "vnpay.tmn_code: must be the terminal code VNPay issued, 8 letters or digits"
        );
        if self.hash_secret.expose().trim().is_empty() {
            bail!("vnpay.hash_secret: must not be empty");
        }
        if self.pay_url.is_empty() != self.api_url.is_empty() {
            bail!(
                "vnpay.api_url: set both vnpay.pay_url and vnpay.api_url, or neither (the simulator)"
            );
        }
        if !self.uses_simulator() {
            http_url("vnpay.pay_url", &self.pay_url)?;
            http_url("vnpay.api_url", &self.api_url)?;
        }
        if !self.server_ip.is_empty() {
            match self.server_ip.parse::<std::net::IpAddr>() {
                Ok(ip) if !ip.is_unspecified() => {}
                _ => bail!(
                    "vnpay.server_ip: must be an IPv4 or IPv6 address of this server, as the gateway sees it (not {:?})",
                    self.server_ip
                ),
            }
        }
        if !self.public_url.is_empty() {
            http_url("vnpay.public_url", &self.public_url)?;
            return_url(&self.public_url).map_err(|e| anyhow::anyhow!("vnpay.public_url: {e}"))?;
        }
        let (ms, day) = (Duration::from_millis(1), Duration::from_secs(24 * 3600));
        within(
            "vnpay.api_timeout_ms",
            self.api_timeout,
            ms,
            Duration::from_secs(600),
        )?;
        within("vnpay.sim_ipn_retry_ms", self.sim_ipn_retry, ms, day)?;
        within(
            "vnpay.sim_querydr_min_interval_ms",
            self.sim_querydr_min_interval,
            Duration::ZERO,
            day,
        )
    }
}

/// The Return URL VNPay sends buyers back to, on `base`: the public URL, or where this instance
/// listens.
pub fn return_url(base: &str) -> Result<vnpay::ReturnUrl, vnpay::InvalidField> {
    vnpay::ReturnUrl::parse(format!(
        "{}/payments/vnpay/return",
        base.trim_end_matches('/')
    ))
}

/// VNPay calls the IPN URL at most 10 times, 5 minutes apart (spec §4.4): a payment completed at the
/// edge of a hold whose every IPN was lost shows up at the latest this long after it.
const IPN_RETRY_SPAN: Duration = Duration::from_secs(10 * 5 * 60);

#[serde_as]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSettings {
    /// How long after a hold ended the reconciler keeps asking about expired and failed orders.
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "late_money_window_seconds")]
    pub late_money_window: Duration,
    /// How long past `vnp_ExpireDate` the expirer waits before it asks the gateway.
    #[serde_as(as = "DurationSeconds<u64>")]
    #[serde(rename = "expiry_grace_seconds")]
    pub expiry_grace: Duration,
    /// Refusals of one order's refund after which it waits in `refund_failed` for an operator.
    pub refund_max_refusals: u32,
}

impl PaymentSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        // The floor covers VNPay's IPN retries (10 calls, 5 minutes apart).
        within(
            "payments.late_money_window_seconds",
            self.late_money_window,
            IPN_RETRY_SPAN,
            Duration::from_secs(90 * 24 * 3600),
        )?;
        within(
            "payments.expiry_grace_seconds",
            self.expiry_grace,
            Duration::ZERO,
            Duration::from_secs(3_600),
        )?;
        within(
            "payments.refund_max_refusals",
            self.refund_max_refusals,
            1,
            100,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULTS, Settings};
    use figment::Figment;
    use figment::providers::{Format, Serialized, Toml};

    /// The defaults with `pairs`: the settings, or the refusal's text.
    fn with(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        for (key, value) in pairs {
            figment = figment.merge(Serialized::default(key, value));
        }
        Settings::from_figment(figment).map_err(|e| format!("{e:#}"))
    }

    const PAY: &str = "https://sandbox.vnpayment.vn/paymentv2/vpcpay.html";
    const API: &str = "https://sandbox.vnpayment.vn/merchant_webapi/api/transaction";

    #[test]
    fn the_gateways_urls_are_http_urls_with_a_host() {
        with(&[("vnpay.pay_url", PAY), ("vnpay.api_url", API)]).unwrap();
        with(&[("vnpay.public_url", "https://shop.example/")]).unwrap();
        let long = format!("https://shop.example/{}", "a".repeat(240));
        for (key, value) in [
            ("vnpay.pay_url", "garbage"),
            ("vnpay.pay_url", "ftp://pay.example/vpcpay.html"),
            ("vnpay.api_url", "garbage2"),
            ("vnpay.api_url", "https://"),
            ("vnpay.public_url", "httpgarbage"),
            ("vnpay.public_url", "http://"),
            // The Return URL built on it would be past VNPay's 255 characters.
            ("vnpay.public_url", long.as_str()),
        ] {
            let mut pairs = vec![("vnpay.pay_url", PAY), ("vnpay.api_url", API)];
            pairs.push((key, value));
            let error = with(&pairs).unwrap_err();
            assert!(
                error.starts_with(&format!("{key}:")),
                "{key} = {value}: {error}"
            );
        }
    }

    #[test]
    fn the_server_ip_is_empty_or_a_specific_address() {
        for ip in ["", "203.0.113.10", "10.0.0.5", "2001:db8::10", "::1"] {
            with(&[("vnpay.server_ip", ip)]).unwrap();
        }
        for ip in ["0.0.0.0", "::", "localhost", "10.0.0.5:8080", "1.2.3"] {
            let error = with(&[("vnpay.server_ip", ip)]).unwrap_err();
            assert!(error.starts_with("vnpay.server_ip:"), "{ip}: {error}");
        }
    }

    #[test]
    fn the_terminal_code_is_eight_letters_or_digits() {
        for code in ["FLASHGT1", "E32QASX8", "2QXUI4J4", "01234567", "demov210"] {
            with(&[("vnpay.tmn_code", code)]).unwrap();
        }
        for code in ["abc", "TEST_TMN_CODE", "FLASHGT-", "FLASHGT12", ""] {
            let error = with(&[("vnpay.tmn_code", code)]).unwrap_err();
            assert!(
                error.starts_with("vnpay.tmn_code:") && error.contains("8 letters or digits"),
                "{code}: {error}"
            );
        }
    }

    #[test]
    fn a_window_shorter_than_the_ipn_retries_is_refused() {
        let short = PaymentSettings {
            late_money_window: Duration::from_secs(2_999),
            expiry_grace: Duration::from_secs(60),
            refund_max_refusals: 5,
        };
        let error = short.validate().unwrap_err().to_string();
        assert!(
            error.contains("payments.late_money_window_seconds"),
            "{error}"
        );
        let enough = PaymentSettings {
            late_money_window: IPN_RETRY_SPAN,
            ..short
        };
        assert!(enough.validate().is_ok());
    }
}
