//! `POST /merchant_webapi/api/transaction`: querydr and refund (spec §5, §6, §10.3).
//!
//! Replies are HTTP 200 JSON. Non-`00` replies carry only ResponseId, Command, ResponseCode
//! and Message, and no hash. The API delay and outage faults apply to both commands.

mod querydr;
mod refund;

use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::faults::ApiOutage;
use crate::handle::SimHandle;

pub(crate) async fn transaction(State(sim): State<SimHandle>, body: Bytes) -> Response {
    let faults = sim.faults();
    if faults.api_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.api_delay_ms)).await;
    }
    match faults.api_outage {
        Some(ApiOutage::Http503) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response();
        }
        Some(ApiOutage::ConnectionReset) => return connection_reset(),
        None => {}
    }
    let value = match serde_json::from_slice::<Value>(&body) {
        Ok(v) if v.is_object() => v,
        _ => return reject("", "03", "Invalid data format"),
    };
    let command = value
        .get("vnp_Command")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match command.as_str() {
        vnpay::querydr::QUERYDR => querydr::handle(&sim, value),
        vnpay::refund::REFUND => refund::handle(&sim, value),
        _ => reject(&command, "03", "Invalid vnp_Command"),
    }
}

/// A non-`00` reply: four fields, no hash.
pub(crate) fn reject(command: &str, code: &str, message: &str) -> Response {
    Json(json!({
        "vnp_ResponseId": response_id(),
        "vnp_Command": command,
        "vnp_ResponseCode": code,
        "vnp_Message": message,
    }))
    .into_response()
}

/// 32 lowercase hex characters, as observed.
pub(crate) fn response_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A 200 whose body fails before its first byte, so the client sees the connection drop.
fn connection_reset() -> Response {
    let reader = FailingReader;
    Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(reader)))
}

struct FailingReader;

impl tokio::io::AsyncRead for FailingReader {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        _buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated connection reset",
        )))
    }
}

/// Reads the fields every command requires; the first missing one is reported.
pub(crate) fn require<'a>(
    fields: &[(&'static str, &'a Option<String>)],
) -> Result<Vec<&'a str>, String> {
    fields
        .iter()
        .map(|(name, v)| {
            v.as_deref()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("{name} is missing"))
        })
        .collect()
}
