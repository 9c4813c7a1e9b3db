//! Simulator configuration: terminals, IPN retry policy, rate limits, faults, clock and RNG seed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use vnpay::{EmptyValues, HashSecret};

use crate::clock::{Clock, SystemClock};
use crate::faults::Faults;

/// One terminal the simulator knows.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    /// The shared secret.
    pub secret: HashSecret,
    /// Where IPNs go, as registered in the merchant portal; `None` sends none.
    pub ipn_url: Option<String>,
}

/// Everything the simulator is told at start. Built with [`SimConfig::default`] and the
/// `with_*`/[`SimConfig::terminal`] methods.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Known terminals by TmnCode.
    pub terminals: HashMap<String, TerminalConfig>,
    /// Prefix of the simulator's own absolute URLs (e.g. `http://127.0.0.1:8090`, or where it
    /// is mounted). Empty gives path-only redirects.
    pub base_url: String,
    /// Time between IPN calls (VNPay: 5 minutes).
    pub ipn_retry_interval: Duration,
    /// IPN calls in total, the first included (VNPay: 10).
    pub ipn_max_calls: u32,
    /// How long one IPN call may take before it counts as a timeout.
    pub ipn_timeout: Duration,
    /// Queries on the same TxnRef closer together than this are answered 94.
    pub querydr_min_interval: Duration,
    /// How empty pay-request values are signed (the gateway's behaviour is uncertain; the
    /// default signs them as `name=`, like the official PHP demo).
    pub empty_values: EmptyValues,
    /// Faults in force at start.
    pub faults: Faults,
    /// Seed of the RNG behind fault decisions, so runs are reproducible.
    pub seed: u64,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The first TransactionNo handed out (8 digits).
    pub first_transaction_no: u64,
    /// How long VNPay processes a refund (status 05) before handing it to the bank (status 06).
    /// Meanwhile another refund of the same payment is answered 94 ("a refund request for this
    /// transaction is already being processed", spec §7.4). The spec gives no figure.
    pub refund_processing: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            terminals: HashMap::new(),
            base_url: String::new(),
            ipn_retry_interval: Duration::from_secs(5 * 60),
            ipn_max_calls: 10,
            ipn_timeout: Duration::from_secs(10),
            querydr_min_interval: Duration::from_secs(1),
            empty_values: EmptyValues::Sign,
            faults: Faults::default(),
            seed: 0x5eed,
            clock: Arc::new(SystemClock),
            first_transaction_no: 14_000_001,
            refund_processing: Duration::from_secs(10 * 60),
        }
    }
}

impl SimConfig {
    /// Registers a terminal.
    pub fn terminal(
        mut self,
        tmn_code: impl Into<String>,
        secret: impl Into<HashSecret>,
        ipn_url: Option<String>,
    ) -> Self {
        self.terminals.insert(
            tmn_code.into(),
            TerminalConfig {
                secret: secret.into(),
                ipn_url,
            },
        );
        self
    }

    /// Sets [`SimConfig::base_url`].
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self
    }

    /// Sets [`SimConfig::ipn_retry_interval`].
    pub fn with_ipn_retry_interval(mut self, interval: Duration) -> Self {
        self.ipn_retry_interval = interval;
        self
    }

    /// Sets [`SimConfig::ipn_max_calls`].
    pub fn with_ipn_max_calls(mut self, calls: u32) -> Self {
        self.ipn_max_calls = calls;
        self
    }

    /// Sets [`SimConfig::ipn_timeout`].
    pub fn with_ipn_timeout(mut self, timeout: Duration) -> Self {
        self.ipn_timeout = timeout;
        self
    }

    /// Sets [`SimConfig::querydr_min_interval`].
    pub fn with_querydr_min_interval(mut self, interval: Duration) -> Self {
        self.querydr_min_interval = interval;
        self
    }

    /// Sets [`SimConfig::empty_values`].
    pub fn with_empty_values(mut self, empty: EmptyValues) -> Self {
        self.empty_values = empty;
        self
    }

    /// Sets [`SimConfig::faults`].
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Sets [`SimConfig::seed`].
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`SimConfig::refund_processing`].
    pub fn with_refund_processing(mut self, processing: Duration) -> Self {
        self.refund_processing = processing;
        self
    }

    /// Sets [`SimConfig::clock`].
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}
