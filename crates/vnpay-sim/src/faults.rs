//! Fault injection: what can go wrong between the gateway and the merchant, switchable at run time.

use serde::{Deserialize, Serialize};

/// How the querydr/refund endpoint fails when an outage is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiOutage {
    /// Answer HTTP 503.
    Http503,
    /// Start a 200 reply, then cut the connection before any body byte.
    ConnectionReset,
}

/// The faults in force. Every field defaults to "no fault"; `GET/PUT /sim/faults` reads and
/// replaces the whole set as JSON.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Fraction of IPNs never sent at all (0.0..=1.0), drawn from the seeded RNG.
    pub ipn_drop_rate: f64,
    /// Fraction of IPNs delivered twice: a second, independent delivery of the same query.
    pub ipn_duplicate_rate: f64,
    /// Delay before the first call of every IPN, in milliseconds.
    pub ipn_delay_ms: u64,
    /// Out-of-order delivery: IPNs are held back until this many are waiting, then released
    /// newest first. 0 or 1 turns it off.
    pub ipn_reorder_window: usize,
    /// Longest time an IPN is held back for reordering, in milliseconds (then it is released
    /// with whatever is waiting). 0 means 1,000 ms.
    pub ipn_reorder_max_hold_ms: u64,
    /// The next this-many IPN calls fail as if the network were down (no call is made); each
    /// counts as an attempt and is retried.
    pub ipn_fail_first: u32,
    /// Delay before the querydr/refund endpoint answers, in milliseconds.
    pub api_delay_ms: u64,
    /// Make the querydr/refund endpoint unavailable.
    pub api_outage: Option<ApiOutage>,
    /// TxnRefs whose querydr is always answered `99` (other error): an order whose state the
    /// merchant cannot learn, while every other order is answered normally.
    pub querydr_undecidable: Vec<String>,
    /// Every well-formed, correctly signed refund request is refused with this `vnp_ResponseCode`,
    /// one of the spec's refund failures (`02`, `03`, `91`, `94`, `95`, `97`, `99`; §7.4), as a
    /// terminal without the refund permission or a bank that will not take the money back would.
    pub refund_refused_with: Option<String>,
    /// The gateway's clock runs this many milliseconds ahead of the clock the simulator was given
    /// (negative: behind), as when the merchant's and VNPay's clocks disagree. It moves everything
    /// the gateway decides by its own time: whether a payment is past its `vnp_ExpireDate`,
    /// PayDate, the day of TxnRef and RequestId uniqueness, the querydr rate limit, refund
    /// processing. At most a day either way.
    pub clock_skew_ms: i64,
}

const MAX_CLOCK_SKEW_MS: u64 = 24 * 3600 * 1000;

/// A fault setting outside its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidFaults(pub &'static str);

impl Faults {
    /// Checks the rates, the refund refusal code and the clock skew.
    pub fn validate(&self) -> Result<(), InvalidFaults> {
        for (name, rate) in [
            (
                "ipn_drop_rate must be between 0.0 and 1.0",
                self.ipn_drop_rate,
            ),
            (
                "ipn_duplicate_rate must be between 0.0 and 1.0",
                self.ipn_duplicate_rate,
            ),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(InvalidFaults(name));
            }
        }
        if self.clock_skew_ms.unsigned_abs() > MAX_CLOCK_SKEW_MS {
            return Err(InvalidFaults(
                "clock_skew_ms must be within a day (86,400,000 ms) either way",
            ));
        }
        if let Some(code) = &self.refund_refused_with {
            let code = vnpay::RefundResponseCode::from(code.as_str());
            if !code.is_known() || code.is_success() {
                return Err(InvalidFaults(
                    "refund_refused_with must be a refund failure code of the spec (02, 03, 91, 94, 95, 97 or 99)",
                ));
            }
        }
        Ok(())
    }
}
