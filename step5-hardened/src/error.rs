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
    /// The session store failed while saving the session after the page was built, so
    /// the change the request made (a login, a visit) was not kept.
    NotSaved,
    /// No route matches the path.
    NotFound,
    /// The path exists, but not for this method (a `POST` to a page that is only read).
    MethodNotAllowed,
    /// The request body could not be used: wrong content type, bad syntax, missing
    /// fields, too large. `status` is the matching 4xx, `detail` says what was wrong
    /// with the input in words meant for whoever sent it.
    BadRequest { status: StatusCode, detail: String },
    /// A protected page was asked for without a logged-in session.
    Unauthorized,
    /// The store could not delete the session, so the user is still logged in.
    Logout(tower_sessions::session::Error),
    /// A state-changing request came from another site's page; the text says how the
    /// cross-origin check knew.
    CrossOrigin(String),
    /// The request took longer than [`crate::REQUEST_TIMEOUT`].
    TimedOut,
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(err: tower_sessions::session::Error) -> Self {
        Self::Session(err)
    }
}

/// The page every error is shown as, in the site's layout. Public, so that a layer put
/// around [`crate::app`] can answer in the same look.
#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: &'static str,
    pub message: &'static str,
    /// What exactly was wrong with the request, when the visitor sent something bad.
    pub detail: Option<String>,
    /// Where to go from here: `(href, link text)`.
    pub next: (&'static str, &'static str),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut detail = None;
        let mut next = ("/", "Back to the start");
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
            Self::NotSaved => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Session store failed",
                "The server could not save your session, so what you just did was not \
                 recorded. Try again in a moment.",
            ),
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
            Self::BadRequest {
                status,
                detail: what,
            } => {
                detail = Some(what);
                let title = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "Request too large"
                } else {
                    "Bad request"
                };
                (status, title, "The server could not use what was sent.")
            }
            Self::Unauthorized => {
                next = ("/login", "Log in");
                (
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "This page is only for logged-in users.",
                )
            }
            Self::Logout(err) => {
                tracing::error!("session store failed during logout: {err}");
                next = ("/dashboard", "Back to the dashboard");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Could not log out",
                    "The session store failed, so your session still exists and you are \
                     still logged in. Try again in a moment.",
                )
            }
            Self::CrossOrigin(how) => {
                tracing::warn!("refused a request from another site: {how}");
                (
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    "This form was sent from another site's page, so the server did not act \
                     on it. Open this site's own page and send the form from there.",
                )
            }
            Self::TimedOut => (
                StatusCode::REQUEST_TIMEOUT,
                "Request took too long",
                "The server gave up on this request, so nothing was changed. Try again.",
            ),
        };
        (
            status,
            ErrorPage {
                title,
                message,
                detail,
                next,
            },
        )
            .into_response()
    }
}
