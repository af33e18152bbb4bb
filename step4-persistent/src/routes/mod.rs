//! The routes. Handlers are grouped by topic, one module each, like the Express tutorial's
//! `routes/`.

mod auth;
mod counter;

use axum::Router;
use axum::http::header;
use axum::routing::get;

use crate::error::AppError;

/// Every route of this step.
pub fn router() -> Router {
    Router::new()
        .route("/", get(counter::index))
        .merge(auth::router())
        .route("/style.css", get(stylesheet))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The one stylesheet, compiled into the binary so the pages look the same whatever
/// directory the server was started from.
async fn stylesheet() -> impl axum::response::IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/style.css"),
    )
}

async fn not_found() -> AppError {
    AppError::NotFound
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}
