//! The dashboard's routes driven to each answer they document: the sign-in form and the page, the
//! sign-in and its refusals, and the event stream, whose first event is read and no more since the
//! stream only ends at shutdown.

use super::checked::{ADMIN_TOKEN, Checked};
use flashgate_testkit::Answer;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, RequestBuilder, redirect};
use std::time::Duration;

const PAGE: &str = "/admin/dashboard";
const LOGIN: &str = "/admin/dashboard/login";
const EVENTS: &str = "/admin/dashboard/events";
const FORM: &str = "application/x-www-form-urlencoded";

pub async fn the_dashboard_answers_as_documented(c: &Checked<'_>) {
    let sign_in = c.get(PAGE).await;
    assert_eq!(sign_in.status, 200, "{sign_in:?}");
    assert!(
        text(&sign_in).contains(LOGIN),
        "not the sign-in form: {sign_in:?}"
    );

    let refused = c
        .call(Method::POST, LOGIN, |r| form(r, "token=not-the-token"))
        .await;
    assert_eq!(refused.status, 401, "{refused:?}");
    assert!(
        text(&refused).contains("not the admin token"),
        "{refused:?}"
    );
    c.call(Method::POST, LOGIN, |r| form(r, "name=admin"))
        .await
        .assert_problem(422, "invalid_request");
    for content_type in [None, Some("text/plain"), Some("application/json")] {
        let answer = c
            .call(Method::POST, LOGIN, |r| {
                let r = r.body(format!("token={ADMIN_TOKEN}"));
                match content_type {
                    Some(ct) => r.header(CONTENT_TYPE, ct),
                    None => r,
                }
            })
            .await;
        answer.assert_problem(415, "unsupported_media_type");
    }
    c.call(Method::POST, LOGIN, |r| {
        r.header(CONTENT_TYPE, FORM)
            .body(format!("token={}", "x".repeat(20_000)))
    })
    .await
    .assert_problem(413, "payload_too_large");

    // The 303 is the answer itself: the shared client would follow it to the page.
    let client = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let signed_in = c
        .api
        .send(form(
            client.post(format!("{}{LOGIN}", c.api.base)),
            &format!("token={ADMIN_TOKEN}"),
        ))
        .await;
    c.contract.check(&Method::POST, LOGIN, &signed_in);
    assert_eq!(signed_in.status, 303, "{signed_in:?}");
    assert_eq!(signed_in.headers[LOCATION], PAGE);
    let cookie = signed_in.headers[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("flashgate_dashboard="), "{cookie}");

    let page = c
        .call(Method::GET, PAGE, |r| r.header(COOKIE, &cookie))
        .await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(text(&page).contains(EVENTS), "not the dashboard: {page:?}");

    c.get(EVENTS).await.assert_problem(401, "unauthorized");
    c.call(Method::GET, EVENTS, |r| {
        r.header(COOKIE, "flashgate_dashboard=4102444800.00")
    })
    .await
    .assert_problem(401, "unauthorized");
    let first = first_event(c, &cookie).await;
    c.contract.check(&Method::GET, EVENTS, &first);
    assert_eq!(first.status, 200, "{first:?}");
    let event = text(&first);
    assert!(
        event.starts_with(':') || event.starts_with("event: snapshot\ndata: {"),
        "not a comment nor a snapshot: {event:?}"
    );
}

/// The stream's head and its first event (up to the blank line that ends it), within seconds.
async fn first_event(c: &Checked<'_>, cookie: &str) -> Answer {
    let read = async {
        let mut response = c
            .api
            .request(Method::GET, EVENTS)
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while !body.windows(2).any(|w| w == b"\n\n") {
            match response.chunk().await.unwrap() {
                Some(chunk) => body.extend_from_slice(&chunk),
                None => break,
            }
        }
        if let Some(end) = body.windows(2).position(|w| w == b"\n\n") {
            body.truncate(end + 2);
        }
        Answer {
            status,
            headers,
            body,
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the first event within 10 s")
}

/// A sign-in form as a browser posts it (the client here has no form encoder; these bodies need none).
fn form(request: RequestBuilder, body: &str) -> RequestBuilder {
    request.header(CONTENT_TYPE, FORM).body(body.to_owned())
}

fn text(answer: &Answer) -> String {
    String::from_utf8_lossy(&answer.body).into_owned()
}
