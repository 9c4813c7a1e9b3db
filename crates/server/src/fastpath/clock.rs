//! The service's clock as the fast path reads it (milliseconds), so a test that moves one moves
//! rate-limit windows, bans and sale windows together.

use flashgate_core::Clock;
use std::sync::Arc;

pub struct FastClock(pub Arc<dyn Clock>);

impl flashgate_shared_state::Clock for FastClock {
    fn now_ms(&self) -> i64 {
        super::epoch_ms(self.0.now())
    }
}
