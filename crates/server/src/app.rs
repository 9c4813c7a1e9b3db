//! Building and running the service: open the store, bind the listener (port 0 in tests), wire the
//! payment gateway (the bundled simulator unless a real one is configured), start the workers, serve
//! until the cancellation token fires, then drain.

use crate::assemble::assemble;
use crate::auth::BuyerTokens;
use crate::auth::jwks::Jwks;
use crate::config::Settings;
use crate::database::open_store;
use crate::http;
use crate::metrics;
use crate::payments::{Callbacks, VnpayGateway};
use crate::state::{AppState, Services};
use crate::webhooks::dispatcher::{self, Dispatcher};
use crate::workers::callback_pruner::CallbackPruner;
use crate::workers::expirer::Expirer;
use crate::workers::gate_keeper::GateKeeper;
use crate::workers::monitor::Monitor;
use crate::workers::reconciler::Reconciler;
use crate::workers::refunder::Refunder;
use crate::workers::run_every;
use anyhow::Context;
use flashgate_core::{Clock, SystemClock};
use flashgate_store::Store;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vnpay::{ClientConfig, HashSecret, Terminal, TmnCode, VnpayClient};
use vnpay_sim::{SimConfig, SimHandle};

pub struct Application {
    listener: TcpListener,
    /// `/metrics` apart from the API, when `metrics.listen` says where.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    simulator: Option<SimHandle>,
    expirer: Expirer,
    reconciler: Reconciler,
    refunder: Refunder,
    keeper: GateKeeper,
    pruner: CallbackPruner,
    dispatcher: Dispatcher,
}

