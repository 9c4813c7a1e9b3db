//! The one explicit clock: hold expiry, leases, sale windows, rate-limit windows and bans all read it,
//! so tests move time instead of sleeping, and moving it moves every one of them together.

use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;

    /// Milliseconds since the Unix epoch, as the shared state counts time. Instances sharing Redis must
    /// agree on it (NTP), since limits and bans written by one instance are read by the others.
    fn now_ms(&self) -> i64 {
        epoch_ms(self.now())
    }
}

/// Milliseconds since the Unix epoch; saturates far outside any sale's lifetime.
pub fn epoch_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to; for tests and simulations. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<OffsetDateTime>>,
}

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// A clock at `ms` milliseconds after the Unix epoch.
    pub fn at_ms(ms: i64) -> Self {
        Self::new(OffsetDateTime::UNIX_EPOCH.saturating_add(Duration::milliseconds(ms)))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now = now.saturating_add(by);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OffsetDateTime> {
        self.now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::minutes(15));
        assert_eq!(clock.now(), start + Duration::minutes(15));
    }

    #[test]
    fn clones_of_a_manual_clock_share_its_time() {
        let clock = ManualClock::at_ms(1_000);
        let other = clock.clone();
        clock.advance(Duration::milliseconds(250));
        assert_eq!(other.now_ms(), 1_250);
    }
}
