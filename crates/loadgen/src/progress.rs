//! The live progress line on stderr, once a second: requests, rate over the last second, errors, sold.
//! On a terminal it rewrites itself in place; elsewhere it prints one line a second.

use crate::recorder::Recorder;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Prints until the returned task is aborted.
pub fn spawn(label: String, recorder: Arc<Recorder>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let tty = std::io::stderr().is_terminal();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        let mut before = 0;
        loop {
            tick.tick().await;
            let live = &recorder.live;
            let requests = live.requests.load(Ordering::Relaxed);
            let line = format!(
                "[{label} {:>4}s] requests {requests:>9}  rate {:>8}/s  errors {:>6}  sold {:>7}",
                recorder.start().elapsed().as_secs(),
                requests - before,
                live.errors.load(Ordering::Relaxed),
                live.sold.load(Ordering::Relaxed),
            );
            before = requests;
            let mut err = std::io::stderr().lock();
            let _ = if tty {
                write!(err, "\r{line}\x1b[K")
            } else {
                writeln!(err, "{line}")
            };
            let _ = err.flush();
        }
    })
}

/// Ends a progress line left open on a terminal.
pub fn finish() {
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
}
