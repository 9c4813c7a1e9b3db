//! Deliveries go over HTTPS to an endpoint whose certificate a private CA signed once
//! `webhooks.root_ca_file` names that CA (as the VNPay client trusts `vnpay.root_ca_file`); without
//! it the handshake fails and nothing is delivered. Needs the test command's TLS services
//! (`FLASHGATE_TEST_TLS_CA`).

use super::{fan_out, register};
use flashgate_testkit::Backend;
use flashgate_testkit::receiver::Receiver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoints_are_trusted_through_the_configured_root_ca() {
    let ca = crate::going_live::required_env("FLASHGATE_TEST_TLS_CA");
    let receiver = Receiver::start_tls(std::path::Path::new(&ca)).await;
    let db = Backend::Sqlite.database().await;
    let untrusting = super::spawn(Backend::Sqlite).instance(&db).await;
    let trusting = super::spawn(Backend::Sqlite)
        .set("webhooks.root_ca_file", &ca)
        .instance(&db)
        .await;
    register(&trusting.api, &receiver.https_url(), None).await;
    let product = trusting.api.product(5, None).await;
    trusting.api.win("cus_tls", product).await;
    fan_out(&trusting, 1).await;

    let refused = untrusting.dispatcher.run_once().await.unwrap();
    assert_eq!((refused.claimed, refused.retried), (1, 1), "{refused:?}");
    assert!(receiver.received().is_empty());

    // Due again after the schedule's first wait (5 s by default).
    let delivered = flashgate_testkit::eventually(std::time::Duration::from_secs(30), || async {
        trusting.dispatcher.run_once().await.unwrap().delivered == 1
    })
    .await;
    assert!(delivered, "the trusting instance delivers over HTTPS");
    assert_eq!(receiver.received().len(), 1);
}
