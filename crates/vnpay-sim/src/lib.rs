//! A local VNPay 2.1.0 gateway for development, tests and load generation.
//!
//! It serves the payment page (`/paymentv2/vpcpay.html`) with one button per outcome, redirects
//! the browser to the merchant's Return URL with a signed callback, delivers IPNs with VNPay's
//! retry policy, and answers querydr and refund on `/merchant_webapi/api/transaction`. It enforces
//! `vnp_ExpireDate` (CreateDate + 15 minutes without one) by its [`Clock`]: a page opened later is
//! `Error.html?code=15`, a payment finished later ends timed out. Faults (dropped, delayed,
//! duplicated, reordered or failing IPNs; a slow or unavailable API; a skewed gateway clock) can be
//! switched on at start or at run time through [`SimHandle::set_faults`] or `PUT /sim/faults`.
//!
//! ```no_run
//! use std::time::Duration;
//! use vnpay_sim::{Outcome, SimConfig, SimServer};
//!
//! # async fn demo(signed_pay_url: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let config = SimConfig::default()
//!     .terminal("TESTTMN1", "secret", Some("http://127.0.0.1:3000/vnpay/ipn".into()))
//!     .with_ipn_retry_interval(Duration::from_millis(50));
//! let sim = SimServer::spawn(config).await?;
//! // Point the merchant at sim.pay_page_url() and sim.api_url(), then:
//! let done = sim.pay(signed_pay_url, Outcome::Success)?;
//! println!("browser goes to {}", done.return_url);
//! sim.ipn_idle().await;
//! # Ok(())
//! # }
//! ```
//!
//! To mount it inside another axum application instead, build a [`SimHandle`] and nest
//! [`router`] under a path, with [`SimConfig::base_url`] set to that mount point.

mod api;
pub mod clock;
mod complete;
pub mod config;
pub mod faults;
pub mod handle;
pub mod ipn;
pub mod outcome;
pub mod page_error;
mod pages;
pub mod pay_request;
mod routes;
pub mod server;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{SimConfig, TerminalConfig};
pub use faults::{ApiOutage, Faults, InvalidFaults};
pub use handle::{Completed, SimHandle, StartError};
pub use ipn::{AttemptResult, IpnDelivery};
pub use outcome::Outcome;
pub use page_error::PageError;
pub use routes::router;
pub use server::{ServeError, SimServer};
pub use store::{PaymentId, SimPayment, SimRefund};
