//! `flashgate demo` end to end: the demo's own instance and sale, with a small crowd on a temporary
//! SQLite file, must sell exactly the stock, settle every payment (the dropped IPNs through the
//! reconciler), expire the unpaid holds and leave a clean audit.

use flashgate::demo::{self, Demo, Options};
use flashgate_testkit::{Backend, Spawn, TestDatabase};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_sells_the_stock_once_settles_every_payment_and_audits_clean() {
    let db = TestDatabase::sqlite();
    let configured = Spawn::new(Backend::Sqlite).settings(&db);
    let mut settings = demo::settings(configured).unwrap();
    // The unpaid holds run out within seconds rather than the demo's twenty.
    settings.inventory.hold = std::time::Duration::from_secs(4);
    let shutdown = CancellationToken::new();
    let running = Demo::start(settings, shutdown.clone()).await.unwrap();
    let options = Options {
        crowd: 200,
        stock: 10,
        drop_ipn_percent: 50,
        unpaid_percent: 30,
    };

    let summary = running
        .sale(&options, &|line| eprintln!("{line}"))
        .await
        .unwrap();
    eprintln!("{summary}");

    assert_eq!(summary.units_won, 10, "every unit is sold, none twice");
    assert_eq!(summary.orders_won, 10);
    assert_eq!(summary.sold_out, 190, "everyone else is told sold out");
    assert_eq!(summary.refused, 0);
    assert_eq!(summary.oversold, 0);
    assert_eq!(summary.paid_at_gateway, 7);
    assert_eq!(summary.gateway_errors, 0);
    assert_eq!(
        summary.lost_payments, 0,
        "every payment taken is a paid order"
    );
    assert_eq!(
        summary.paid_via_ipn + summary.paid_via_reconciler,
        7,
        "{summary}"
    );
    assert!(summary.paid_via_ipn > 0, "{summary}");
    assert!(
        summary.paid_via_reconciler > 0,
        "dropped IPNs are found by the reconciler: {summary}"
    );
    assert_eq!(summary.expired, 3, "the unpaid holds expire");
    assert_eq!(summary.available, 3, "and their units are back on sale");
    assert_eq!(summary.still_pending, 0);
    assert!(summary.audit.is_clean(), "{:#?}", summary.audit);
    assert!(summary.is_clean());

    shutdown.cancel();
    running.wait().await.unwrap();
}
