//! Response headers that every page carries, and the check that a form
//! was sent from our own pages.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::WebError;

/// No inline script or style, nothing from elsewhere, no framing; forms
/// go to this site, and to the identity providers, whose sign-in the
/// provider buttons' forms are redirected to (browsers apply
/// `form-action` to the redirects of a form, too).
pub fn policy(provider_origins: &[String]) -> HeaderValue {
    let mut form_action = String::from("'self'");
    for origin in provider_origins {
        form_action.push(' ');
        form_action.push_str(origin);
    }
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

pub async fn headers(
    axum::extract::State(csp): axum::extract::State<HeaderValue>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    // A download brings a stricter policy of its own (a sandbox), which
    // the page policy must not replace.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Refuses state changes that a browser says come from another site. The
/// per-form CSRF token is the main defence; this one costs nothing and
/// also covers forms before sign-in.
pub async fn same_origin(
    axum::extract::State(app): axum::extract::State<crate::App>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe {
        let h = request.headers();
        let cross_site = h
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "cross-site" || v == "same-site");
        let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
        let foreign_origin = match (h.get(header::ORIGIN).and_then(|v| v.to_str().ok()), host) {
            (Some("null"), _) => true,
            (Some(origin), Some(host)) => {
                let bare = origin
                    .split_once("://")
                    .map(|(_, rest)| rest)
                    .unwrap_or(origin);
                bare != host
            }
            _ => false,
        };
        if cross_site || foreign_origin {
            tracing::warn!(target: "security", event = "csrf_origin_refused", "cross-site form refused");
            // Aimed at someone signed in (or half signed in): their security
            // log shows it. Before sign-in there is no one to show it to,
            // and strangers must not fill the audit log.
            return match crate::session::session_of(&app, h).await {
                Some(person) => WebError::CsrfRefused(person).into_response(),
                None => WebError::Forbidden.into_response(),
            };
        }
    }
    next.run(request).await
}
