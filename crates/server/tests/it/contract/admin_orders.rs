//! The operator's order tools driven to each answer they document: search, detail, refund (with and
//! without its key, of an order that cannot be refunded), review settlement, and marking refunded an
//! order whose refund the gateway refused, on orders paid and put under review by signed IPNs (the
//! bundled simulator never saw those payments, so it refuses their refunds: 91).

use super::checked::{ADMIN_TOKEN, Checked};
use flashgate::workers::refunder::Refunder;
use flashgate_core::OrderId;
use flashgate_testkit::{eventually, key};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use vnpay::{Callback, HashSecret, ResponseCode, TmnCode, TransactionStatus, TxnRef};

/// The defaults file's VNPay terminal, which the test settings keep.
const TMN_CODE: &str = "FLASHGT1";
const HASH_SECRET: &str = "dev-vnpay-secret-change-me";

/// A signed IPN for `order` as VNPay would send it, with the given result codes.
fn ipn(order: &serde_json::Value, response: ResponseCode, status: TransactionStatus) -> String {
    let id = OrderId(uuid::Uuid::parse_str(order["id"].as_str().unwrap()).unwrap());
    let amount = u64::try_from(order["amount_vnd"].as_i64().unwrap()).unwrap();
    let callback = Callback {
        tmn_code: TmnCode::parse(TMN_CODE).unwrap(),
        amount: vnpay::Vnd::new(amount),
        bank_code: "NCB".to_owned(),
        bank_tran_no: None,
        card_type: Some("ATM".to_owned()),
        pay_date: None,
        order_info: "Thanh toan don hang".to_owned(),
        transaction_no: 14_000_001,
        response_code: response,
        transaction_status: status,
        txn_ref: TxnRef::parse(id.txn_ref()).unwrap(),
    };
    format!(
        "/payments/vnpay/ipn?{}",
        callback.sign(&HashSecret::new(HASH_SECRET)).to_query()
    )
}

