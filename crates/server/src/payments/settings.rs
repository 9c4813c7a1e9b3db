//! The `[payments]` settings: how long money may still arrive after a hold ended, and how long the
//! expirer waits past the payment link's `vnp_ExpireDate` before it asks the gateway.

use anyhow::bail;
use serde::Deserialize;
use time::Duration;

/// VNPay calls the IPN URL at most 10 times, 5 minutes apart (spec §4.4): a payment completed at the
/// edge of a hold whose every IPN was lost shows up at the latest this long after it.
const IPN_RETRY_SPAN_SECONDS: u64 = 10 * 5 * 60;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSettings {
    /// How long after a hold ended the reconciler keeps asking about expired and failed orders.
    pub late_money_window_seconds: u64,
    /// How long past `vnp_ExpireDate` the expirer waits before it asks the gateway.
    pub expiry_grace_seconds: u64,
}

impl PaymentSettings {
    pub fn late_money_window(&self) -> Duration {
        seconds(self.late_money_window_seconds)
    }

    pub fn expiry_grace(&self) -> Duration {
        seconds(self.expiry_grace_seconds)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.late_money_window_seconds < IPN_RETRY_SPAN_SECONDS {
            bail!(
                "payments.late_money_window_seconds: must cover VNPay's IPN retries (10 calls, 5 minutes apart): at least {IPN_RETRY_SPAN_SECONDS}"
            );
        }
        if self.expiry_grace_seconds > 3_600 {
            bail!("payments.expiry_grace_seconds: must be at most 3600");
        }
        Ok(())
    }
}

fn seconds(value: u64) -> Duration {
    Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_shorter_than_the_ipn_retries_is_refused() {
        let short = PaymentSettings {
            late_money_window_seconds: 2_999,
            expiry_grace_seconds: 60,
        };
        assert!(short.validate().is_err());
        let enough = PaymentSettings {
            late_money_window_seconds: 3_000,
            ..short
        };
        assert!(enough.validate().is_ok());
    }
}
