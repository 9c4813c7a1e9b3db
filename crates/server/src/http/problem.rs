//! The one error type at the HTTP edge: an `application/problem+json` body with a stable snake_case
//! `code`. 5xx bodies stay generic; the cause is logged with the request id.

use axum::body::{Body as HttpBody, Bytes};
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flashgate_core::StoreError;
use serde::{Serialize, Serializer};
use std::borrow::Cow;

#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    /// Borrowed when fixed: most refusals a crowd gets carry a fixed detail, and need no allocation.
    pub detail: Cow<'static, str>,
    pub retry_after_seconds: Option<u64>,
    /// The schemes a 401 challenges the client with, one `WWW-Authenticate` field each.
    pub challenges: &'static [&'static str],
    /// The body, when it was rendered once for good ([`Problem::rendered_once`]): a rendered
    /// problem's status, code, title and detail are not changed afterwards (the body would no
    /// longer say them); its headers' fields (`retry_after_seconds`, `challenges`) may be.
    pub(super) rendered: Option<&'static [u8]>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type", serialize_with = "problem_type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: &'a str,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            retry_after_seconds: None,
            challenges: &["Bearer"],
            rendered: None,
        }
    }

    /// The same problem with its body rendered now and kept for the life of the process: for a
    /// problem whose every field is fixed, held in a `static`, as the refusals a crowd gets
    /// thousands of times a second are (serializing each one cost as much as deciding it). The body
    /// is leaked on purpose, once per `static`: never call this per request.
    pub(super) fn rendered_once(self) -> Self {
        let body: &'static [u8] = Box::leak(self.body().into_boxed_slice());
        Self {
            rendered: Some(body),
            ..self
        }
    }

    fn body(&self) -> Vec<u8> {
        let body = Body {
            kind: self.code,
            title: self.title,
            status: self.status.as_u16(),
            code: self.code,
            detail: &self.detail,
        };
        // Plain fields and strings: serializing them cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// The same problem, challenging with `schemes` instead of `Bearer` if it is a 401.
    pub fn challenging(self, schemes: &'static [&'static str]) -> Self {
        Self {
            challenges: schemes,
            ..self
        }
    }

    pub fn invalid_request(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "The request is not valid",
            detail,
        )
    }

    pub fn unauthorized(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication is required",
            detail,
        )
    }

    pub fn not_found(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, "Not found", detail)
    }

    pub fn conflict(
        code: &'static str,
        title: &'static str,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(StatusCode::CONFLICT, code, title, detail)
    }

    pub fn unavailable() -> Self {
        Self {
            retry_after_seconds: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The service is temporarily unavailable",
                "A dependency did not answer in time; retry shortly.",
            )
        }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal error",
            "Something went wrong on our side; it has been logged.",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        // Written straight to bytes under its own type: `Json` would set `application/json` first.
        let body = match self.rendered {
            Some(rendered) => HttpBody::from(Bytes::from_static(rendered)),
            None => HttpBody::from(self.body()),
        };
        let content_type = [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        )];
        let mut response = (self.status, content_type, body).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after_seconds {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            for &scheme in self.challenges {
                headers.append(header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
            }
        }
        response
    }
}

/// The problem's `type` URI, written straight into the body.
fn problem_type<S: Serializer>(code: &&str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("https://flashgate.dev/problems/{code}"))
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                Self::unavailable()
            }
            StoreError::Internal(cause) => {
                tracing::error!(%cause, "storage error");
                Self::internal()
            }
        }
    }
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonSyntaxError(e) => Self::malformed_json(e.body_text()),
            JsonRejection::JsonDataError(e) => Self::invalid_request(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => Self::not_json(),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::too_large(e.body_text())
            }
            other => Self::unreadable(other.body_text()),
        }
    }
}

impl Problem {
    pub fn not_json() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "The body must be JSON",
            "Send Content-Type: application/json.",
        )
    }

    pub fn malformed_json(detail: String) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "The body is not valid JSON",
            detail,
        )
    }

    /// A body over `http.body_limit_bytes`, whatever its format.
    fn too_large(detail: String) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The body is too large",
            detail,
        )
    }

    /// A body that could not be received at all: the client is gone or broke the framing.
    fn unreadable(detail: String) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "The request could not be read",
            detail,
        )
    }
}

impl From<FormRejection> for Problem {
    fn from(rejection: FormRejection) -> Self {
        match rejection {
            FormRejection::InvalidFormContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "The body must be a form",
                "Send Content-Type: application/x-www-form-urlencoded.",
            ),
            FormRejection::FailedToDeserializeForm(e) => Self::invalid_request(e.body_text()),
            FormRejection::FailedToDeserializeFormBody(e) => Self::invalid_request(e.body_text()),
            FormRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::too_large(e.body_text())
            }
            other => Self::unreadable(other.body_text()),
        }
    }
}

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Self {
        Self::invalid_request(rejection.body_text())
    }
}

/// The answer to an unknown route, so that even a 404 speaks problem+json.
pub async fn no_route() -> Problem {
    Problem::not_found("not_found", "There is no such route.")
}

/// The answer to a known path asked with a method it does not serve; the router adds `Allow`.
pub async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
        "This route does not serve this method; see the Allow header.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(problem: Problem) -> (StatusCode, Vec<(String, String)>, Bytes) {
        let response = problem.into_response();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, body)
    }

    #[tokio::test]
    async fn a_problem_rendered_once_answers_as_one_rendered_each_time() {
        let problem = || Problem {
            retry_after_seconds: Some(1),
            ..Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "The service is \"busy\"",
                "Retry shortly.",
            )
        };
        let once = problem().rendered_once();
        let (status, headers, body) = answer(once.clone()).await;
        assert_eq!((status, headers, body.clone()), answer(problem()).await);
        assert_eq!(answer(once).await.2, body, "and the same again");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["title"], "The service is \"busy\"");
    }
}
