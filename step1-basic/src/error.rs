//! Errors a handler can return, each shown to the visitor as a page that says what happened.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A failed request. Every variant becomes an HTML page with the right status code; the
/// technical details go to the server log, never to the visitor.
#[derive(Debug)]
pub enum AppError {
    /// The session store could not load or save the session.
    Session(tower_sessions::session::Error),
    /// No route matches the path.
    NotFound,
    /// The path exists, but not for this method (a `POST` to a page that is only read).
    MethodNotAllowed,
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(err: tower_sessions::session::Error) -> Self {
        Self::Session(err)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: &'static str,
    pub message: &'static str,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            Self::Session(err) => {
                tracing::error!("session store failed: {err}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Session store failed",
                    "The server could not read or save your session, so nothing was changed. \
                     Try again in a moment.",
                )
            }
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no page at this address.",
            ),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "This page exists, but it cannot be used this way.",
            ),
        };
        (status, ErrorPage { title, message }).into_response()
    }
}
