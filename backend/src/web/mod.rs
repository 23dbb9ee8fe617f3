//! The web UI: server-rendered askama pages, plain forms (post/redirect/get),
//! CSS embedded with rust-embed. Works without JavaScript.

mod pages;

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rust_embed::RustEmbed;

use crate::state::AppState;

#[derive(RustEmbed)]
#[folder = "../static/"]
struct Assets;

/// Constant-time comparison of a submitted CSRF token with the session's.
pub fn csrf_matches(sent: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    !expected.is_empty()
        && sent.len() == expected.len()
        && bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/signup", get(pages::signup_form).post(pages::signup))
        .route("/logout", post(pages::logout))
        .route("/pairs", get(pages::pairs).post(pages::create_pair))
        .route("/pairs/{id}", get(pages::pair))
        .route("/pairs/{id}/activate", post(pages::activate))
        .route("/pairs/{id}/pause", post(pages::pause))
        .route("/pairs/{id}/sandbox-orders", post(pages::sandbox_orders))
        .route("/pairs/{id}/dead-letters/{dl}/replay", post(pages::replay))
        .route("/usage", get(pages::usage))
        .route("/admin", get(pages::admin))
        .route("/admin/tenants/{id}/{action}", post(pages::admin_tenant))
        .route("/static/{*path}", get(asset))
}

async fn asset(Path(path): Path<String>) -> Response {
    match Assets::get(&path) {
        Some(file) => (
            [
                (header::CONTENT_TYPE, file.metadata.mimetype().to_owned()),
                (header::CACHE_CONTROL, "public, max-age=3600".to_owned()),
            ],
            file.data,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
