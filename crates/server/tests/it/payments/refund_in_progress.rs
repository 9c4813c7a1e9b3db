//! A refund whose answer was lost: the gateway took it, so asking again is answered 94 ("a refund
//! request for this transaction is already being processed", unsigned). The refunder looks at the
//! payment's signed status, finds the refund under way and records the order refunded, once,
//! instead of asking again until the gateway calls a second refund more than the payment.

use super::SECRET;
use flashgate_core::OrderStatus;
use flashgate_testkit::{Backend, manual_clock, order_uuid, payment_url};
use reqwest::Method;
use std::net::{IpAddr, Ipv4Addr};
use time::OffsetDateTime;
use vnpay::{
    ClientConfig, HashSecret, OrderInfo, ReceivedQuery, RefundKind, RefundRequest, Terminal,
    TmnCode, TxnRef, Vnd, VnpDateTime, VnpayClient,
};
use vnpay_sim::Outcome;

on_each_backend!(a_refund_whose_answer_was_lost_is_recorded_once_the_gateway_shows_it);

async fn a_refund_whose_answer_was_lost_is_recorded_once_the_gateway_shows_it(backend: Backend) {
    let clock = manual_clock();
    let running = super::spawn(backend, clock.clone()).start().await;
    let app = running.instance(0);
    let product = app.api.product(5, None).await;
    let order = app.api.win("cus_lost_refund", product).await;
    app.sim()
        .pay(payment_url(&order), Outcome::Success)
        .unwrap();
    app.sim().ipn_idle().await;
    assert_eq!(app.order(&order).await.status, OrderStatus::Paid);
    let id = order_uuid(&order);
    app.api
        .send(
            app.api
                .admin(Method::POST, &format!("/admin/orders/{id}/refund"))
                .header("Idempotency-Key", format!("refund-{id}")),
        )
        .await
        .assert_status(202);

    // The refunder's first attempt, as the gateway saw it: taken, its answer never heard.
    let paid = &app.sim().payments()[0].request;
    let (txn_ref, amount) = (paid.txn_ref.clone(), paid.amount);
    let request = ReceivedQuery::parse(payment_url(&order).split_once('?').unwrap().1).unwrap();
    let created = VnpDateTime::parse(request.get("vnp_CreateDate").unwrap()).unwrap();
    let terminal = Terminal::new(TmnCode::parse("FLASHGT1").unwrap(), HashSecret::new(SECRET));
    let gateway = VnpayClient::new(ClientConfig::new(app.sim().api_url(), terminal)).unwrap();
    let first = RefundRequest::new(
        RefundKind::Full,
        TxnRef::parse(&txn_ref).unwrap(),
        Vnd::new(amount.get()),
        created,
        "flashgate",
        OrderInfo::parse("Hoan tien don hang").unwrap(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    gateway.refund(&first).await.unwrap();

    let step = app.refunder.run_once().await.unwrap();
    assert_eq!(step.refunded, 1, "{step:?}");
    assert_eq!(app.order(&order).await.status, OrderStatus::Refunded);
    assert_eq!(app.refunder.run_once().await.unwrap().claimed, 0);
    let refunds = &app.sim().payments()[0].refunds;
    assert_eq!(refunds.len(), 1, "one refund moved the money: {refunds:?}");
    app.assert_audit_clean().await;
}
