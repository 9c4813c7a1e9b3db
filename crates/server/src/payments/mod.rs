//! Payments through VNPay: the gateway adapter (payment links, querydr, refund) and the handling of
//! its callbacks. Every gateway message is recorded raw before it is acted on, and every verdict goes
//! through the one settlement path of `flashgate-core`.

pub mod answer;
pub mod callbacks;
pub mod gateway;
pub mod operator;
pub mod payable;
pub mod settings;

pub use callbacks::Callbacks;
pub use gateway::VnpayGateway;
