//! JSON logs: a line logged inside a handler carries the request id the response's `x-request-id`
//! header shows (generated, or the caller's own), and the admin token a sign-in form carried is
//! never written.

use flashgate::telemetry;
use flashgate::telemetry::{LogFormat, LogSettings};
use flashgate_testkit::Backend;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;

/// Log output kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

const WRONG_TOKEN: &str = "a-guess-at-the-admin-token";

// One thread: the subscriber set for this test is the one every task of its instance logs through.
#[tokio::test]
async fn a_line_logged_inside_a_handler_carries_the_request_id_of_its_response() {
    let captured = Captured::default();
    let settings = LogSettings {
        format: LogFormat::Json,
        filter: "info".into(),
    };
    let _logging =
        tracing::subscriber::set_default(telemetry::subscriber(&settings, captured.clone()));
    // Other tests of this process hit the same callsites on their own threads. While this test's
    // subscriber is the only one registered, tracing decides a new callsite's interest by the
    // subscriber of whichever thread hits it first (none, on another test's thread) and caches
    // "never": a second registered subscriber makes it ask every live one, and the rebuild drops
    // whatever was cached before this test's subscriber existed.
    let _second = tracing::Dispatch::new(tracing_subscriber::registry());
    tracing::callsite::rebuild_interest_cache();
    let app = super::spawn(Backend::Sqlite).start().await;
    let api = app.api(0);
    let sign_in = |request_id: Option<&str>| {
        let mut request = api
            .request(Method::POST, "/admin/dashboard/login")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("token={WRONG_TOKEN}"));
        if let Some(id) = request_id {
            request = request.header("x-request-id", id);
        }
        api.send(request)
    };
    let generated = sign_in(None).await;
    let given = sign_in(Some("req-chosen-by-the-caller")).await;

    let text = captured.text();
    let refusals: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["fields"]["message"] == "dashboard sign-in refused")
        .collect();
    assert_eq!(refusals.len(), 2, "{text}");
    for (answer, line) in [generated, given].iter().zip(&refusals) {
        assert_eq!(answer.status, 401);
        let id = answer.headers["x-request-id"].to_str().unwrap();
        assert!(!id.is_empty());
        let spans = line["spans"].as_array().unwrap();
        assert!(
            spans
                .iter()
                .any(|span| span["name"] == "request" && span["request_id"] == id),
            "the line does not carry request id {id}: {line}"
        );
    }
    assert_eq!(
        refusals[1]["spans"][0]["request_id"],
        "req-chosen-by-the-caller"
    );
    assert!(
        !text.contains(WRONG_TOKEN),
        "a token reached the log: {text}"
    );
}
