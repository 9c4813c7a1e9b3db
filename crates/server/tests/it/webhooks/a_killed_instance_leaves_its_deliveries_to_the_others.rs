//! An instance killed (SIGKILL) while its delivery hangs on the receiver leaves nothing lost: once its
//! lease lapses another instance claims the delivery and sends it again, with the same `webhook-id`.

use super::register;
use flashgate_testkit::receiver::{Mode, Receiver};
use flashgate_testkit::{Backend, TestDatabase, eventually};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_leaves_its_deliveries_to_the_others() {
    let db = TestDatabase::postgres().await;
    let url = db.url.clone();
    let app = super::spawn(Backend::Postgres).start_on(db).await;
    let api = app.api(0);
    let receiver = Receiver::start().await;
    receiver.set(Mode::Hang);
    register(api, &receiver.url(), None).await;
    let product = api.product(5, None).await;
    api.win("cus_killed", product).await;

    let mut doomed = Command::new(env!("CARGO_BIN_EXE_flashgate"))
        .arg("serve")
        .env_clear()
        .env("FLASHGATE_LISTEN", "127.0.0.1:0")
        .env("FLASHGATE_DATABASE_URL", &url)
        .env("FLASHGATE_LOG__FILTER", "error")
        .env("FLASHGATE_WEBHOOKS__INTERVAL_MS", "20")
        .env("FLASHGATE_WEBHOOKS__TIMEOUT_MS", "3000")
        .env("FLASHGATE_WEBHOOKS__LEASE_SECONDS", "4")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let claimed = eventually(Duration::from_secs(60), || async {
        !receiver.received().is_empty()
    })
    .await;
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    assert!(claimed, "the doomed instance sent the delivery");
    let first = receiver.received();
    assert_eq!(first.len(), 1, "one attempt, killed while it waited");
    assert_eq!(first[0].answered, 0);

    receiver.set(Mode::Acknowledge);
    let dispatcher = &app.instances[0].dispatcher;
    assert_eq!(
        dispatcher.run_once().await.unwrap().claimed,
        0,
        "the lease keeps others off while it runs"
    );
    let resent = eventually(Duration::from_secs(30), || async {
        dispatcher.run_once().await.unwrap().delivered == 1
    })
    .await;
    assert!(resent, "the delivery is sent again once the lease lapsed");
    let all = receiver.received();
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[1].id(),
        all[0].id(),
        "the same event, the same webhook-id"
    );
    assert_eq!(all[1].answered, 204);
    let open = app
        .direct()
        .await
        .count("SELECT COUNT(*) FROM webhook_deliveries WHERE delivered_at IS NULL")
        .await;
    assert_eq!(open, 0);
}
