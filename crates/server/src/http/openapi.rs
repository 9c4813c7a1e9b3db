//! The OpenAPI 3.1 document of the HTTP API, generated from the handlers' `#[utoipa::path]` annotations
//! and served at `GET /openapi.json`. The contract tests hold the running service to it.
//!
//! To document a new route: annotate its handler with `#[utoipa::path(...)]` and add the handler to
//! `paths(...)` below. The contract suite fails while a route of the router is missing here.

use super::{
    admin, admin_orders, dashboard, events, health, orders, payments, products, sessions, webhooks,
};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeSet;
use std::sync::LazyLock;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Parameter;
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "flashgate",
        description = "The HTTP API of flashgate, a checkout service for flash sales. Money is integer VND, \
            times are RFC 3339 UTC. Every error is `application/problem+json` with a stable snake_case `code`, \
            but for the dashboard's sign-in, which answers a refused token with its HTML form again. \
            A path that is not listed here answers 404 `not_found`; a listed path asked with a method it does \
            not list answers 405 `method_not_allowed` with an `Allow` header. Rate limits apply by path prefix \
            (`/products`, `/orders`, `/payments/`, `/sessions`, `/admin`) before any route, so a client over \
            its limit gets 429 `rate_limited` there whatever the path or method. The bundled VNPay simulator, \
            mounted at `/vnpay-sim` when no real gateway is configured, stands in for VNPay and is not part \
            of this API.",
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        document,
        products::list,
        products::get,
        admin::create,
        admin::update,
        admin::restock,
        admin_orders::search,
        admin_orders::detail,
        admin_orders::refund,
        admin_orders::settle_review,
        admin_orders::mark_refunded,
        events::feed,
        webhooks::create,
        webhooks::list,
        webhooks::update,
        webhooks::delete,
        webhooks::replay,
        orders::create,
        orders::list,
        orders::get,
        sessions::create,
        sessions::delete_current,
        payments::ipn,
        payments::return_page,
        dashboard::page,
        dashboard::login,
        dashboard::events,
    ),
    components(schemas(Problem, NotFound, MethodNotAllowed, RateLimited)),
    modifiers(&Conventions),
)]
struct ApiDoc;

/// The document, built once.
pub static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

static DOCUMENT_JSON: LazyLock<Vec<u8>> =
    LazyLock::new(|| serde_json::to_vec(&*DOCUMENT).unwrap_or_default());

