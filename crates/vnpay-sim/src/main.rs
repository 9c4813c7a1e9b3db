//! `vnpay-sim`: run the VNPay gateway simulator on its own port.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use vnpay_sim::{SimConfig, SimServer};

/// A local VNPay 2.1.0 gateway: payment page, Return/IPN callbacks, querydr and refund.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "VNPAY_SIM_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Terminal code the simulator accepts.
    #[arg(long, env = "VNPAY_SIM_TMN_CODE", default_value = "FLASHGT1")]
    tmn_code: String,
    /// The terminal's hash secret.
    #[arg(long, env = "VNPAY_SIM_SECRET", hide_env_values = true)]
    secret: String,
    /// The merchant's IPN URL; without it no IPN is sent.
    #[arg(long, env = "VNPAY_SIM_IPN_URL")]
    ipn_url: Option<String>,
    /// Seconds between IPN calls (VNPay: 300).
    #[arg(long, default_value_t = 300)]
    ipn_retry_secs: u64,
    /// Minimum seconds between querydr calls on one TxnRef before code 94.
    #[arg(long, default_value_t = 1)]
    querydr_min_interval_secs: u64,
    /// Public base URL of the simulator (defaults to http://<listen>).
    #[arg(long)]
    base_url: Option<String>,
    /// Seed for fault decisions.
    #[arg(long, default_value_t = 0x5eed)]
    seed: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    // Before the simulator listens, so that a stop sent once it answers is never missed.
    let stop = stop_requested().context("listening for SIGINT and SIGTERM")?;
    let mut config = SimConfig::default()
        .terminal(args.tmn_code.clone(), args.secret, args.ipn_url)
        .with_ipn_retry_interval(Duration::from_secs(args.ipn_retry_secs))
        .with_querydr_min_interval(Duration::from_secs(args.querydr_min_interval_secs))
        .with_seed(args.seed);
    if let Some(base) = args.base_url {
        config = config.with_base_url(base);
    }
    let server = SimServer::bind(args.listen, config)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let handle = server.handle();
    tracing::info!(
        tmn_code = %args.tmn_code,
        pay_page = %handle.pay_page_url(),
        api = %handle.api_url(),
        "VNPay simulator listening"
    );
    let shutdown = handle.clone();
    tokio::spawn(async move {
        stop.await;
        shutdown.shutdown();
    });
    server.run().await.context("serving")
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (`docker stop`, `kill`); both are registered when this
/// returns.
#[cfg(unix)]
fn stop_requested() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Completes on Ctrl-C, the one stop request there is.
#[cfg(not(unix))]
fn stop_requested() -> std::io::Result<impl Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}
