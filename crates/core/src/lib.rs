//! flashgate's domain, free of I/O: the values a checkout deals in (money, quantities, ids), products and
//! their sale windows, the order state machine with the stock each transition moves, the one clock, the
//! ports that storage adapters implement, and the use cases that tie them together: [`checkout`] (the
//! purchase, direct or gated, with its group commit), [`settle`] (a gateway verdict moving an order)
//! and [`session`] (buyers' server-side sessions).

pub mod audit;
pub mod checkout;
pub mod clock;
pub mod error;
pub mod events;
pub mod ids;
pub mod money;
pub mod order;
pub mod order_search;
pub mod overview;
pub mod payment;
pub mod ports;
pub mod product;
pub mod purchase;
pub mod session;
pub mod settle;
pub mod webhooks;

pub use checkout::Strategy;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Cause, StoreError};
pub use ids::{CustomerId, IdempotencyKey, OrderId, ProductId, Sku};
pub use money::{Quantity, Vnd};
pub use order::{Order, OrderStatus, StockEffect};
pub use product::{NewProduct, Product, ProductPatch, SaleWindow};
