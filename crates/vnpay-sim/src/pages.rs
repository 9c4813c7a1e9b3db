//! The HTML the buyer sees: the payment page with one button per outcome, and the error page.

use std::fmt::Write;

use crate::outcome::Outcome;
use crate::page_error::describe;
use crate::store::SimPayment;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f3f6fb;margin:0}\
main{max-width:34rem;margin:3rem auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 2px 12px #0002}\
h1{color:#005baa;font-size:1.4rem;margin-top:0}dl{display:grid;grid-template-columns:9rem 1fr;gap:.5rem 1rem}\
dt{color:#667}dd{margin:0;font-weight:600;word-break:break-all}.amount{font-size:1.6rem;color:#d0021b}\
form{display:flex;flex-direction:column;gap:.6rem;margin-top:1.5rem}\
button{padding:.8rem;border:0;border-radius:8px;font-size:1rem;cursor:pointer;background:#e8edf5}\
button.success{background:#005baa;color:#fff}.note{color:#667;font-size:.85rem}";

/// The payment page for a pending payment; `action` is the completion endpoint.
pub fn payment_page(payment: &SimPayment, action: &str) -> String {
    let r = &payment.request;
    let mut buttons = String::new();
    for outcome in Outcome::ALL {
        let class = if outcome == Outcome::Success {
            "success"
        } else {
            ""
        };
        let _ = write!(
            buttons,
            r#"<button type="submit" name="outcome" value="{}" class="{class}">{}</button>"#,
            outcome.as_str(),
            escape(outcome.label()),
        );
    }
    format!(
        r#"<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>VNPAY simulator: payment {txn}</title><style>{STYLE}</style></head>
<body><main><h1>VNPAY payment gateway (simulator)</h1>
<dl><dt>Merchant</dt><dd>{tmn}</dd><dt>Order</dt><dd>{txn}</dd><dt>Description</dt><dd>{info}</dd>
<dt>Amount</dt><dd class="amount">{amount} VND</dd><dt>Bank</dt><dd>{bank}</dd></dl>
<form method="post" action="{action}"><input type="hidden" name="id" value="{id}">{buttons}</form>
<p class="note">Test gateway: no money moves. Each button ends the payment with that result.</p>
</main></body></html>"#,
        lang = if r.locale == "en" { "en" } else { "vi" },
        tmn = escape(&r.tmn_code),
        txn = escape(&r.txn_ref),
        info = escape(&r.order_info),
        amount = r.amount,
        bank = escape(r.bank_code.as_deref().unwrap_or("chosen by the buyer")),
        action = escape(action),
        id = payment.id,
    )
}

/// The gateway error page for a code.
pub fn error_page(code: &str) -> String {
    format!(
        r#"<!doctype html><html lang="vi"><head><meta charset="utf-8">
<title>VNPAY: error {code}</title><style>{STYLE}</style></head>
<body><main><h1>Thông báo / Notice</h1><p>Error code <strong>{code}</strong></p><p>{text}</p>
<p class="note">No payment was made.</p></main></body></html>"#,
        code = escape(code),
        text = escape(describe(code)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn the_error_page_explains_a_bad_signature() {
        assert!(error_page("70").contains("signature is wrong"));
    }
}
