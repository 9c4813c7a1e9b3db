//! Liveness and readiness: `/healthz` answers while the process runs, `/readyz` names the backend it
//! checked and reports each dependency, an unreachable gateway included.

use flashgate_testkit::Backend;
use serde_json::json;

on_each_backend!(
    healthz_and_readyz_answer_200_naming_the_backend,
    an_unreachable_gateway_is_reported_without_stopping_the_sale
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
}
