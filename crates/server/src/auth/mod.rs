//! Who a buyer is: stateless signed tokens (HS256 with the shared secret; RS256, ES256 and EdDSA with
//! public keys chosen by `kid`, configured or from the shop's JWKS) or stateful server-side sessions,
//! as `[auth]` allows.

pub mod jwks;
pub mod sessions;
pub mod settings;
pub mod tokens;

pub use settings::{AuthSettings, BuyerCredentials};
pub use tokens::{BuyerTokens, TokenError};
