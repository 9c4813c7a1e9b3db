//! Liveness and readiness: `/healthz` answers while the process runs, `/readyz` names the backend it
//! checked.

use crate::harness::{Backend, Spawn};
use serde_json::json;

on_each_backend!(healthz_and_readyz_answer_200_naming_the_backend);

async fn healthz_and_readyz_answer_200_naming_the_backend(backend: Backend) {
    let app = Spawn::new(backend).start().await;
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
}
