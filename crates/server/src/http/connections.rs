//! The connections the API is served over: HTTP/1.1 on hyper, with the bounds that keep slow and idle
//! clients from starving buyers. A request's head must arrive within `http.header_read_timeout_ms`, and
//! hyper starts that clock whenever the connection waits for a request, so the same bound closes a
//! keep-alive connection left idle. At most `http.max_connections` are open at once; one more is
//! answered 503 at once (without reading it) and closed, instead of queueing in the kernel's backlog.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::io::ErrorKind;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::Layer;

/// What a connection over the cap is told before it is closed: the `unavailable` problem any 503
/// carries, with its retry advice.
static FULL: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let body = serde_json::json!({
        "type": "https://flashgate.dev/problems/unavailable",
        "title": "The service is temporarily unavailable",
        "status": 503,
        "code": "unavailable",
        "detail": "Too many open connections; retry shortly.",
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nconnection: close\r\n\
         content-type: application/problem+json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

/// How the listener treats connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` fires, then waits for the connections' requests in
/// flight to finish (the caller bounds how long).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            refuse(&stream);
            continue;
        };
        // Small answers go out at once rather than waiting for Nagle's timer.
        let _ = stream.set_nodelay(true);
        let service =
            TowerToHyperService::new(axum::Extension(ConnectInfo(peer)).layer(router.clone()));
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that went away or timed out ends its connection; nothing to report.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Answers a connection over the cap without reading from it, and closes it. A write that would
/// block is skipped: the close alone still tells the client.
fn refuse(stream: &TcpStream) {
    crate::metrics::connection_refused();
    let _ = stream.try_write(&FULL);
}

/// A failed accept: a connection that died in the backlog is nothing; anything else (out of file
/// descriptors) is logged, and accepting pauses briefly rather than spinning on the error.
async fn accept_failed(error: std::io::Error) {
    if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept a connection");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
