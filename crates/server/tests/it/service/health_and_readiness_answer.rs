//! Liveness and readiness: `/healthz` answers while the process runs, `/readyz` names the backend it
//! checked and reports each dependency, an unreachable gateway included.

use flashgate_testkit::Backend;
use serde_json::json;

on_each_backend!(
    healthz_and_readyz_answer_200_naming_the_backend,
    an_unreachable_gateway_is_reported_without_stopping_the_sale,
    a_flood_of_probes_costs_the_gateway_one_connection_a_second
);

async fn healthz_and_readyz_answer_200_naming_the_backend(backend: Backend) {
    let app = super::spawn(backend).start().await;
    let api = app.api(0);
    let health = api.get("/healthz", None).await.assert_status(200);
    assert_eq!(health, json!({"status": "ok"}));

    let ready = api.get("/readyz", None).await.assert_status(200);
    let name = match backend {
        Backend::Postgres => "postgres",
        Backend::Sqlite => "sqlite",
    };
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["checks"]["database"]["status"], "up", "{ready}");
    assert_eq!(ready["checks"]["database"]["backend"], name, "{ready}");
    assert_eq!(ready["checks"]["redis"]["status"], "in_process", "{ready}");
    assert_eq!(
        ready["checks"]["gateway"],
        json!({"status": "up", "kind": "simulator"})
    );
}

async fn an_unreachable_gateway_is_reported_without_stopping_the_sale(backend: Backend) {
    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = super::spawn(backend)
        .set("vnpay.pay_url", format!("http://127.0.0.1:{port}/pay"))
        .set("vnpay.api_url", format!("http://127.0.0.1:{port}/api"))
        .start()
        .await;
    let ready = app.api(0).get("/readyz", None).await.assert_status(200);
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["checks"]["gateway"]["status"], "down", "{ready}");
    assert_eq!(ready["checks"]["gateway"]["kind"], "vnpay", "{ready}");
    // A fixed phrase, not the system's error text.
    assert_eq!(
        ready["checks"]["gateway"]["error"], "cannot connect to the API host",
        "{ready}"
    );
}

/// `/readyz` is open to anyone: however many probes arrive, the gateway's API host gets one TCP
/// connection per `CHECKS_KEPT`, and the probes all get its answer.
async fn a_flood_of_probes_costs_the_gateway_one_connection_a_second(backend: Backend) {
    let gateway = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = gateway.local_addr().unwrap().port();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    let accepting = tokio::spawn(async move {
        while let Ok((stream, _)) = gateway.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    let app = super::spawn(backend)
        .set("vnpay.pay_url", format!("http://127.0.0.1:{port}/pay"))
        .set("vnpay.api_url", format!("http://127.0.0.1:{port}/api"))
        .start()
        .await;
    let api = app.api(0);
    let started = std::time::Instant::now();
    let probes = (0..40).map(|_| api.get("/readyz", None));
    for ready in futures_util::future::join_all(probes).await {
        let ready = ready.assert_status(200);
        assert_eq!(ready["checks"]["gateway"]["status"], "up", "{ready}");
    }
    let elapsed = started.elapsed();
    let made = connections.load(std::sync::atomic::Ordering::SeqCst);
    // One per second begun (the probes may straddle a second's end).
    let allowed = usize::try_from(elapsed.as_secs()).unwrap() + 2;
    assert!(
        (1..=allowed).contains(&made),
        "{made} connections for 40 probes in {elapsed:?}"
    );
    accepting.abort();
}
