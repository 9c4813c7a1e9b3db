//! Where the CPU went during a measurement, from /proc: the server process, this load generator, and the
//! whole machine (the rest is the database, Redis and anything else on the box).

use std::time::Instant;

/// Clock ticks per second of /proc's CPU counters (USER_HZ), 100 on every mainstream Linux build.
const TICKS: f64 = 100.0;

fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields resume after its closing parenthesis.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(user + system)
}

fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let values: Vec<u64> = cpu
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    let busy = values.iter().take(8).sum::<u64>()
        - values.get(3).copied().unwrap_or(0)
        - values.get(4).copied().unwrap_or(0);
    Some(busy)
}

/// A reading to compare with a later one.
pub struct Mark {
    at: Instant,
    server: Option<u64>,
    own: Option<u64>,
    machine: Option<u64>,
}

/// Average cores used between two marks.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct CpuUse {
    pub server: f64,
    pub loadgen: f64,
    pub machine: f64,
}

impl Mark {
    pub fn now(server_pid: Option<u32>) -> Self {
        Self {
            at: Instant::now(),
            server: server_pid.and_then(|pid| process_ticks(&pid.to_string())),
            own: process_ticks("self"),
            machine: machine_busy_ticks(),
        }
    }

    pub fn since(&self, before: &Mark) -> CpuUse {
        let seconds = self.at.duration_since(before.at).as_secs_f64().max(1e-3);
        let cores = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => a.saturating_sub(b) as f64 / TICKS / seconds,
            _ => 0.0,
        };
        CpuUse {
            server: cores(self.server, before.server),
            loadgen: cores(self.own, before.own),
            machine: cores(self.machine, before.machine),
        }
    }
}
