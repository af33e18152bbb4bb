//! What this application keeps in a session, and the panel that shows it.
//!
//! A session is a small key → value map stored on the server (values are JSON). The
//! browser holds only the session's id, in a cookie; every request brings the cookie
//! back and the session layer looks the data up again.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;
use tower_sessions::{Expiry, Session};

use crate::csrf;
use crate::error::AppError;

/// The visit counter: `req.session.views` in the seed.
pub const VIEWS: &str = "views";

/// The logged-in user's id: `req.session.userId` in the seed. Only the id goes in the
/// session, never the password or the whole user record: the seed's "avoid storing
/// sensitive info directly in session".
pub const USER_ID: &str = "user_id";

/// When this session began (at login, or when its first form was shown), as a Unix
/// timestamp. The absolute timeout counts from here.
pub const STARTED_AT: &str = "started_at";

/// Every key this application may store, in the order the panel lists them.
const KEYS: [&str; 4] = [VIEWS, USER_ID, STARTED_AT, csrf::TOKEN];

/// "What the server knows about you": the panel at the bottom of every page, so a
/// student can watch the session change as they click.
pub struct SessionPanel {
    /// Each stored key with its value as JSON, e.g. `("views", "3")`.
    pub entries: Vec<(&'static str, String)>,
    /// Seconds until the session expires if the browser sends no request.
    pub expires_in_secs: i64,
}

impl SessionPanel {
    /// Reads the session as it will be stored at the end of this request.
    pub async fn read(session: &Session) -> Result<Self, tower_sessions::session::Error> {
        let mut entries = Vec::new();
        for key in KEYS {
            if let Some(value) = session.get_value(key).await? {
                entries.push((key, value.to_string()));
            }
        }
        Ok(Self {
            entries,
            // Rounded: the age is measured a few microseconds after the expiry was set.
            expires_in_secs: session.expiry_age().as_seconds_f64().round() as i64,
        })
    }
}

/// Marks the session as starting now.
pub async fn start(session: &Session) -> Result<(), tower_sessions::session::Error> {
    session
        .insert(STARTED_AT, OffsetDateTime::now_utc().unix_timestamp())
        .await
}

/// Whether the session has been started (and so holds a start time).
pub async fn is_started(session: &Session) -> Result<bool, tower_sessions::session::Error> {
    Ok(session.get_value(STARTED_AT).await?.is_some())
}

/// How long a session may live: the two timeouts of OWASP's session cheat sheet.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Ends a session nobody uses: a forgotten tab on a shared computer.
    pub idle: Duration,
    /// Ends every session some time after it began, however busy: a stolen cookie
    /// cannot be kept alive forever by using it.
    pub absolute: Duration,
}

impl Timeouts {
    /// The session's expiry if it is still allowed to live: `idle` from now, but never
    /// past `absolute` after its start. `None` once the absolute limit has passed.
    fn expiry(&self, started_at: i64) -> Option<Expiry> {
        let now = OffsetDateTime::now_utc();
        let end = OffsetDateTime::from_unix_timestamp(started_at).ok()? + self.absolute;
        if now + self.idle <= end {
            // The usual case: `Max-Age` is exactly the idle timeout.
            Some(Expiry::OnInactivity(
                time::Duration::try_from(self.idle).ok()?,
            ))
        } else {
            // The last stretch before the absolute limit.
            (end > now).then_some(Expiry::AtDateTime(end))
        }
    }
}

/// Middleware: enforces both timeouts on the server, on every request.
///
/// tower-sessions' `Expiry::OnInactivity` pushes the expiry back only when a handler
/// *changes* the session, so a user who only reads pages would be logged out in the
/// middle of reading. Setting the expiry here, on every request that has a session,
/// makes any request count as activity (express-session calls this `rolling: true`).
/// The stored row and the cookie's `Max-Age` both get the new expiry, so the database
/// enforces the timeout even if a browser keeps the cookie longer.
pub async fn enforce_timeouts(
    State(timeouts): State<Timeouts>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    // Before the handler: a session past its absolute limit is over.
    if let Err(err) = apply(&session, timeouts).await {
        return AppError::Session(err).into_response();
    }
    let response = next.run(request).await;
    // After it: the handler may have started a session or logged someone in.
    if let Err(err) = apply(&session, timeouts).await {
        return AppError::Session(err).into_response();
    }
    response
}

async fn apply(
    session: &Session,
    timeouts: Timeouts,
) -> Result<(), tower_sessions::session::Error> {
    let Some(started_at) = session.get::<i64>(STARTED_AT).await? else {
        return Ok(());
    };
    match timeouts.expiry(started_at) {
        Some(expiry) => session.set_expiry(Some(expiry)),
        None => session.flush().await?,
    }
    Ok(())
}
