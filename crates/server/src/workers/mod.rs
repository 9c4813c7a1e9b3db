//! Background workers. Each exposes a `run_once()` that tests drive and a loop that stops on the
//! cancellation token, backing off with jitter after errors.

pub mod expirer;
pub mod gate_keeper;
pub mod monitor;
pub mod reconciler;
pub mod refunder;

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs `step` every `interval` until `token` is cancelled; after an error the wait doubles (up to a
/// minute) with jitter, so that many instances do not retry in lockstep.
pub async fn run_every<F, Fut, E>(
    name: &'static str,
    interval: Duration,
    token: CancellationToken,
    mut step: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut wait = interval;
    loop {
        tokio::select! {
            () = token.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
        match step().await {
            Ok(()) => wait = interval,
            Err(error) => {
                wait = (wait * 2).min(Duration::from_secs(60));
                let jitter = wait.mul_f64(jitter_fraction());
                wait = wait.saturating_sub(jitter / 2) + jitter / 2;
                tracing::warn!(worker = name, %error, retry_in_ms = wait.as_millis() as u64, "worker step failed");
            }
        }
    }
    tracing::info!(worker = name, "worker stopped");
}

/// A fraction in [0, 0.5) from the clock's nanoseconds: enough to spread retries, no RNG needed.
fn jitter_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1_000) / 2_000.0
}
