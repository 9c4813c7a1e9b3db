//! The `[vnpay]` settings (the gateway: terminal, secret, URLs, TLS, the bundled simulator) and the
//! `[payments]` settings: how long money may still arrive after a hold ended, how long the expirer
//! waits past the payment link's `vnp_ExpireDate` before it asks the gateway, and how many refusals
//! of a refund the refunder takes before it hands the order to an operator.

use crate::config::{Secret, within};
use anyhow::bail;
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
}

impl VnpaySettings {
    /// Whether the bundled simulator stands in for the gateway.
    pub fn uses_simulator(&self) -> bool {
        self.pay_url.is_empty()
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if vnpay::TmnCode::parse(&self.tmn_code).is_err() {
            bail!("vnpay.tmn_code: must be VNPay's 8-character terminal code");
        }
        if self.hash_secret.expose().trim().is_empty() {
            bail!("vnpay.hash_secret: must not be empty");
        }
        if self.pay_url.is_empty() != self.api_url.is_empty() {
            bail!(
                "vnpay.api_url: set both vnpay.pay_url and vnpay.api_url, or neither (the simulator)"
            );
        }
        if !self.public_url.is_empty() && !self.public_url.starts_with("http") {
            bail!("vnpay.public_url: must be an http(s) URL");
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
