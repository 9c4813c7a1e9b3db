//! The local side of the penalty box: bans this instance knows of (answered without a Redis
//! round trip) and, for the in-process limiter, the strike counts themselves.

use std::collections::HashMap;
use std::sync::Mutex;

use super::policy::{Penalty, duration_us};

/// Ban deadlines by client key, in clock microseconds.
#[derive(Debug, Default)]
pub(super) struct LocalBans {
    until: Mutex<HashMap<String, i64>>,
}

impl LocalBans {
    pub(super) fn banned_until(&self, key: &str, now_us: i64) -> Option<i64> {
        let map = self.until.lock().ok()?;
        map.get(key).copied().filter(|until| *until > now_us)
    }

    pub(super) fn ban(&self, key: &str, until_us: i64) {
        if let Ok(mut map) = self.until.lock() {
            map.insert(key.to_owned(), until_us);
        }
    }

    pub(super) fn sweep(&self, now_us: i64) {
        if let Ok(mut map) = self.until.lock() {
            map.retain(|_, until| *until > now_us);
        }
    }
}

/// Denials per client key within the current strike window.
#[derive(Debug, Default)]
pub(super) struct Strikes {
    by_key: Mutex<HashMap<String, (u32, i64)>>,
}

impl Strikes {
    /// Records one denial; true when it is one too many and the client must be banned.
    pub(super) fn strike(&self, key: &str, now_us: i64, penalty: &Penalty) -> bool {
        let Ok(mut map) = self.by_key.lock() else {
            return false;
        };
        let window = duration_us(penalty.window);
        let entry = map.entry(key.to_owned()).or_insert((0, now_us));
        if now_us - entry.1 >= window {
            *entry = (0, now_us);
        }
        entry.0 += 1;
        if entry.0 > penalty.strikes {
            map.remove(key);
            return true;
        }
        false
    }

    pub(super) fn sweep(&self, now_us: i64, longest_window_us: i64) {
        if let Ok(mut map) = self.by_key.lock() {
            map.retain(|_, (_, since)| now_us - *since < longest_window_us);
        }
    }
}
