//! The routes. Handlers are grouped by topic, one module each, like the Express tutorial's
//! `routes/`.

mod auth;
mod counter;

use axum::Router;
use axum::http::header;
use axum::routing::get;

use crate::error::AppError;

pub use auth::Auth;

/// Every route of this step.
pub fn router(auth: Auth) -> Router {
    Router::new()
        .route("/", get(counter::index))
        .merge(auth::router(auth))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The routes that need no session: `app` serves them outside the session layer.
pub fn assets() -> Router {
    Router::new()
        .route("/style.css", get(stylesheet))
        .method_not_allowed_fallback(method_not_allowed)
}

/// The one stylesheet, compiled into the binary so the pages look the same whatever
/// directory the server was started from. It is the same for everybody and carries no
/// cookie, so unlike the pages it may be cached, even by a shared cache.
async fn stylesheet() -> impl axum::response::IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/style.css"),
    )
}

async fn not_found() -> AppError {
    AppError::NotFound
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}
