//! The live sale dashboard for admins: a page that signs in with the admin token (see `session`) and
//! then follows `GET /admin/dashboard/events`, a Server-Sent Events stream of the sale monitor's
//! snapshots, one a tick. Everything the page needs is embedded in the binary.

pub mod session;

use super::extract::is_admin_token;
use super::problem::Problem;
use crate::state::AppState;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;

const PAGE: &str = include_str!("page.html");
const LOGIN: &str = include_str!("login.html");
const PATH: &str = "/admin/dashboard";

fn signed_in(state: &AppState, headers: &HeaderMap) -> bool {
    let cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    session::from_cookies(cookies).is_some_and(|value| {
        session::verify(
            state.settings.admin_token.expose(),
            value,
            state.clock.now(),
        )
    })
}

fn login_page(status: StatusCode, message: &str) -> Response {
    (status, Html(LOGIN.replace("{{message}}", message))).into_response()
}

/// The dashboard for a signed-in admin, the sign-in form for anyone else.
pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if signed_in(&state, &headers) {
        Html(PAGE).into_response()
    } else {
        login_page(StatusCode::OK, "")
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// Checks the admin token from the sign-in form and answers with the session cookie.
pub async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let admin_token = state.settings.admin_token.expose();
    let cookie = is_admin_token(&state, form.token.trim())
        .then(|| session::issue(admin_token, state.clock.now()))
        .flatten();
    let Some(cookie) = cookie else {
        tracing::warn!("dashboard sign-in refused");
        return login_page(StatusCode::UNAUTHORIZED, "That is not the admin token.");
    };
    let set_cookie = format!(
        "{}={cookie}; Path={PATH}; Max-Age={}; HttpOnly; SameSite=Strict",
        session::COOKIE,
        session::LIFETIME.whole_seconds()
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, PATH.to_owned()),
            (header::SET_COOKIE, set_cookie),
        ],
    )
        .into_response()
}

/// The sale monitor's snapshots as they come, the latest first; the stream ends at shutdown.
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, axum::Error>>>, Problem> {
    if !signed_in(&state, &headers) {
        return Err(Problem::unauthorized(
            "Sign in at /admin/dashboard to follow the sale.",
        ));
    }
    let receiver = state.monitor.subscribe();
    let closing = state.monitor.closing();
    let stream = futures_util::stream::unfold(
        (receiver, closing, true),
        |(mut receiver, closing, first)| async move {
            if !first {
                tokio::select! {
                    changed = receiver.changed() => changed.ok()?,
                    () = closing.cancelled() => return None,
                }
            }
            let event = match receiver.borrow_and_update().clone() {
                Some(snapshot) => Event::default().event("snapshot").json_data(&*snapshot),
                None => Ok(Event::default().comment("waiting for the first snapshot")),
            };
            Some((event, (receiver, closing, false)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
