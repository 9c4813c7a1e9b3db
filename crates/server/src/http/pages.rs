//! What every HTML page is sent with (the dashboard and its sign-in, the payment return page, the
//! bundled simulator's pages): a Content-Security-Policy that allows only the page's own inline
//! scripts and styles, by hash, and no framing; no referrer; no caching, since each shows private data
//! (an order, the sale's figures) or a form for a secret. The pages are small and built in memory, so
//! hashing what is actually sent keeps the policy true whatever a page holds.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// Larger than any page flashgate serves; a bigger one is a bug, answered 500 rather than unguarded.
const PAGE_LIMIT: usize = 1 << 20;

pub async fn harden(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !html {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, PAGE_LIMIT).await else {
        tracing::error!("an HTML page is larger than {PAGE_LIMIT} bytes");
        return super::problem::Problem::internal().into_response();
    };
    secure(&mut parts.headers, &String::from_utf8_lossy(&bytes));
    Response::from_parts(parts, Body::from(bytes))
}

fn secure(headers: &mut HeaderMap, page: &str) {
    if let Ok(policy) = HeaderValue::from_str(&policy(page)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    for (name, value) in [
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// Nothing but the page's own inline scripts and styles, requests to its own origin (the dashboard's
/// event stream) and forms posted to it.
fn policy(page: &str) -> String {
    let sources = |tag: &str| {
        let hashes = inline(page, tag)
            .map(|code| format!("'sha256-{}'", STANDARD.encode(Sha256::digest(code))))
            .collect::<Vec<_>>();
        if hashes.is_empty() {
            "'none'".to_owned()
        } else {
            hashes.join(" ")
        }
    };
    format!(
        "default-src 'none'; script-src {}; style-src {}; img-src 'self'; connect-src 'self'; \
         form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        sources("script"),
        sources("style")
    )
}

/// The contents of each `<tag>…</tag>` (without attributes: how the pages write them).
fn inline<'a>(page: &'a str, tag: &str) -> impl Iterator<Item = &'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut rest = page;
    std::iter::from_fn(move || {
        let start = rest.find(&open)? + open.len();
        let end = start + rest[start..].find(&close)?;
        let code = &rest[start..end];
        rest = &rest[end + close.len()..];
        Some(code)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_inline_block_is_allowed_by_its_hash_and_nothing_else() {
        let page = "<style>a{}</style><p>x</p><script>go()</script><style>b{}</style>";
        let csp = policy(page);
        let hash = |code: &str| format!("'sha256-{}'", STANDARD.encode(Sha256::digest(code)));
        assert!(
            csp.contains(&format!("script-src {};", hash("go()"))),
            "{csp}"
        );
        assert!(
            csp.contains(&format!("style-src {} {};", hash("a{}"), hash("b{}"))),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(policy("<p>plain</p>").contains("script-src 'none'; style-src 'none'"));
    }
}
