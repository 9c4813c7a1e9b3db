//! Graceful shutdown: cancelling the token while purchases are in flight lets each of them finish with a
//! full answer before `run` returns, and the books balance. The instance runs on a runtime of its own
//! that is dropped as soon as `run` returns, as the binary's is, so anything `run` left unfinished dies.

use flashgate::Application;
use flashgate::database::open_store;
use flashgate_core::{Clock, Strategy};
use flashgate_testkit::key;
use flashgate_testkit::{Api, Backend, StockLock, all_at_once, postgres_connections};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

/// Fewer than the pool's connections, so that every request can be held up inside a reservation.
const IN_FLIGHT: usize = 12;
const UNITS: i64 = 8;

on_each_backend!(cancelling_the_token_lets_in_flight_purchases_finish);

async fn cancelling_the_token_lets_in_flight_purchases_finish(backend: Backend) {
    let db = backend.database().await;
    let clock = Arc::new(CountingClock::default());
    let settings = super::spawn(backend)
        // A direct write reads the clock once per purchase (and its token's check once), which is
        // how the test knows every purchase is inside the service; the gate reads it in more places.
        .strategy(Strategy::Conditional)
        // Nothing else reads the clock while the test counts: every worker waits to be asked.
        .workers_on_demand()
        .set("gate.keeper_interval_ms", 3_600_000)
        // Requests queue behind the lock for as long as the test holds it.
        .set("database.acquire_timeout_ms", 60_000)
        .settings(&db);
    let _slots = postgres_connections(&db, settings.database.max_connections).await;
    let shutdown = CancellationToken::new();
    let (base, stopped) = serve_on_own_runtime(settings.clone(), clock.clone(), shutdown.clone());
    let api = Api::with_settings(base.await.expect("the instance starts"), &settings);
    let product = api.product(UNITS, None).await;
    let mut lock = StockLock::take(backend, &db.url, product).await;
    let mut calls = clock.calls.subscribe();
    let before = *calls.borrow();

    let firing = all_at_once(IN_FLIGHT, |i| {
        let api = api.clone();
        let token = api.token(&format!("buyer-{i}"));
        async move { api.place_order(&token, &key(), product, 1).await }
    });
    let shutting_down = async {
        // Each purchase reads the clock twice, judging its token's expiry and then timing its
        // order just before it reserves: when all have, every one of them is inside the service,
        // held up by the lock.
        calls
            .wait_for(|n| *n >= before + 2 * IN_FLIGHT)
            .await
            .expect("the clock reports calls");
        shutdown.cancel();
        lock.release().await;
        stopped.await.expect("the instance's thread reports back")
    };
    let (answers, run) = tokio::join!(firing, shutting_down);
    run.expect("run returns cleanly after the drain");

    for answer in &answers {
        match answer.status {
            201 => assert_eq!(answer.json()["status"], "pending_payment"),
            _ => answer.assert_problem(409, "sold_out"),
        }
    }
    let created = answers.iter().filter(|a| a.status == 201).count();
    assert_eq!(created, usize::try_from(UNITS).unwrap());
    let refused = api.http.get(format!("{}/healthz", api.base)).send().await;
    assert!(
        refused.is_err(),
        "a stopped instance accepts nothing: {refused:?}"
    );

    let store = open_store(&settings, false).await.expect("the store opens");
    let report = store.auditor.audit().await.expect("the audit runs");
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.orders, UNITS);
}

/// Builds and runs an instance on a thread and runtime of its own. Answers its address once it listens,
/// then `run`'s result once `run` has returned and the runtime is gone.
fn serve_on_own_runtime(
    settings: flashgate::Settings,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> (
    oneshot::Receiver<String>,
    oneshot::Receiver<anyhow::Result<()>>,
) {
    let (listening, base) = oneshot::channel();
    let (done, stopped) = oneshot::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let result = runtime.block_on(async move {
            let app = Application::build_with_clock(settings, clock).await?;
            let _ = listening.send(format!("http://{}", app.local_addr()?));
            app.run(shutdown).await
        });
        drop(runtime);
        let _ = done.send(result);
    });
    (base, stopped)
}

/// The system clock, counting how often it is read.
#[derive(Default)]
struct CountingClock {
    calls: watch::Sender<usize>,
}

impl Clock for CountingClock {
    fn now(&self) -> OffsetDateTime {
        self.calls.send_modify(|n| *n += 1);
        OffsetDateTime::now_utc()
    }
}