/// A setting's duration as the workers count time (settings are bounded, so this never saturates).
fn span(value: Duration) -> time::Duration {
    time::Duration::try_from(value).unwrap_or(time::Duration::MAX)
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
        // Before anything is opened: a start this setting refuses touches nothing.
        let v = &settings.vnpay;
        let server_ip = server_ip(&v.server_ip, v.uses_simulator(), settings.listen)?;
        // First: the parts built below take their metric handles from the recorder.
        let metrics = metrics::install();
        let store = adapt(open_store(&settings, settings.database.migrate_on_start).await?);
        let assembled = assemble(&settings, store, clock.clone()).await?;
        let (store, shared) = (assembled.store, assembled.shared);
        let keeper = GateKeeper::new(shared.clone());
        let monitor = Monitor::new(
            store.monitor.clone(),
            store.deliveries.clone(),
            shared.clone(),
            clock.clone(),
        );
        let addr = settings.listen;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("listen: cannot bind {addr}"))?;
        let local = listener.local_addr()?;
        let metrics_listener = match settings.metrics.listen_addr() {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("metrics.listen: cannot bind {addr}"))?,
            ),
            None => None,
        };
        let (gateway, simulator) = gateway(&settings, local, server_ip, &store, clock.clone())?;
        let gateway = Arc::new(gateway);
        let lease = span(settings.expirer.lease);
        let expirer = Expirer {
            leases: store.leases.clone(),
            transitions: store.transitions.clone(),
            payments: gateway.clone(),
            clock: clock.clone(),
            grace: span(settings.payments.expiry_grace),
            lease,
            retry_after: span(settings.reconciler.min_poll_interval),
            batch: settings.expirer.batch,
        };
        let r = &settings.reconciler;
        let reconciler = Reconciler {
            leases: store.leases.clone(),
            transitions: store.transitions.clone(),
            payments: gateway.clone(),
            clock: clock.clone(),
            first_poll_after: span(r.first_poll_after),
            poll_interval: span(r.poll_interval),
            min_poll_interval: span(r.min_poll_interval),
            late_money_window: span(settings.payments.late_money_window),
            lease,
            batch: r.batch,
        };
        let refunder = Refunder {
            leases: store.leases.clone(),
            transitions: store.transitions.clone(),
            refunds: gateway.clone(),
            clock: clock.clone(),
            lease,
            batch: r.batch,
            max_refusals: settings.payments.refund_max_refusals,
            // A refused refund is asked again on the reconciler's per-order schedule.
            first_pause: span(r.min_poll_interval),
            max_pause: span(r.poll_interval),
        };
        let pruner = CallbackPruner {
            log: store.payment_log.clone(),
            clock: clock.clone(),
            retention: span(settings.callbacks.unverified_retention),
            batch: settings.callbacks.prune_batch,
        };
        let allow_private = settings.private_webhook_targets_allowed();
        let dispatcher = Dispatcher {
            deliveries: store.deliveries.clone(),
            http: dispatcher::client(&settings.webhooks, allow_private)?,
            clock: clock.clone(),
            settings: Arc::new(settings.webhooks.clone()),
            allow_private,
            next_prune: Arc::default(),
            in_flight: Arc::default(),
        };
        let callbacks = Callbacks {
            tmn_code: gateway.terminal.tmn_code.clone(),
            secret: HashSecret::new(settings.vnpay.hash_secret.expose()),
            orders: store.orders.clone(),
            transitions: store.transitions.clone(),
            log: store.payment_log.clone(),
            clock: clock.clone(),
        };
        let operator = crate::payments::operator::Operator {
            orders: store.orders.clone(),
            search: store.order_search.clone(),
            transitions: store.transitions.clone(),
            clock: clock.clone(),
        };
        let mut tokens = BuyerTokens::from_settings(
            settings.jwt_secret.expose().as_bytes(),
            &settings.auth,
            clock.clone(),
        )?;
        if !settings.auth.jwks_url.is_empty() {
            tokens = tokens.with_jwks(Jwks::start(&settings.auth).await?);
        }
        let sessions = crate::auth::sessions::build(
            &settings.auth.sessions,
            &store,
            shared.redis.as_ref(),
            clock.clone(),
        );
        let state = AppState::new(Services {
            tokens,
            sessions,
            store,
            settings: Arc::new(settings),
            clock,
            gateway,
            callbacks,
            operator,
            metrics,
            shared,
            checkout: assembled.checkout,
            monitor,
            readiness: Default::default(),
        });
        Ok(Self {
            listener,
            metrics_listener,
            state,
            simulator,
            expirer,
            reconciler,
            refunder,
            keeper,
            pruner,
            dispatcher,
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Where `/metrics` is served apart from the API, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The bundled VNPay simulator, when it stands in for the gateway.
    pub fn simulator(&self) -> Option<SimHandle> {
        self.simulator.clone()
    }

    pub fn expirer(&self) -> Expirer {
        self.expirer.clone()
    }

    pub fn reconciler(&self) -> Reconciler {
        self.reconciler.clone()
    }

    pub fn refunder(&self) -> Refunder {
        self.refunder.clone()
    }

    pub fn keeper(&self) -> GateKeeper {
        self.keeper.clone()
    }

    pub fn callback_pruner(&self) -> CallbackPruner {
        self.pruner.clone()
    }

    pub fn dispatcher(&self) -> Dispatcher {
        self.dispatcher.clone()
    }

    /// Serves until `shutdown` is cancelled; in-flight requests then finish (within the grace period)
    /// and the workers stop before this returns.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let settings = self.state.settings.clone();
        let mut tasks = JoinSet::new();
        let expirer = self.expirer.clone();
        tasks.spawn(run_every(
            "expirer",
            settings.expirer.interval,
            shutdown.clone(),
            move || {
                let expirer = expirer.clone();
                async move { expirer.run_once().await.map(|_| ()) }
            },
        ));
        let tick = settings.reconciler.tick;
        let reconciler = self.reconciler.clone();
        tasks.spawn(run_every("reconciler", tick, shutdown.clone(), move || {
            let reconciler = reconciler.clone();
            async move { reconciler.run_once().await.map(|_| ()) }
        }));
        let refunder = self.refunder.clone();
        tasks.spawn(run_every("refunder", tick, shutdown.clone(), move || {
            let refunder = refunder.clone();
            async move { refunder.run_once().await.map(|_| ()) }
        }));
        let pruner = self.pruner.clone();
        tasks.spawn(run_every(
            "callback_pruner",
            settings.callbacks.prune_interval,
            shutdown.clone(),
            move || {
                let pruner = pruner.clone();
                async move { pruner.run_once().await.map(|_| ()) }
            },
        ));
        tasks.spawn(self.dispatcher.clone().run(shutdown.clone()));
        let keeper = self.keeper.clone();
        let keeper_tick = settings.gate.keeper_interval;
        tasks.spawn(run_every(
            "gate_keeper",
            keeper_tick,
            shutdown.clone(),
            move || {
                let keeper = keeper.clone();
                async move { keeper.run_once().await.map(|_| ()) }
            },
        ));
        tasks.spawn(self.keeper.clone().remember_refused(shutdown.clone()));
        if let Some(jwks) = self.state.tokens.jwks() {
            tasks.spawn(jwks.clone().refresh_in_background(shutdown.clone()));
        }
        let monitor = self.state.monitor.clone();
        let (tick, idle) = (settings.monitor.interval, settings.monitor.idle_interval);
        tasks.spawn(run_every("monitor", tick, shutdown.clone(), move || {
            let monitor = monitor.clone();
            async move { monitor.run_if_due(tick, idle).await }
        }));
        let addr = self.listener.local_addr()?;
        crate::safety::warn_if_simulator_public(&settings);
        crate::safety::warn_if_metrics_public(&settings);
        tracing::info!(%addr, backend = self.state.store.backend.as_str(),
            strategy = settings.inventory.strategy.as_str(), gateway = %self.state.gateway.pay_url, "flashgate serving");
        let mut router = http::router(self.state.clone());
        if let Some(simulator) = &self.simulator {
            router = router.nest("/vnpay-sim", vnpay_sim::router(simulator.clone()));
        }
        // Outermost, so the simulator's pages get the same headers as flashgate's own.
        let router = router.layer(axum::middleware::from_fn(http::pages::harden));
        let limits = settings.http.connection_limits();
        if let Some(listener) = self.metrics_listener {
            let scrape = axum::Router::new()
                .route("/metrics", axum::routing::get(http::health::scrape))
                .with_state(self.state.clone());
            tasks.spawn(http::connections::serve(
                listener,
                scrape,
                limits,
                shutdown.clone(),
            ));
        }
        let server = http::connections::serve(self.listener, router, limits, shutdown.clone());
        let grace = settings.http.shutdown_grace;
        let served = tokio::spawn(server);
        shutdown.cancelled().await;
        self.state.monitor.close();
        match tokio::time::timeout(grace, served).await {
            Ok(joined) => joined.context("server task")?,
            Err(_) => tracing::warn!("in-flight requests did not finish within the grace period"),
        }
        while tasks.join_next().await.is_some() {}
        if let Some(simulator) = &self.simulator {
            simulator.shutdown();
        }
        tracing::info!("flashgate stopped");
        Ok(())
    }
}

