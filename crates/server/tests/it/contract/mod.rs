//! The HTTP contract: the OpenAPI document served at `/openapi.json` names every route of the router
//! and nothing else, real answers on PostgreSQL and SQLite are the ones it documents, and no input,
//! however malformed, gets an answer it does not document or a 5xx.

mod admin_orders;
mod answers_under_pressure;
mod checked;
mod dashboard;
mod document;
mod events;
mod every_bound_is_in_the_document;
mod every_documented_answer_is_the_real_one;
mod every_route_is_documented;
mod generate;
mod no_input_gets_a_5xx_or_an_undocumented_answer;
mod sessions;
mod webhooks;
