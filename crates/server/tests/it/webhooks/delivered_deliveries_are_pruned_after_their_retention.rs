//! An acknowledged delivery is deleted once `webhooks.delivered_retention_seconds` have passed, and
//! only then; deliveries still owed stay whatever their age, and the event stays in the ledger.

use super::{fan_out, register};
use flashgate_testkit::receiver::{Mode, Receiver};
use flashgate_testkit::{Backend, manual_clock};
use time::Duration;

on_each_backend!(delivered_deliveries_are_pruned_after_their_retention);

async fn delivered_deliveries_are_pruned_after_their_retention(backend: Backend) {
    let clock = manual_clock();
    let app = super::spawn(backend)
        .clock(clock.clone())
        .set("webhooks.delivered_retention_seconds", 3_600)
        .start()
        .await;
    let api = app.api(0);
    let dispatcher = &app.instances[0].dispatcher;
    let receiver = Receiver::start().await;
    register(api, &receiver.url(), None).await;
    let product = api.product(10, None).await;
    api.win("cus_early", product).await;
    fan_out(&app.instances[0], 1).await;
    assert_eq!(dispatcher.run_once().await.unwrap().delivered, 1);

    // Within the retention the acknowledged delivery stays; a second order's delivery fails.
    receiver.set(Mode::Fail);
    api.win("cus_owed", product).await;
    fan_out(&app.instances[0], 1).await;
    let step = dispatcher.run_once().await.unwrap();
    assert_eq!((step.retried, step.pruned), (1, 0), "{step:?}");

    clock.advance(Duration::seconds(3_601));
    let step = dispatcher.run_once().await.unwrap();
    assert_eq!(step.pruned, 1, "{step:?}");
    let direct = app.direct().await;
    let left = direct
        .count("SELECT COUNT(*) FROM webhook_deliveries WHERE delivered_at IS NULL")
        .await;
    assert_eq!(left, 1, "the delivery still owed stays");
    assert_eq!(
        direct
            .count("SELECT COUNT(*) FROM webhook_deliveries")
            .await,
        1
    );
    assert_eq!(direct.count("SELECT COUNT(*) FROM order_events").await, 2);
}
