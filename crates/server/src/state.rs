//! What every request handler shares: the store's ports, the settings, the clock and the token keys.

use crate::auth::BuyerTokens;
use crate::config::Settings;
use crate::fastpath::FastPath;
use flashgate_core::Clock;
use flashgate_store::Store;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub clock: Arc<dyn Clock>,
    pub tokens: BuyerTokens,
    /// The admission gate, cache, rate limits and purchase slots.
    pub fastpath: Arc<FastPath>,
}
