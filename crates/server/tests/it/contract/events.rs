//! The events feed driven to each answer it documents.

use super::checked::{ADMIN_TOKEN, Checked};
use flashgate_testkit::Answer;
use reqwest::Method;

async fn feed(c: &Checked<'_>, query: &str) -> Answer {
    c.call(Method::GET, &format!("/admin/events{query}"), |r| {
        r.bearer_auth(ADMIN_TOKEN)
    })
    .await
}

pub async fn the_events_feed_answers_as_documented(c: &Checked<'_>) {
    let page = feed(c, "?limit=2").await;
    let next = page.assert_status(200)["next"].as_str().unwrap().to_owned();
    feed(c, &format!("?after={next}&type=order.created"))
        .await
        .assert_status(200);
    for bad in ["?after=nope", "?limit=0", "?type=order.shipped"] {
        feed(c, bad).await.assert_problem(422, "invalid_request");
    }
    c.get("/admin/events")
        .await
        .assert_problem(401, "unauthorized");
}
