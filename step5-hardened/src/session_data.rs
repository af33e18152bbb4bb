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

use crate::error::AppError;

/// The visit counter: `req.session.views` in the Express tutorial.
pub const VIEWS: &str = "views";

/// The logged-in user's id: `req.session.userId` in the Express tutorial. Only the id goes in the
/// session, never the password or the whole user record: the Express tutorial's "avoid storing
/// sensitive info directly in session".
pub const USER_ID: &str = "user_id";

/// When this session began (at login, or when it was first stored), as a Unix timestamp.
/// The absolute timeout counts from here.
pub const STARTED_AT: &str = "started_at";

/// Every key this application may store, in the order the panel lists them.
const KEYS: [&str; 3] = [VIEWS, USER_ID, STARTED_AT];

/// "What the server knows about you": the panel at the bottom of every page, so a
/// student can watch the session change as they click.
pub struct SessionPanel {
    /// Each stored key with its value as JSON, e.g. `("views", "3")`.
    pub entries: Vec<(&'static str, String)>,
    /// Seconds until the session expires if the browser does nothing.
    pub expires_in_secs: i64,
}

impl SessionPanel {
    /// Reads the session as it is at this point of the request.
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

/// Marks the session as starting now: at login, so that the absolute timeout counts
/// from the moment the user proved who they are.
pub async fn start(session: &Session) -> Result<(), tower_sessions::session::Error> {
    session
        .insert(STARTED_AT, OffsetDateTime::now_utc().unix_timestamp())
        .await
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
    /// The session's expiry if it is still allowed to live: `idle` from `now`, but never
    /// past `absolute` after its start. `None` once the absolute limit has passed.
    fn expiry(&self, started_at: i64, now: OffsetDateTime) -> Option<Expiry> {
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
/// middle of reading. Setting the expiry here on every request makes any request count
/// as activity: the session is saved, and a fresh cookie sent, each time, as
/// express-session does with `rolling: true`. The stored row and the cookie's `Max-Age`
/// both get the new expiry, so the database enforces the timeout even if a browser
/// keeps the cookie longer.
pub async fn enforce_timeouts(
    State(timeouts): State<Timeouts>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    // Before the handler: a session past its absolute limit is over.
    if let Err(err) = end_if_too_old(&session, timeouts).await {
        return AppError::Session(err).into_response();
    }
    let response = next.run(request).await;
    // After it: the handler may have started a session, logged someone in, or only read.
    if let Err(err) = touch(&session, timeouts).await {
        return AppError::Session(err).into_response();
    }
    response
}

async fn end_if_too_old(
    session: &Session,
    timeouts: Timeouts,
) -> Result<(), tower_sessions::session::Error> {
    let Some(started_at) = session.get::<i64>(STARTED_AT).await? else {
        return Ok(());
    };
    if timeouts
        .expiry(started_at, OffsetDateTime::now_utc())
        .is_none()
    {
        session.flush().await?;
    }
    Ok(())
}

/// Moves the expiry of a session that holds anything to `idle` from now (never past
/// the absolute limit). A session stored for the first time without a login, such as
/// the visit counter's, starts now.
async fn touch(
    session: &Session,
    timeouts: Timeouts,
) -> Result<(), tower_sessions::session::Error> {
    let started_at = session.get::<i64>(STARTED_AT).await?;
    // No session, one whose cookie named a session that is gone, or one the handler
    // just ended (logout): nothing to keep alive.
    if session.is_empty().await {
        return Ok(());
    }
    let now = OffsetDateTime::now_utc();
    let started_at = match started_at {
        Some(started_at) => started_at,
        None => {
            start(session).await?;
            now.unix_timestamp()
        }
    };
    match timeouts.expiry(started_at, now) {
        Some(expiry) => session.set_expiry(Some(expiry)),
        None => session.flush().await?,
    }
    Ok(())
}
