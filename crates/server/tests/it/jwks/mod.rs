//! Buyer tokens signed with keys from the shop's JWKS, served by a real HTTPS server behind the test
//! command's private CA (`FLASHGATE_TEST_TLS_CA`): RS256, ES256 and EdDSA keys made in the test,
//! rotation, unknown kids and algorithms, a JWKS server that is down or answers garbage, `iss` and
//! `aud`, a flood of forged kids, answers kept as their Cache-Control says, and a start the JWKS
//! holds back no longer than its timeout. Each instance's fetches are counted at the server and by
//! the instance itself.

mod a_forged_kid_flood_makes_one_fetch;
mod answers_are_kept_as_their_cache_control_says;
mod cached_keys_outlive_a_jwks_server_that_is_down;
mod each_algorithm_verifies_and_a_token_never_chooses_its_own;
mod issuer_and_audience_are_checked_for_jwks_keys;
mod keys_rotate_through_the_jwks;
mod support;
mod the_start_waits_for_the_jwks_at_most_its_timeout;
