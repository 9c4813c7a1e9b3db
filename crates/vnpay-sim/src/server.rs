//! Serving the simulator on its own listener, for the binary and for tests (port 0).

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::config::SimConfig;
use crate::handle::{SimHandle, StartError};
use crate::routes::router;

/// A simulator bound to a socket, not yet serving.
#[derive(Debug)]
pub struct SimServer {
    listener: TcpListener,
    handle: SimHandle,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding or serving failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The configuration was refused.
    #[error(transparent)]
    Start(#[from] StartError),
}

impl SimServer {
    /// Binds `addr` (port 0 picks a free port). An empty `base_url` becomes `http://<addr>`.
    pub async fn bind(addr: SocketAddr, mut config: SimConfig) -> Result<Self, ServeError> {
        let listener = TcpListener::bind(addr).await?;
        if config.base_url.is_empty() {
            config.base_url = format!("http://{}", listener.local_addr()?);
        }
        let handle = SimHandle::new(config)?;
        Ok(Self { listener, handle })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The handle on this simulator.
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Serves until [`SimHandle::shutdown`].
    pub async fn run(self) -> std::io::Result<()> {
        let token = self.handle.shutdown_token();
        axum::serve(self.listener, router(self.handle))
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await
    }

    /// Binds 127.0.0.1 on a free port and serves in the background.
    pub async fn spawn(config: SimConfig) -> Result<SimHandle, ServeError> {
        let server = Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config).await?;
        let handle = server.handle();
        tokio::spawn(async move {
            if let Err(e) = server.run().await {
                tracing::error!(error = %e, "simulator server stopped");
            }
        });
        Ok(handle)
    }
}