#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    responses((status = 200, description = "This document.", content_type = "application/json")),
)]
pub async fn document() -> Response {
    let mut response = DOCUMENT_JSON.as_slice().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// What every route shares, said once: the security schemes, and the headers that come with a 401, a 429
/// and a 503 wherever a route can answer one.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        // The admin routes: the `admin_token` setting as a bearer token.
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // The buyers' routes: a JWT, `sub` = the customer, `exp` required.
        let mut jwt = Http::new(HttpAuthScheme::Bearer);
        jwt.bearer_format = Some("JWT".to_owned());
        jwt.description = Some(
            "A JWT whose `sub` is the customer id, `exp` required (`iss` and `aud` too when \
             `auth.issuer` and `auth.audience` are set). Without a `kid`: HS256 with `jwt_secret`. \
             With a `kid`: checked only with that key and only with its algorithm (RS256, ES256 or \
             EdDSA), configured in `[[auth.keys]]` or published in the shop's JWKS (`auth.jwks_url`); \
             an unknown kid is 401 `unknown_signing_key`, another algorithm 401 `algorithm_not_allowed`."
                .to_owned(),
        );
        components.add_security_scheme("buyer_jwt", SecurityScheme::Http(jwt));
        // Or a server-side session; OpenAPI's `http` type names only registered schemes, and `Session`
        // is not one, so the header is described as an API key.
        components.add_security_scheme(
            "buyer_session",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Session <id>` from POST /sessions",
            ))),
        );
        // Prometheus, when `metrics.token` is set.
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // The dashboard: a browser cannot send a bearer header, so it signs in once for a cookie.
        components.add_security_scheme(
            "dashboard_session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                dashboard::session::COOKIE,
                "Set by `POST /admin/dashboard/login`: its expiry, signed with the admin token.",
            ))),
        );

        // The schemas of the request bodies: their times are bounded once the walk has found them
        // all, since they live among the components.
        let mut request_schemas = BTreeSet::new();
        for (path, item) in &mut openapi.paths.paths {
            let operations = [
                (Method::GET, &mut item.get),
                (Method::POST, &mut item.post),
                (Method::PUT, &mut item.put),
                (Method::PATCH, &mut item.patch),
                (Method::DELETE, &mut item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else {
                    continue;
                };
                if let Some(RefOr::T(body)) = &mut operation.request_body {
                    absent_not_null(body);
                    request_schemas.extend(body.content.values().filter_map(
                        |content| match content {
                            RefOr::T(Content {
                                schema: Some(RefOr::Ref(r)),
                                ..
                            }) => Some(r.ref_location.clone()),
                            _ => None,
                        },
                    ));
                }
                for parameter in operation.parameters.iter_mut().flatten() {
                    if let RefOr::T(Parameter {
                        schema: Some(schema),
                        ..
                    }) = parameter
                    {
                        bound_time(schema);
                    }
                }
                if super::rate_limit::is_limited(&method, path) {
                    operation
                        .responses
                        .responses
                        .entry("429".to_owned())
                        .or_insert_with(rate_limited);
                }
                for (status, response) in &mut operation.responses.responses {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    for (name, description, schema) in standard_headers(status) {
                        response.headers.insert(
                            name.to_owned(),
                            HeaderBuilder::new()
                                .schema(Some(schema))
                                .description(Some(description))
                                .build()
                                .into(),
                        );
                    }
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        bound_times_of_requests(components, &request_schemas);
    }
}

/// Each time a request body carries states its bound (see [`bound_time`]).
fn bound_times_of_requests(
    components: &mut utoipa::openapi::Components,
    request_schemas: &BTreeSet<String>,
) {
    for location in request_schemas {
        let name = location.trim_start_matches("#/components/schemas/");
        if let Some(RefOr::T(Schema::Object(body))) = components.schemas.get_mut(name) {
            body.properties.values_mut().for_each(bound_time);
        }
    }
}

/// A time a request carries is read by [`super::times`]: its schema says which years it may be in,
/// which `format: date-time` does not.
fn bound_time(schema: &mut RefOr<Schema>) {
    let RefOr::T(Schema::Object(object)) = schema else {
        return;
    };
    if object.format != Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)) {
        return;
    }
    object.description = Some(match object.description.take() {
        Some(said) => format!("{said} {}", super::times::BOUND),
        None => super::times::BOUND.to_owned(),
    });
}

/// The rate limiter's refusal, which every limited route can answer before it runs.
fn rate_limited() -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description("Too many requests from this client (or this customer): see `Retry-After`.")
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name("RateLimited"))))
                .build(),
        )
        .build()
        .into()
}

/// utoipa writes an optional body (`Option<T>`) as `oneOf [T, null]`, but a body that may be left out
/// is not one that may be `null`: its schema is `T`, and `required` (unset) says that it may be absent.
fn absent_not_null(body: &mut RequestBody) {
    if matches!(body.required, Some(Required::True)) {
        return;
    }
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else {
            continue;
        };
        let only = match &content.schema {
            Some(RefOr::T(Schema::OneOf(one_of))) => {
                let mut items = one_of.items.iter().filter(|item| !is_null(item));
                match (items.next(), items.next()) {
                    (Some(only), None) => only.clone(),
                    _ => continue,
                }
            }
            _ => continue,
        };
        content.schema = Some(only);
    }
}

fn is_null(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
}

fn standard_headers(status: &str) -> Vec<(&'static str, &'static str, Schema)> {
    let seconds = || {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .into()
    };
    let text = || ObjectBuilder::new().schema_type(Type::String).into();
    match status {
        "401" => vec![(
            "WWW-Authenticate",
            "The challenge: `Bearer` for a bearer token; `Session` where a session from \
                `POST /sessions` was expected; both, as two challenges, on a buyer's route that takes \
                either and was sent neither; on the dashboard, `Cookie` naming the sign-in form and its \
                cookie.",
            text(),
        )],
        "429" => vec![
            (
                "Retry-After",
                "Seconds to wait before the request can succeed.",
                seconds(),
            ),
            (
                "RateLimit-Policy",
                "The limit that refused the request (IETF RateLimit header fields).",
                text(),
            ),
            (
                "RateLimit",
                "What is left of that limit and when it resets.",
                text(),
            ),
        ],
        "503" => vec![("Retry-After", "Seconds to wait before retrying.", seconds())],
        _ => Vec::new(),
    }
}

/// The schema of a problem whose `code` is one of `codes` (any string when empty).
fn problem_schema(codes: &[&str]) -> RefOr<Schema> {
    let mut code = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("Stable snake_case code; clients branch on it."));
    if !codes.is_empty() {
        code = code.enum_values(Some(codes.iter().copied()));
    }
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::Custom("uri".to_owned()))),
        )
        .property("title", ObjectBuilder::new().schema_type(Type::String))
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(400))
                .maximum(Some(599)),
        )
        .property("code", code)
        .property("detail", ObjectBuilder::new().schema_type(Type::String))
        .required("type")
        .required("title")
        .required("status")
        .required("code")
        .required("detail")
        .into()
}

/// Declares problem schemas, each a unit type whose schema narrows `code` to the listed values, so that
/// a route documents exactly the codes it can answer with a status.
macro_rules! problems {
    ($($(#[$doc:meta])* $name:ident = [$($code:literal),*];)+) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                problem_schema(&[$($code),*])
            }
        }

        impl utoipa::ToSchema for $name {}
    )+};
}

problems! {
    /// Any problem.
    Problem = [];
    /// A path that no route serves.
    NotFound = ["not_found"];
    /// A route asked with a method it does not serve.
    MethodNotAllowed = ["method_not_allowed"];
    Unauthorized = ["unauthorized"];
    /// No usable buyer credential: none, a token that does not verify, a session that is unknown or
    /// expired, or a kind `auth.buyers` does not accept.
    BuyerUnauthorized = ["unauthorized", "unknown_signing_key", "algorithm_not_allowed",
        "invalid_session", "session_expired", "credential_not_accepted"];
    /// No buyer token that verifies.
    SessionStartRefused = ["unauthorized", "unknown_signing_key", "algorithm_not_allowed"];
    /// No session to end.
    SessionEndRefused = ["unauthorized", "invalid_session"];
    SessionsDisabled = ["sessions_disabled"];
    RateLimited = ["rate_limited"];
    /// A dependency (the database) did not answer in time.
    Unavailable = ["unavailable"];
    /// The database did not answer, or too many purchases are in progress.
    PurchaseUnavailable = ["unavailable", "overloaded"];
    /// The body could not be read as JSON.
    BadBody = ["malformed_json", "bad_request"];
    /// The body could not be read, or the `Idempotency-Key` is missing or not valid.
    BadPurchase = ["malformed_json", "bad_request", "idempotency_key_required", "invalid_idempotency_key"];
    PayloadTooLarge = ["payload_too_large"];
    UnsupportedMediaType = ["unsupported_media_type"];
    InvalidRequest = ["invalid_request"];
    /// A product that is not valid, or whose price the gateway could never take.
    InvalidProduct = ["invalid_request", "price_not_payable"];
    /// An order that is not valid, names no product, or whose price × quantity the gateway could not take.
    InvalidPurchase = ["invalid_request", "unknown_product", "amount_not_payable"];
    ProductNotFound = ["product_not_found"];
    OrderNotFound = ["order_not_found"];
    DuplicateSku = ["duplicate_sku"];
    LimitBelowHoldings = ["limit_below_holdings"];
    PurchaseConflict = ["sold_out", "sale_not_active", "idempotency_conflict"];
    LimitExceeded = ["limit_exceeded"];
    /// The `Idempotency-Key` of a refund is missing or not valid.
    BadRefund = ["idempotency_key_required", "invalid_idempotency_key"];
    /// Only a paid order, one under review, or one whose refund failed, can be refunded.
    NotRefundable = ["not_refundable"];
    NotUnderReview = ["not_under_review"];
    /// Only an order whose refund the gateway refused can be marked refunded.
    NotRefundFailed = ["not_refund_failed"];
    WebhookNotFound = ["webhook_not_found"];
    /// Not a valid endpoint or change, or a URL webhooks may not reach (`webhooks.allow_private_targets`).
    InvalidWebhook = ["invalid_request", "target_refused"];
}

/// Answers that many routes give alike, documented once: each a type to name in a route's
/// `responses(...)`, listing its statuses with the problem schema of each.
macro_rules! shared_answers {
    ($($(#[$doc:meta])* $name:ident { $($status:literal => $description:literal, $schema:ident;)+ })+) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<String, RefOr<utoipa::openapi::Response>> {
                [$(($status.to_owned(), problem_response($description, stringify!($schema)))),+]
                    .into_iter()
                    .collect()
            }
        }
    )+};
}

fn problem_response(description: &str, schema: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .build()
        .into()
}

shared_answers! {
    /// A route that reads the database.
    DatabaseDown { "503" => "The database does not answer.", Unavailable; }
    /// A route behind the admin token.
    AdminOnly { "401" => "No valid admin token.", Unauthorized; }
    /// A route that reads a JSON body.
    JsonBodyRefused {
        "400" => "The body is not JSON.", BadBody;
        "413" => "The body is larger than `http.body_limit_bytes`.", PayloadTooLarge;
        "415" => "The body is not sent as `application/json`.", UnsupportedMediaType;
    }
    /// A route under a per-client rate limit.
    ClientLimited { "429" => "Too many requests from this client.", RateLimited; }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Every `format: date-time` schema of a request, by where it is.
    fn request_times(doc: &Value) -> Vec<(String, Value)> {
        let mut found = Vec::new();
        let mut look = |place: String, schema: &Value| {
            if schema["format"] == "date-time" {
                found.push((place, schema.clone()));
            }
        };
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                for parameter in op["parameters"].as_array().into_iter().flatten() {
                    look(
                        format!("{method} {path} ?{}", parameter["name"]),
                        &parameter["schema"],
                    );
                }
                let body = &op["requestBody"]["content"]["application/json"]["schema"]["$ref"];
                let Some(name) = body.as_str().and_then(|r| r.strip_prefix("#/")) else {
                    continue;
                };
                let schema = doc
                    .pointer(&format!("/{name}"))
                    .cloned()
                    .unwrap_or_default();
                for (property, schema) in schema["properties"].as_object().into_iter().flatten() {
                    look(format!("{method} {path} {property}"), schema);
                }
            }
        }
        found
    }

    #[test]
    fn every_time_a_request_carries_states_the_years_it_may_be_in() {
        let doc = serde_json::to_value(&*DOCUMENT).unwrap();
        let times = request_times(&doc);
        // Sale windows (create, change), order searches, webhook replays.
        assert_eq!(times.len(), 7, "{times:?}");
        for (place, schema) in times {
            let description = schema["description"].as_str().unwrap_or_default();
            assert!(
                description.ends_with(super::super::times::BOUND),
                "{place}: {schema}"
            );
        }
    }
}