/// The VNPay gateway: the configured one, or the bundled simulator mounted at `/vnpay-sim` of this
/// very server, with its IPNs pointed back at us.
fn gateway(
    settings: &Settings,
    local: SocketAddr,
    server_ip: IpAddr,
    store: &Store,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(VnpayGateway, Option<SimHandle>)> {
    let v = &settings.vnpay;
    let public_url = if v.public_url.is_empty() {
        format!("http://{local}")
    } else {
        v.public_url.trim_end_matches('/').to_owned()
    };
    let tmn_code = TmnCode::parse(&v.tmn_code).context("vnpay.tmn_code")?;
    let secret = HashSecret::new(v.hash_secret.expose());
    let (pay_url, api_url, simulator) = if v.uses_simulator() {
        let config = SimConfig::default()
            .terminal(
                tmn_code.as_str(),
                secret.clone(),
                Some(format!("{public_url}/payments/vnpay/ipn")),
            )
            .with_base_url(format!("{public_url}/vnpay-sim"))
            // The gateway's time is ours (tests drive one clock): ExpireDate, PayDate, refunds.
            .with_clock(Arc::new(SimClock(clock.clone())))
            .with_ipn_retry_interval(v.sim_ipn_retry)
            .with_querydr_min_interval(v.sim_querydr_min_interval);
        let handle = SimHandle::new(config).context("the bundled VNPay simulator")?;
        (handle.pay_page_url(), handle.api_url(), Some(handle))
    } else {
        (v.pay_url.clone(), v.api_url.clone(), None)
    };
    let terminal = Terminal::new(tmn_code, secret);
    let mut client = ClientConfig::new(api_url, terminal.clone());
    client.timeout = v.api_timeout;
    client.connect_timeout = client.timeout.min(client.connect_timeout);
    client.root_ca_pem = crate::tls::root_ca("vnpay.root_ca_file", &v.root_ca_file)?;
    let client = VnpayClient::new(client).map_err(|e| anyhow::anyhow!("vnpay.api_url: {e}"))?;
    let return_url = crate::payments::settings::return_url(&public_url)
        .map_err(|e| anyhow::anyhow!("vnpay.public_url: {e}"))?;
    let gateway = VnpayGateway {
        terminal,
        client,
        pay_url,
        return_url,
        server_ip,
        log: store.payment_log.clone(),
        clock,
    };
    Ok((gateway, simulator))
}

/// The service's clock as the bundled simulator's.
struct SimClock(Arc<dyn Clock>);

impl std::fmt::Debug for SimClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimClock(the service's clock)")
    }
}

