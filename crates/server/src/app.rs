//! Building and running the service: open the store, bind the listener (port 0 in tests), start the
//! workers, serve until the cancellation token fires, then drain.

use crate::auth::BuyerTokens;
use crate::config::Settings;
use crate::fastpath::FastPath;
use crate::http;
use crate::state::AppState;
use crate::workers::{
    self,
    expirer::{Expirer, NoGateway},
    gate_keeper::GateKeeper,
};
use anyhow::Context;
use flashgate_core::{Clock, SystemClock};
use flashgate_store::{PoolSettings, Store};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub struct Application {
    listener: TcpListener,
    state: AppState,
    expirer: Expirer,
    keeper: GateKeeper,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        Self::build_with_store(settings, clock, |store| store).await
    }

    /// Like `build_with_clock`, with a hook on the store's ports before the service decorates them
    /// (tests count database queries through it).
    pub async fn build_with_store(
        settings: Settings,
        clock: Arc<dyn Clock>,
        adapt: impl FnOnce(Store) -> Store,
    ) -> anyhow::Result<Self> {
        let store = adapt(open_store(&settings, settings.database.migrate_on_start).await?);
        let (fastpath, store) = FastPath::build(&settings, store, clock.clone()).await?;
        let fastpath = Arc::new(fastpath);
        let keeper = GateKeeper::new(fastpath.clone());
        let addr = settings.listen_addr()?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("listen: cannot bind {addr}"))?;
        let expirer = Expirer {
            leases: store.leases.clone(),
            transitions: store.transitions.clone(),
            payments: Arc::new(NoGateway),
            clock: clock.clone(),
            lease: time::Duration::seconds(
                i64::try_from(settings.expirer.lease_seconds).unwrap_or(60),
            ),
            batch: settings.expirer.batch,
        };
        let state = AppState {
            tokens: BuyerTokens::new(settings.jwt_secret.expose().as_bytes()),
            store,
            settings: Arc::new(settings),
            clock,
            fastpath,
        };
        Ok(Self {
            listener,
            state,
            expirer,
            keeper,
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn expirer(&self) -> Expirer {
        self.expirer.clone()
    }

    pub fn keeper(&self) -> GateKeeper {
        self.keeper.clone()
    }

    /// Serves until `shutdown` is cancelled; in-flight requests then finish (within the grace period)
    /// and the workers stop before this returns.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let settings = self.state.settings.clone();
        let mut tasks = JoinSet::new();
        let expirer = self.expirer.clone();
        tasks.spawn(workers::run_every(
            "expirer",
            Duration::from_millis(settings.expirer.interval_ms),
            shutdown.clone(),
            move || {
                let expirer = expirer.clone();
                async move { expirer.run_once().await.map(|_| ()) }
            },
        ));
        let keeper = self.keeper.clone();
        tasks.spawn(workers::run_every(
            "gate_keeper",
            Duration::from_millis(settings.gate.keeper_interval_ms),
            shutdown.clone(),
            move || {
                let keeper = keeper.clone();
                async move { keeper.run_once().await.map(|_| ()) }
            },
        ));
        tracing::info!(addr = %self.listener.local_addr()?, backend = self.state.store.backend.as_str(),
            strategy = settings.inventory.strategy.as_str(), "flashgate serving");
        let router = http::router(self.state.clone());
        let server = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown({
            let shutdown = shutdown.clone();
            async move { shutdown.cancelled().await }
        });
        let grace = Duration::from_millis(settings.http.shutdown_grace_ms);
        let served = tokio::spawn(async move { server.await });
        shutdown.cancelled().await;
        match tokio::time::timeout(grace, served).await {
            Ok(joined) => joined.context("server task")?.context("server")?,
            Err(_) => tracing::warn!("in-flight requests did not finish within the grace period"),
        }
        while tasks.join_next().await.is_some() {}
        tracing::info!("flashgate stopped");
        Ok(())
    }
}

pub async fn open_store(settings: &Settings, migrate: bool) -> anyhow::Result<Store> {
    let pool = PoolSettings {
        max_connections: settings.database.max_connections,
        acquire_timeout: settings.acquire_timeout(),
    };
    Store::open(&settings.database_url, &pool, migrate)
        .await
        .with_context(|| {
            format!(
                "database_url: cannot open the {} database",
                scheme(&settings.database_url)
            )
        })
}

fn scheme(url: &str) -> &str {
    url.split(':').next().unwrap_or("")
}