/// `refunder` belongs to the checked instance, which hands an order to its operator after one refusal.
pub async fn the_admin_order_tools_answer_as_documented(c: &Checked<'_>, refunder: &Refunder) {
    let created = c
        .admin(
            Method::POST,
            "/admin/products",
            json!({"sku": format!("ops-{}", uuid::Uuid::new_v4().simple()), "name": "Operator's",
                "price_vnd": 250_000, "stock": 10}),
        )
        .await;
    let product = created.assert_status(201)["id"].as_i64().unwrap();
    let cheap = c
        .admin(
            Method::POST,
            "/admin/products",
            json!({"sku": "cheap", "name": "Sticker", "price_vnd": 1_000, "stock": 1}),
        )
        .await;
    cheap.assert_problem(422, "price_not_payable");
    let dear = c
        .admin(
            Method::POST,
            "/admin/products",
            json!({"sku": format!("dear-{}", uuid::Uuid::new_v4().simple()), "name": "Car",
                "price_vnd": 999_999_999, "stock": 2}),
        )
        .await;
    let dear = dear.assert_status(201)["id"].as_i64().unwrap();
    let token = c.api.token("contract-operator-buyer");
    c.purchase(&token, &key(), json!({"product_id": dear, "quantity": 2}))
        .await
        .assert_problem(422, "amount_not_payable");
    let mut orders = Vec::new();
    for _ in 0..3 {
        let placed = c
            .purchase(
                &token,
                &key(),
                json!({"product_id": product, "quantity": 1}),
            )
            .await;
        orders.push(placed.assert_status(201));
    }
    let [paid, review, pending] = [&orders[0], &orders[1], &orders[2]];
    for (order, response, status) in [
        (paid, ResponseCode::Success, TransactionStatus::Success),
        (
            review,
            ResponseCode::Suspicious,
            TransactionStatus::SuspectedFraud,
        ),
    ] {
        let answer = c.get(&ipn(order, response, status)).await;
        assert_eq!(answer.assert_status(200)["RspCode"], "00");
    }
    let id = |order: &serde_json::Value| order["id"].as_str().unwrap().to_owned();
    let admin_get = |path: String| async move {
        c.call(Method::GET, &path, |r| r.bearer_auth(ADMIN_TOKEN))
            .await
    };

    let found = admin_get("/admin/orders?status=payment_review&limit=1".to_owned()).await;
    assert_eq!(found.assert_status(200)["orders"][0]["id"], id(review));
    for bad in [
        "limit=0",
        "status=shipped",
        "cursor=nope",
        "customer=",
        "created_before=9999-12-31T23:59:59-00:01",
        "created_from=9999-12-31T23:59:59-23:59",
        "created_from=2026-12-05%2010:00:00Z",
        "cursor=",
    ] {
        admin_get(format!("/admin/orders?{bad}"))
            .await
            .assert_problem(422, "invalid_request");
    }
    c.get("/admin/orders")
        .await
        .assert_problem(401, "unauthorized");

    let detail = admin_get(format!("/admin/orders/{}", id(paid))).await;
    assert_eq!(detail.assert_status(200)["order"]["status"], "paid");
    for missing in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        admin_get(format!("/admin/orders/{missing}"))
            .await
            .assert_problem(404, "order_not_found");
    }
    c.get(&format!("/admin/orders/{}", id(paid)))
        .await
        .assert_problem(401, "unauthorized");

    let refund = |order: String, key: Option<&'static str>| async move {
        c.call(
            Method::POST,
            &format!("/admin/orders/{order}/refund"),
            |r| {
                let r = r.bearer_auth(ADMIN_TOKEN);
                match key {
                    Some(key) => r.header("Idempotency-Key", key),
                    None => r,
                }
            },
        )
        .await
    };
    for _ in 0..2 {
        let started = refund(id(paid), Some("contract-refund")).await;
        assert_eq!(started.assert_status(202)["status"], "refund_pending");
    }
    refund(id(paid), None)
        .await
        .assert_problem(400, "idempotency_key_required");
    refund(id(pending), Some("contract-refund-pending"))
        .await
        .assert_problem(409, "not_refundable");
    refund(
        uuid::Uuid::new_v4().to_string(),
        Some("contract-refund-missing"),
    )
    .await
    .assert_problem(404, "order_not_found");
    c.call(
        Method::POST,
        &format!("/admin/orders/{}/refund", id(paid)),
        |r| r.header("Idempotency-Key", "contract-refund"),
    )
    .await
    .assert_problem(401, "unauthorized");

    // The gateway refuses the paid order's refund: it waits for the operator, who records it refunded.
    let refused = eventually(Duration::from_secs(10), || async {
        refunder.run_once().await.unwrap();
        let detail = admin_get(format!("/admin/orders/{}", id(paid))).await;
        detail.assert_status(200)["order"]["status"] == "refund_failed"
    })
    .await;
    assert!(refused, "the refused refund reached the operator");
    let refunded = format!("/admin/orders/{}/refunded", id(paid));
    let reason = json!({"reason": "bank transfer, ref 42"});
    c.admin(
        Method::POST,
        &format!("/admin/orders/{}/refunded", id(pending)),
        reason.clone(),
    )
    .await
    .assert_problem(409, "not_refund_failed");
    c.admin(
        Method::POST,
        &format!("/admin/orders/{}/refunded", uuid::Uuid::new_v4()),
        reason.clone(),
    )
    .await
    .assert_problem(404, "order_not_found");
    c.admin(Method::POST, &refunded, json!({"reason": ""}))
        .await
        .assert_problem(422, "invalid_request");
    c.call(Method::POST, &refunded, |r| r.json(&reason))
        .await
        .assert_problem(401, "unauthorized");
    c.refuse_bodies(Method::POST, &refunded, ADMIN_TOKEN, None)
        .await;
    let marked = c.admin(Method::POST, &refunded, reason).await;
    assert_eq!(marked.assert_status(200)["status"], "refunded");

    let settle = format!("/admin/orders/{}/review", id(review));
    let accepted = c
        .admin(Method::POST, &settle, json!({"decision": "accept_paid"}))
        .await;
    assert_eq!(accepted.assert_status(200)["status"], "paid");
    c.admin(Method::POST, &settle, json!({"decision": "accept_paid"}))
        .await
        .assert_problem(409, "not_under_review");
    c.admin(
        Method::POST,
        &format!("/admin/orders/{}/review", uuid::Uuid::new_v4()),
        json!({"decision": "refund"}),
    )
    .await
    .assert_problem(404, "order_not_found");
    // Well-formed JSON of the wrong type is a request that does not fit, as on every route.
    for decision in [
        json!("maybe"),
        json!(null),
        json!(1),
        json!({"refund": true}),
    ] {
        c.admin(Method::POST, &settle, json!({ "decision": decision }))
            .await
            .assert_problem(422, "invalid_request");
    }
    c.refuse_bodies(Method::POST, &settle, ADMIN_TOKEN, None)
        .await;
}
