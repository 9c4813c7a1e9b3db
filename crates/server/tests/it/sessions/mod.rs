//! Buyers' credentials both ways, against the real service: RS256 and EdDSA tokens chosen by `kid`
//! (rotation, alg confusion, leeway) and server-side sessions on SQLite, PostgreSQL and Redis (sliding
//! and absolute expiry on a driven clock, revocation seen at once by another instance, the
//! `auth.buyers` setting, forged ids; never outliving the token that started them), sessions with
//! copies on Redis through a Redis outage, and `iss`/`aud` checked for every kind of key.

mod a_session_never_outlives_its_token;
mod server_side_sessions_slide_expire_and_revoke;
mod sessions_outlive_a_redis_outage;
mod support;
mod tokens_are_checked_by_the_key_their_kid_names;