impl vnpay_sim::Clock for SimClock {
    fn now(&self) -> time::OffsetDateTime {
        self.0.now()
    }
}

/// `vnp_IpAddr` of querydr and refund: the IP of the merchant server calling the API (spec §5.1).
/// `vnpay.server_ip` when set (already checked to be a specific address); otherwise the address
/// flashgate listens on. Listening on every address (0.0.0.0, [::]) says nothing about which one
/// the gateway sees: the real gateway needs the setting, the bundled simulator is told 127.0.0.1.
/// Checked first when the application is built, so a refused start opens nothing.
fn server_ip(configured: &str, uses_simulator: bool, local: SocketAddr) -> anyhow::Result<IpAddr> {
    if !configured.is_empty() {
        return configured
            .parse()
            .with_context(|| format!("vnpay.server_ip: {configured:?} is not an IP address"));
    }
    match local.ip() {
        ip if !ip.is_unspecified() => Ok(ip),
        _ if uses_simulator => Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ip => anyhow::bail!(
            "vnpay.server_ip: flashgate listens on {ip}, every address, so it cannot tell VNPay which IP \
             its querydr and refund calls come from; set vnpay.server_ip (FLASHGATE_VNPAY__SERVER_IP) to \
             this server's address as the gateway sees it"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::server_ip;
    use std::net::{IpAddr, SocketAddr};

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_configured_server_ip_is_sent_whatever_the_listen_address() {
        for listen in [
            "0.0.0.0:8080",
            "[::]:8080",
            "127.0.0.1:8080",
            "10.0.0.5:8080",
        ] {
            for simulator in [true, false] {
                assert_eq!(
                    server_ip("203.0.113.10", simulator, addr(listen)).unwrap(),
                    ip("203.0.113.10"),
                    "{listen}"
                );
            }
        }
        assert_eq!(
            server_ip("2001:db8::10", false, addr("0.0.0.0:8080")).unwrap(),
            ip("2001:db8::10")
        );
    }

    #[test]
    fn without_it_a_specific_listen_address_is_sent() {
        for listen in ["10.0.0.5:8080", "[2001:db8::5]:8080", "127.0.0.1:0"] {
            for simulator in [true, false] {
                assert_eq!(
                    server_ip("", simulator, addr(listen)).unwrap(),
                    addr(listen).ip()
                );
            }
        }
    }

    #[test]
    fn listening_everywhere_against_the_real_gateway_without_it_refuses_to_start_naming_the_key() {
        for listen in ["0.0.0.0:8080", "[::]:8080"] {
            let error = format!("{:#}", server_ip("", false, addr(listen)).unwrap_err());
            assert!(error.starts_with("vnpay.server_ip: "), "{error}");
            assert!(error.contains("FLASHGATE_VNPAY__SERVER_IP"), "{error}");
            assert_eq!(
                server_ip("", true, addr(listen)).unwrap(),
                ip("127.0.0.1"),
                "the bundled simulator does not care"
            );
        }
    }
}
