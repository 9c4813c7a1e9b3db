//! Payments end to end: flashgate with its bundled VNPay simulator, over HTTP, against real
//! PostgreSQL and SQLite, on a driven clock; the tests run the payment workers themselves.

use flashgate_core::{Clock, ManualClock};
use flashgate_testkit::{Backend, Instance, Spawn, TestDatabase, manual_clock};
use std::sync::Arc;
use vnpay::{Callback, ResponseCode, TmnCode, TransactionStatus, TxnRef, Vnd};
use vnpay_sim::Faults;

mod callbacks;
mod isolation;
mod late_money;
mod late_window;
mod lost_webhooks;
mod operator;
mod paying;
mod refund_in_progress;
mod refusals;
mod review;
mod workers;

/// The defaults file's VNPay hash secret, shared with the bundled simulator.
pub const SECRET: &str = "dev-vnpay-secret-change-me";

/// An instance of this suite on `clock`, whose workers run only when a test asks.
/// A successful payment's callback for `amount` VND, as the terminal `tmn_code` would send it.
pub fn paid_callback(tmn_code: &str, txn_ref: &str, amount: u64) -> Callback {
    Callback {
        tmn_code: TmnCode::parse(tmn_code).unwrap(),
        amount: Vnd::new(amount),
        bank_code: "NCB".into(),
        bank_tran_no: Some("VNP14000001".into()),
        card_type: Some("ATM".into()),
        pay_date: None,
        order_info: "Thanh toan don hang".into(),
        transaction_no: 14_000_001,
        response_code: ResponseCode::Success,
        transaction_status: TransactionStatus::Success,
        txn_ref: TxnRef::parse(txn_ref).unwrap(),
    }
}

pub fn spawn(backend: Backend, clock: Arc<dyn Clock>) -> Spawn {
    Spawn::new(backend)
        .clock(clock)
        .workers_on_demand()
        .set("database.acquire_timeout_ms", 10_000)
        // Buyers and the simulator's callbacks all come from 127.0.0.1: rate limits have their own tests.
        .set("limits.enabled", false)
}

/// The ids of a page of `GET /admin/orders`, in its order.
pub fn order_ids(page: &serde_json::Value) -> Vec<String> {
    page["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

/// From now on the simulator loses every IPN: only the workers' questions settle orders.
pub fn drop_every_ipn(app: &Instance) {
    app.sim()
        .set_faults(Faults {
            ipn_drop_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
}

/// From now on VNPay's clock runs `by` behind ours (other faults kept). The gateway refuses a
/// payment past its `vnp_ExpireDate` by its own clock (spec §2.2), so money reaches an order whose
/// hold flashgate released (the expirer asks a grace past that date) only when the two clocks
/// disagree by more than the grace: the late money some tests are about.
pub fn gateway_clock_behind(app: &Instance, by: time::Duration) {
    let mut faults = app.sim().faults();
    faults.clock_skew_ms = -i64::try_from(by.whole_milliseconds()).unwrap();
    app.sim().set_faults(faults).unwrap();
}

/// A database, a driven clock and an instance of this suite on them whose IPNs are all lost.
pub async fn without_ipns(backend: Backend) -> (TestDatabase, Arc<ManualClock>, Instance) {
    let db = backend.database().await;
    let clock = manual_clock();
    let app = spawn(backend, clock.clone()).instance(&db).await;
    drop_every_ipn(&app);
    (db, clock, app)
}
