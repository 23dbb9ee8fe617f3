//! Browser and protocol hygiene applied to every response: security headers
//! (a strict Content-Security-Policy, no framing, no sniffing, same-origin
//! referrers, HSTS behind TLS) and one error shape per kind of client — an
//! HTML page with a way back for a browser on a page, the JSON error shape on
//! the API even where axum's own rejections (413, 405, a bad path) would
//! answer plain text.
//!
//! Decisions: the CSP forbids inline scripts *and* inline styles (no page
//! needs either: scripts and CSS are files under /static). HSTS is sent when
//! `CONNECT_PUBLIC_URL` is `https://…` — the same switch that makes cookies
//! `Secure`: the app itself never terminates TLS, and a client-supplied
//! `X-Forwarded-Proto` is not trusted. A page answers an error as HTML when
//! the request accepts `text/html` (every browser navigation and form post
//! does); a script calling a page route without it keeps the JSON error.

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::{ErrorBody, ErrorDetail};

/// Scripts, styles, images and fetches from this origin only; no plugins, no
/// `<base>` rewriting, forms post here only, and no page may be framed.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

pub const HSTS: &str = "max-age=31536000";

/// Error bodies larger than this are not re-read for their message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Adds the security headers and the error shaping around `app`. A handler
/// that set one of these headers itself keeps its value.
/// `body_limit` is the request body limit, named in a 413's message.
pub fn apply<S: Clone + Send + Sync + 'static>(
    app: Router<S>,
    tls: bool,
    body_limit: usize,
) -> Router<S> {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let app = app
        .layer(axum::middleware::from_fn(move |req, next| {
            shape_errors(req, next, body_limit)
        }))
        .layer(set(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::REFERRER_POLICY, "same-origin"));
    if tls {
        app.layer(set(header::STRICT_TRANSPORT_SECURITY, HSTS))
    } else {
        app
    }
}

/// Which error shape a path's clients read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// `/api/…` and `/hooks/…`: JSON, always.
    Api,
    /// The simulators imitate other vendors' APIs, errors included; and the
    /// probes (`/healthz`, `/readyz`, `/metrics`) answer their own format.
    Untouched,
    /// Everything else is a page (or an unknown path a browser may follow).
    Page,
}

fn audience(path: &str) -> Audience {
    let under = |prefix: &str| {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    if under("/api") || under("/hooks") {
        Audience::Api
    } else if under("/sandbox") || matches!(path, "/healthz" | "/readyz" | "/metrics") {
        Audience::Untouched
    } else {
        Audience::Page
    }
}

fn wants_html(req: &Request) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

fn content_type(resp: &Response) -> &str {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn shape_errors(req: Request, next: Next, body_limit: usize) -> Response {
    let audience = audience(req.uri().path());
    let html = audience == Audience::Page && wants_html(&req);
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let ct = content_type(&resp).to_ascii_lowercase();
    if html && !ct.starts_with("text/html") {
        let (parts, body) = resp.into_parts();
        let message = error_message(status, &ct, body).await;
        return rebuild(parts, error_page(status, &message));
    }
    if audience == Audience::Api && !ct.starts_with("application/json") {
        let (parts, body) = resp.into_parts();
        let message = error_message(status, &ct, body).await;
        return rebuild(parts, json_error(status, &message, body_limit));
    }
    resp
}

/// The new body with the old status and headers (Retry-After, Set-Cookie,
/// Allow …) kept, less those that described the old body.
fn rebuild(parts: axum::http::response::Parts, new: Response) -> Response {
    let (new_parts, body) = new.into_parts();
    let mut headers = parts.headers;
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::CONTENT_TYPE);
    if let Some(ct) = new_parts.headers.get(header::CONTENT_TYPE) {
        headers.insert(header::CONTENT_TYPE, ct.clone());
    }
    let mut resp = Response::new(body);
    *resp.status_mut() = parts.status;
    *resp.headers_mut() = headers;
    resp
}

/// What the old body said: the `message` of a JSON error, the text of a
/// plain-text rejection, or the status's own words.
async fn error_message(status: StatusCode, content_type: &str, body: Body) -> String {
    let fallback = || {
        status
            .canonical_reason()
            .unwrap_or("Something went wrong")
            .to_owned()
    };
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        return fallback();
    };
    if content_type.starts_with("application/json") {
        return serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(fallback);
    }
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    if text.is_empty() || status.is_server_error() {
        fallback()
    } else {
        text
    }
}

/// axum's rejections in the API's error shape; the code follows the status.
fn json_error(status: StatusCode, message: &str, body_limit: usize) -> Response {
    let (code, field, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "too_large",
            Some("body"),
            format!("is larger than {body_limit} bytes"),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            Some("content-type"),
            message.to_owned(),
        ),
        StatusCode::BAD_REQUEST => ("malformed", None, message.to_owned()),
        StatusCode::NOT_FOUND => ("not_found", None, message.to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", None, message.to_owned()),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid", None, message.to_owned()),
        s if s.is_server_error() => ("internal", None, message.to_owned()),
        _ => ("error", None, message.to_owned()),
    };
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message,
            field: field.map(str::to_owned),
        },
    };
    (status, axum::Json(body)).into_response()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
    back: &'a str,
    back_label: &'a str,
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => "Page not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::CONFLICT => "That conflicts with the current state",
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => "That could not be used",
        StatusCode::PAYLOAD_TOO_LARGE => "That upload is too large",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        s if s.is_server_error() => "Something went wrong on our side",
        _ => "That did not work",
    };
    let page = ErrorPage {
        status: status.as_u16(),
        title,
        message,
        back: "/",
        back_label: "Back to Clarity Connect",
    };
    match page.render() {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the error page did not render");
            (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                message.to_owned(),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_sorted_by_who_reads_their_errors() {
        assert_eq!(audience("/api/v1/pairs"), Audience::Api);
        assert_eq!(audience("/hooks/clarity/p_1"), Audience::Api);
        assert_eq!(audience("/sandbox/clarity/x"), Audience::Untouched);
        assert_eq!(audience("/readyz"), Audience::Untouched);
        assert_eq!(audience("/apix"), Audience::Page);
        assert_eq!(audience("/pairs/p_1"), Audience::Page);
    }

    #[test]
    fn the_csp_allows_no_inline_script_or_framing() {
        assert!(CSP.contains("script-src 'self';"));
        assert!(!CSP.contains("unsafe-inline"));
        assert!(CSP.contains("frame-ancestors 'none'"));
    }
}
