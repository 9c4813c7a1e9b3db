//! flashgate's integration suite: every test drives real instances over HTTP, against a fresh
//! PostgreSQL database and a fresh SQLite file, with many requests in flight at once.
//!
//! Needs PostgreSQL at `FLASHGATE_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! as a superuser; the outage tests also log the app in as the role `flashgate_it_app`, which they
//! create, without a password (trust authentication on the test server).

// Scenario helpers are shared by many tests and are not themselves tests, so clippy's
// allow-unwrap-in-tests does not reach them; a broken expectation should fail loudly all the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod harness;

mod a_customer_never_exceeds_the_per_customer_limit;
mod a_database_outage_answers_503_and_loses_nothing;
mod a_graceful_shutdown_finishes_requests_in_flight;
mod a_request_that_outlives_its_timeout_is_answered_503;
mod admins_manage_the_catalogue;
mod bad_input_is_refused_and_writes_nothing;
mod buyers_racing_for_the_last_units_never_oversell;
mod buyers_see_only_their_own_orders;
mod expired_holds_return_their_units;
mod health_and_readiness_answer;
mod json_logs_carry_the_request_id;
mod one_idempotency_key_makes_one_order;
mod only_the_admin_reaches_the_admin_routes;
mod the_sale_monitor_reads_what_the_database_holds;
