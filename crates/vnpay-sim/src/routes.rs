//! The simulator's HTTP surface: the gateway's own endpoints plus `/sim/*` controls for tests.

use std::collections::HashMap;

use axum::extract::{Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::api;
use crate::faults::Faults;
use crate::handle::SimHandle;
use crate::outcome::Outcome;
use crate::page_error::PageError;
use crate::pages;

/// Every route, ready to serve or to mount (`Router::nest`) in another application.
pub fn router(sim: SimHandle) -> Router {
    Router::new()
        .route("/paymentv2/vpcpay.html", get(pay_page))
        .route("/paymentv2/complete", post(complete_form))
        .route("/paymentv2/Payment/Error.html", get(error_page))
        .route("/merchant_webapi/api/transaction", post(api::transaction))
        .route("/sim/pay", post(sim_pay))
        .route("/sim/faults", get(get_faults).put(put_faults))
        .route("/sim/ipn", get(ipn_log))
        .with_state(sim)
}

fn to_error_page(sim: &SimHandle, err: &PageError) -> Response {
    tracing::info!(code = err.code(), %err, "payment request refused");
    found(sim.error_page_url(err.code()))
}

/// A 302, which is what the gateway sends.
fn found(location: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

async fn pay_page(State(sim): State<SimHandle>, RawQuery(query): RawQuery) -> Response {
    let id = match sim.begin_payment(query.as_deref().unwrap_or_default()) {
        Ok(id) => id,
        Err(e) => return to_error_page(&sim, &e),
    };
    match sim.payment(id) {
        Some(p) => {
            let action = format!("{}/paymentv2/complete", sim.config().base_url);
            Html(pages::payment_page(&p, &action)).into_response()
        }
        None => to_error_page(&sim, &PageError::NotPayable),
    }
}

#[derive(Deserialize)]
struct CompleteForm {
    id: u64,
    outcome: String,
}

async fn complete_form(State(sim): State<SimHandle>, Form(form): Form<CompleteForm>) -> Response {
    let Some(outcome) = Outcome::parse(&form.outcome) else {
        return to_error_page(&sim, &PageError::format("unknown outcome"));
    };
    match sim.complete(form.id, outcome) {
        Ok(done) => found(done.return_url),
        Err(e) => to_error_page(&sim, &e),
    }
}

async fn error_page(Query(q): Query<HashMap<String, String>>) -> Html<String> {
    Html(pages::error_page(
        q.get("code").map_or("99", String::as_str),
    ))
}

#[derive(Deserialize)]
struct SimPay {
    /// The signed payment URL, or its query.
    url: String,
    outcome: Outcome,
}

async fn sim_pay(State(sim): State<SimHandle>, Json(req): Json<SimPay>) -> Response {
    match sim.pay(&req.url, req.outcome) {
        Ok(done) => Json(done).into_response(),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "error_code": e.code(),
                "message": e.to_string(),
                "redirect": sim.error_page_url(e.code()),
            })),
        )
            .into_response(),
    }
}

async fn get_faults(State(sim): State<SimHandle>) -> Json<Faults> {
    Json(sim.faults())
}

async fn put_faults(State(sim): State<SimHandle>, Json(faults): Json<Faults>) -> Response {
    match sim.set_faults(faults) {
        Ok(()) => Json(sim.faults()).into_response(),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "message": e.to_string() })),
        )
            .into_response(),
    }
}

async fn ipn_log(State(sim): State<SimHandle>) -> Response {
    Json(sim.ipn_deliveries()).into_response()
}
