//! VNPay's endpoints: the IPN (`GET /payments/vnpay/ipn`, answered with VNPay's JSON RspCodes) and the
//! buyer's Return page (`GET /payments/vnpay/return`, display only).

use super::openapi::RateLimited;
use super::rate_limit::UnverifiedCallback;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use flashgate_core::OrderStatus;
use utoipa::{IntoParams, ToSchema};

/// The query VNPay signs (spec 2.1.0). The handlers read it raw, since the signature covers its exact
/// bytes; this type only documents it.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(non_snake_case)]
pub struct VnpayCallbackQuery {
    pub vnp_TmnCode: Option<String>,
    /// The amount in VND times 100.
    pub vnp_Amount: Option<String>,
    pub vnp_BankCode: Option<String>,
    pub vnp_BankTranNo: Option<String>,
    pub vnp_CardType: Option<String>,
    /// `yyyyMMddHHmmss`, Vietnam time.
    pub vnp_PayDate: Option<String>,
    pub vnp_OrderInfo: Option<String>,
    pub vnp_TransactionNo: Option<String>,
    pub vnp_ResponseCode: Option<String>,
    pub vnp_TransactionStatus: Option<String>,
    /// The order's reference.
    pub vnp_TxnRef: Option<String>,
    pub vnp_SecureHashType: Option<String>,
    /// HMAC-SHA512 over the other fields.
    pub vnp_SecureHash: Option<String>,
}

/// The body of an IPN answer, as `vnpay::IpnReply` writes it; this type only documents it.
#[derive(ToSchema)]
#[allow(non_snake_case)]
pub struct IpnAnswer {
    /// `00` recorded, `01` no such order, `02` already confirmed, `04` wrong amount, `97` bad
    /// signature, `99` anything else.
    #[schema(pattern = "^(00|01|02|04|97|99)$")]
    pub RspCode: String,
    pub Message: String,
}

#[utoipa::path(
    get,
    path = "/payments/vnpay/ipn",
    operation_id = "vnpay_ipn",
    tag = "payments",
    params(VnpayCallbackQuery),
    responses(
        (status = 200, description = "VNPay's answer codes, whatever the outcome: VNPay reads `RspCode` only.", body = IpnAnswer),
        (status = 429, description = "Too many callbacks from this address.", body = RateLimited, content_type = "application/problem+json"),
    ),
)]
pub async fn ipn(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let outcome = state.callbacks.ipn(query.as_deref().unwrap_or("")).await;
    // Always 200 with the JSON body: VNPay reads RspCode, and treats anything else as a failure.
    let mut response = vnpay::IpnReply::new(outcome.code).to_json().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if !outcome.verified {
        response.extensions_mut().insert(UnverifiedCallback);
    }
    response
}

#[utoipa::path(
    get,
    path = "/payments/vnpay/return",
    operation_id = "vnpay_return",
    tag = "payments",
    params(VnpayCallbackQuery),
    responses(
        (status = 200, description = "A page for the buyer showing the verified result; it changes nothing.", body = String, content_type = "text/html"),
        (status = 429, description = "Too many requests from this address.", body = RateLimited, content_type = "application/problem+json"),
    ),
)]
pub async fn return_page(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let view = state
        .callbacks
        .return_view(query.as_deref().unwrap_or(""))
        .await;
    let (title, message, tone) = match (&view.verified, &view.order) {
        (None, _) => (
            "We could not confirm this payment",
            "The gateway's answer could not be verified. If money was taken, your order will still be settled: we check with the gateway ourselves.".to_owned(),
            "warn",
        ),
        (Some(callback), order) if callback.is_paid() => (
            "Payment received",
            match order.as_ref().map(|o| o.status) {
                Some(OrderStatus::Paid) => "Your order is paid. Thank you!".to_owned(),
                Some(OrderStatus::RefundPending | OrderStatus::RefundFailed | OrderStatus::Refunded) => {
                    "The items sold out before your payment arrived, so your money is being refunded.".to_owned()
                }
                _ => "The gateway reports your payment; your order will show it within moments.".to_owned(),
            },
            "ok",
        ),
        (Some(callback), Some(order))
            if crate::payments::callbacks::in_doubt(callback)
                && order.status == OrderStatus::PaymentReviewReleased =>
        (
            "Payment under review",
            format!("The gateway reports: {}. Your order's hold had ended and its items are gone; the payment is being checked, and if money was taken it is returned.", callback.response_code.meaning()),
            "warn",
        ),
        (Some(callback), _) if crate::payments::callbacks::in_doubt(callback) => (
            "Payment under review",
            format!("The gateway reports: {}. Your order keeps its items while the payment is checked; if it does not go through, any money taken is returned.", callback.response_code.meaning()),
            "warn",
        ),
        (Some(callback), _) => (
            "Payment not completed",
            format!("The gateway reports: {}. Your order was not charged.", callback.response_code.meaning()),
            "bad",
        ),
    };
    let details = match (&view.verified, &view.order) {
        (Some(callback), Some(order)) => format!(
            "<dl><dt>Order</dt><dd>{}</dd><dt>Amount</dt><dd>{} VND</dd><dt>Status</dt><dd id=\"status\">{}</dd><dt>Gateway transaction</dt><dd>{}</dd></dl>",
            order.id,
            group_thousands(order.amount.get()),
            order.status.as_str(),
            callback.transaction_no
        ),
        _ => String::new(),
    };
    let mut response = Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} · flashgate</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}}\
         h1{{font-size:1.5rem}} .ok{{color:#176f2c}} .bad{{color:#a11}} .warn{{color:#8a5a00}}\
         dl{{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}} dt{{color:#666}}\
         </style></head><body><h1 class=\"{tone}\" id=\"title\">{title}</h1><p>{message}</p>{details}</body></html>"
    ))
    .into_response();
    if view.verified.is_none() {
        response.extensions_mut().insert(UnverifiedCallback);
    }
    response
}

fn group_thousands(value: i64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::group_thousands;

    #[test]
    fn amounts_are_grouped_the_vietnamese_way() {
        assert_eq!(group_thousands(150_000), "150.000");
        assert_eq!(group_thousands(1_000), "1.000");
        assert_eq!(group_thousands(999), "999");
    }
}
