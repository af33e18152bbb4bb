//! The application, built apart from `main` so tests can drive it without a network.
//!
//! This file plays the part of the Express tutorial's `app.js`: it configures the session
//! middleware and mounts the routes. The handlers live in [`routes`].

mod config;
mod error;
mod routes;
mod server;
mod session_data;
pub mod store;

use axum::Router;
use axum::body::HttpBody;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use time::Duration;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_sessions::{Expiry, SessionManagerLayer, SessionStore};

pub use config::Config;
use error::AppError;
pub use server::serve;

/// How long a session lives without a change: the Express tutorial's
/// `cookie: { maxAge: 3600000 }` for this section, one hour.
pub const SESSION_LIFETIME: Duration = Duration::hours(1);

/// The largest request body accepted, in bytes. A login form is well under 1 KiB; refusing
/// anything much larger (with `413 Payload Too Large`) stops a client from making the
/// server buffer megabytes it will never use. Express's `express.json()` limit is 100 KiB.
pub const BODY_LIMIT: usize = 16 * 1024;

/// How long a client may take between two pieces of a request body. One that starts a
/// body and then goes quiet (by accident, or on purpose to tie the server up: "slowloris")
/// is cut off with a 400 instead of holding its connection forever.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Builds the whole application: routes plus the session layer around them.
///
/// `store` is where session data lives between requests (`main` passes the SQLite
/// store from [`store::open`]). Taking it as an argument lets tests hand in a store of their own.
pub fn app(store: impl SessionStore + Clone) -> Router {
    // The Rust counterpart of `app.use(session({ ... }))`.
    //
    // - `secret: 'mysecretkey'`: express-session signs its cookie so a visitor cannot
    //   forge an id. tower-sessions ids are 128 random bits, too many to guess, and an id
    //   the store does not know is treated as no session, so an unsigned cookie is safe
    //   here. Signing it anyway is defence in depth: a forged id is then dropped unread.
    // - `resave: false`: tower-sessions writes a session back only when a handler changed
    //   it, which is exactly what `resave: false` asks for.
    // - `saveUninitialized: false`: tower-sessions never stores a session nobody wrote
    //   to. A visitor who only reads the login form or is turned away from the dashboard
    //   costs no row in the database and gets no cookie.
    // - `cookie.maxAge`: `Expiry::OnInactivity` gives the cookie a `Max-Age` and the
    //   stored session an expiry date, both pushed back each time the session is saved.
    // - `cookie.secure`: tower-sessions sets `Secure` by default, but browsers refuse
    //   `Secure` cookies over plain `http://` on most hosts. The Express tutorial serves plain HTTP
    //   and leaves `secure` off, so this lesson does too. `HttpOnly` (no JavaScript
    //   access) and `SameSite=Strict` stay on: they are tower-sessions' defaults.
    let sessions = SessionManagerLayer::new(store)
        .with_secure(false)
        .with_expiry(Expiry::OnInactivity(SESSION_LIFETIME));

    routes::router()
        .layer(sessions)
        .layer(map_response(explain_save_failure))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
}

/// The session layer saves the session after the handler has answered. If the store
/// fails at that moment, it throws the answer away and sends an empty `500` instead;
/// this turns that empty answer into a page that says what happened. (A store failure
/// while a handler *reads* the session is already a page: the handler gets the error.)
async fn explain_save_failure(response: Response) -> Response {
    let empty = response.body().size_hint().exact() == Some(0);
    if response.status() == StatusCode::INTERNAL_SERVER_ERROR && empty {
        return AppError::NotSaved.into_response();
    }
    response
}
