//! The service as buyers and admins meet it, on PostgreSQL and SQLite with each purchase strategy:
//! never overselling, per-customer limits, idempotency, the catalogue, refusals, timeouts, database
//! outages, graceful shutdown, logs, health and the sale monitor.

use flashgate_testkit::{Backend, Spawn};

mod a_customer_never_exceeds_the_per_customer_limit;
mod a_database_outage_answers_503_and_loses_nothing;
mod a_graceful_shutdown_finishes_requests_in_flight;
mod a_request_that_outlives_its_timeout_is_answered_503;
mod admins_manage_the_catalogue;
mod an_integer_may_be_written_with_a_zero_fraction;
mod bad_input_is_refused_and_writes_nothing;
mod buyers_racing_for_the_last_units_never_oversell;
mod buyers_see_only_their_own_orders;
mod expired_holds_return_their_units;
mod health_and_readiness_answer;
mod json_logs_carry_the_request_id;
mod one_idempotency_key_makes_one_order;
mod only_the_admin_reaches_the_admin_routes;
mod pages_are_hardened_and_settings_at_their_ceilings_run;
mod the_sale_monitor_reads_what_the_database_holds;

/// An instance of this suite (and of the contract suite): crowds bigger than the rate limits and the
/// purchase slots, and an expirer that runs only when a test asks.
pub fn spawn(backend: Backend) -> Spawn {
    let spawn = Spawn::new(backend)
        // Every test buyer comes from 127.0.0.1 and the crowds are bigger than the purchase slots:
        // rate limits and shedding have their own tests (`under_load`).
        .set("limits.enabled", false)
        .set("shedding.max_concurrent_purchases", 100_000)
        .set("shedding.queue_budget_ms", 60_000)
        // Workers are driven by the tests through `run_once`; the background loop stays out of the way.
        .set("expirer.interval_ms", 3_600_000)
        // A hold here ends when its time is up; the grace the expirer leaves the gateway past the
        // pay page's expiry has its own tests (`payments`).
        .set("payments.expiry_grace_seconds", 0);
    match backend {
        // One writer: a burst of purchases queues for it rather than being shed after 3 s.
        Backend::Sqlite => spawn.set("database.acquire_timeout_ms", 10_000),
        Backend::Postgres => spawn,
    }
}
