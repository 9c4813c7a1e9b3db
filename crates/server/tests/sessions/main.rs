//! Buyers' credentials both ways, against the real service: RS256 and EdDSA tokens chosen by `kid`
//! (rotation, alg confusion, leeway) and server-side sessions on SQLite, PostgreSQL and Redis (sliding
//! and absolute expiry on a driven clock, revocation seen at once by another instance, the
//! `auth.buyers` setting, forged ids).

// Suite helpers are shared by many #[tokio::test]s and are not themselves tests; a test should fail
// loudly all the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The fast-path suite's instances, Redis prefixes and clock; this suite needs only part of them.
#[allow(dead_code)]
#[path = "../fastpath/common.rs"]
mod common;
mod sessions;
mod support;
mod tokens;
