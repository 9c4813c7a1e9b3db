//! The live sale dashboard for admins: a page that signs in with the admin token (see `session`) and
//! then follows `GET /admin/dashboard/events`, a Server-Sent Events stream of the sale monitor's
//! snapshots, one a tick. Everything the page needs is embedded in the binary.

pub mod session;

use super::extract::{ApiForm, is_admin_token};
use super::openapi::{InvalidRequest, PayloadTooLarge, Unauthorized, UnsupportedMediaType};
use super::problem::Problem;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

const PAGE: &str = include_str!("page.html");
const LOGIN: &str = include_str!("login.html");
const PATH: &str = "/admin/dashboard";

/// The challenge of a 401 on the dashboard: a browser cannot answer `Bearer`, so it names the sign-in
/// form and the cookie instead (the `Cookie` scheme of draft-broyer-http-cookie-auth).
const CHALLENGE: &str = "Cookie realm=\"flashgate dashboard\", \
    form-action=\"/admin/dashboard/login\", cookie-name=\"flashgate_dashboard\"";

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

/// A 401 with the dashboard's challenge in place of the API's `Bearer`.
fn challenged(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(CHALLENGE),
    );
    response
}

/// The dashboard for a signed-in admin, the sign-in form for anyone else.
#[utoipa::path(
    get,
    path = "/admin/dashboard",
    operation_id = "dashboard_page",
    tag = "dashboard",
    security((), ("dashboard_session" = [])),
    responses(
        (status = 200, description = "The live dashboard with a valid session cookie, the sign-in form without one.", body = String, content_type = "text/html"),
    ),
)]
pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if signed_in(&state, &headers) {
        Html(PAGE).into_response()
    } else {
        login_page(StatusCode::OK, "")
    }
}

#[derive(Deserialize, ToSchema)]
pub struct LoginForm {
    /// The `admin_token` setting.
    token: String,
}

/// Checks the admin token from the sign-in form and answers with the session cookie.
#[utoipa::path(
    post,
    path = "/admin/dashboard/login",
    operation_id = "dashboard_login",
    tag = "dashboard",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: to the dashboard, with the session cookie (HttpOnly, SameSite=Strict, 12 hours; Secure when `vnpay.public_url` is HTTPS).", headers(
            ("Location" = String, description = "`/admin/dashboard`."),
            ("Set-Cookie" = String, description = "The `flashgate_dashboard` session cookie."),
        )),
        (status = 401, description = "Not the admin token: the sign-in form again, saying so.", body = String, content_type = "text/html"),
        (status = 413, description = "The body is larger than `http.body_limit_bytes`.", body = PayloadTooLarge, content_type = "application/problem+json"),
        (status = 415, description = "The body is not a form.", body = UnsupportedMediaType, content_type = "application/problem+json"),
        (status = 422, description = "The form has no `token`.", body = InvalidRequest, content_type = "application/problem+json"),
    ),
)]
pub async fn login(State(state): State<AppState>, ApiForm(form): ApiForm<LoginForm>) -> Response {
    let admin_token = state.settings.admin_token.expose();
    let cookie = is_admin_token(&state, form.token.trim())
        .then(|| session::issue(admin_token, state.clock.now()))
        .flatten();
    let Some(cookie) = cookie else {
        tracing::warn!("dashboard sign-in refused");
        return challenged(login_page(
            StatusCode::UNAUTHORIZED,
            "That is not the admin token.",
        ));
    };
    // Secure whenever buyers and admins reach the service over HTTPS, so the cookie never travels in
    // the clear; plain HTTP (a developer's loopback) could not send it back otherwise.
    let secure = if state.settings.vnpay.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let set_cookie = format!(
        "{}={cookie}; Path={PATH}; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
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
#[utoipa::path(
    get,
    path = "/admin/dashboard/events",
    operation_id = "dashboard_events",
    tag = "dashboard",
    security(("dashboard_session" = [])),
    responses(
        (status = 200, description = "Server-Sent Events that do not end until shutdown: a `snapshot` event \
            whose data is the sale monitor's latest snapshot (JSON) first and then one per tick, a comment \
            while there is none yet, and keep-alive comments.", body = String, content_type = "text/event-stream"),
        (status = 401, description = "No valid session cookie: sign in first.", body = Unauthorized, content_type = "application/problem+json"),
    ),
)]
pub async fn events(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !signed_in(&state, &headers) {
        return challenged(
            Problem::unauthorized("Sign in at /admin/dashboard to follow the sale.")
                .into_response(),
        );
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
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
