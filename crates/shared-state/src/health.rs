//! Whether Redis is reachable, as seen by the operations that use it, so the service can report
//! `degraded` on `/readyz` and fall back to the in-process/database path.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::SharedStateError;

/// Updated by every Redis operation; cheap to read on every request.
#[derive(Debug, Default)]
pub struct RedisHealth {
    degraded: AtomicBool,
    consecutive_failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A point-in-time copy for `/readyz` and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSnapshot {
    pub degraded: bool,
    pub consecutive_failures: u64,
    pub last_error: Option<String>,
}

impl RedisHealth {
    /// Starts healthy; `degraded(true)` for a lazily connected backend that has not spoken to Redis yet.
    pub fn new(degraded: bool) -> Self {
        Self {
            degraded: AtomicBool::new(degraded),
            ..Self::default()
        }
    }

    pub fn record_ok(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
        self.degraded.store(false, Ordering::Relaxed);
    }

    /// Only unreachability degrades: a script or type error means Redis is up and the bug is ours.
    pub fn record_error(&self, err: &SharedStateError) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(err.to_string());
        }
        if err.is_unavailable() {
            self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
            self.degraded.store(true, Ordering::Relaxed);
        }
    }

    /// Unreachable answers since the last good one.
    pub fn consecutive_failures(&self) -> u64 {
        self.consecutive_failures.load(Ordering::Relaxed)
    }

    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> HealthSnapshot {
        HealthSnapshot {
            degraded: self.is_degraded(),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            last_error: self.last_error.lock().ok().and_then(|l| l.clone()),
        }
    }
}
