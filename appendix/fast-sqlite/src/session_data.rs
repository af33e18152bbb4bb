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

/// The visit counter: `req.session.views` in the Express tutorial.
pub const VIEWS: &str = "views";

/// The logged-in user's id: `req.session.userId` in the Express tutorial. Only the id goes in the
/// session, never the password or the whole user record: the Express tutorial's "avoid storing
/// sensitive info directly in session".
pub const USER_ID: &str = "user_id";

/// When this session began (at login, or when its first form was shown), as a Unix
/// timestamp. The absolute timeout counts from here.
pub const STARTED_AT: &str = "started_at";

/// When this session's row was last written with a new expiry, as a Unix timestamp. The
/// idle timeout counts from here; see [`Timeouts::touch_after`].
pub const TOUCHED_AT: &str = "touched_at";

/// Every key this application may store, in the order the panel lists them.
const KEYS: [&str; 5] = [VIEWS, USER_ID, STARTED_AT, TOUCHED_AT, csrf::TOKEN];

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
        // The row as this request will leave it: `touched_at` and the expiry count from
        // its last write, which is now only if this request writes it. (The session's own
        // `expiry_date` always counts from now, as if every request wrote the row.)
        let now = OffsetDateTime::now_utc();
        let row = match TIMEOUTS.try_with(|timeouts| *timeouts) {
            Ok(timeouts) => timeouts.row(session, now).await?,
            Err(_) => None,
        };
        let mut entries = Vec::new();
        for key in KEYS {
            let value = match row {
                Some((touched_at, _)) if key == TOUCHED_AT => {
                    Some(touched_at.unix_timestamp().into())
                }
                _ => session.get_value(key).await?,
            };
            if let Some(value) = value {
                entries.push((key, value.to_string()));
            }
        }
        let expiry_date = row.map_or_else(|| session.expiry_date(), |(_, expiry)| expiry);
        Ok(Self {
            entries,
            // Rounded: the age is measured a few microseconds after the expiry was set.
            expires_in_secs: (expiry_date - now).as_seconds_f64().round().max(0.0) as i64,
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
    /// A request that only reads the session moves its expiry (and so writes its row
    /// and sends a new cookie) only if the last write is at least this old. A request
    /// that changes the session writes it anyway, and moves the expiry with it.
    ///
    /// Without this, counting reads as activity costs a database write on every request.
    /// The price: the expiry lags the last request by up to `touch_after`, in the row and
    /// in the cookie's `Max-Age` alike, so a session can end up to `touch_after` sooner
    /// than `idle` after the last request. connect-mongo's `touchAfter` makes the same
    /// trade for Express. Must be shorter than `idle` (zero writes on every request).
    pub touch_after: Duration,
}

tokio::task_local! {
    /// The timeouts, lent by [`enforce_timeouts`] to the handler it runs, so that the
    /// panel can tell when the row will expire: a handler has the session, not the
    /// settings.
    static TIMEOUTS: Timeouts;
}

impl Timeouts {
    /// The session's expiry if it is still allowed to live: `idle` from `now`, but never
    /// past `absolute` after its start. `None` once the absolute limit has passed.
    fn expiry(&self, started_at: i64, now: OffsetDateTime) -> Option<Expiry> {
        let end = self.end(started_at)?;
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

    /// The absolute limit of a session that started at `started_at`.
    fn end(&self, started_at: i64) -> Option<OffsetDateTime> {
        Some(OffsetDateTime::from_unix_timestamp(started_at).ok()? + self.absolute)
    }

    /// When the session's row was last written, if this request need not write it
    /// again. `None` when it must: the handler changed the session (so it is written
    /// anyway, and moving the expiry costs nothing), or the last write is `touch_after`
    /// old, or it is not known.
    async fn recent_write(
        &self,
        session: &Session,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, tower_sessions::session::Error> {
        if session.is_modified() {
            return Ok(None);
        }
        let touched_at = session.get::<i64>(TOUCHED_AT).await?;
        Ok(touched_at
            .and_then(|touched_at| OffsetDateTime::from_unix_timestamp(touched_at).ok())
            .filter(|&touched_at| now - touched_at < self.touch_after))
    }

    /// The session's row as this request will leave it: when it was last written with a
    /// new expiry (now, if this request writes it), and that expiry: `idle` later, never
    /// past the absolute limit. `None` for a session these timeouts do not govern, one
    /// that has not started.
    async fn row(
        &self,
        session: &Session,
        now: OffsetDateTime,
    ) -> Result<Option<(OffsetDateTime, OffsetDateTime)>, tower_sessions::session::Error> {
        let Some(started_at) = session.get::<i64>(STARTED_AT).await? else {
            return Ok(None);
        };
        let touched_at = self.recent_write(session, now).await?.unwrap_or(now);
        Ok(self
            .end(started_at)
            .map(|end| (touched_at, (touched_at + self.idle).min(end))))
    }
}

/// Middleware: enforces both timeouts on the server, on every request.
///
/// tower-sessions' `Expiry::OnInactivity` pushes the expiry back only when a handler
/// *changes* the session, so a user who only reads pages would be logged out in the
/// middle of reading. Setting the expiry here makes any request count as activity
/// (express-session calls this `rolling: true`). The stored row and the cookie's
/// `Max-Age` both get the new expiry, so the database enforces the timeout even if a
/// browser keeps the cookie longer. Setting it means writing the row, so a request that
/// only reads does it at most once per [`Timeouts::touch_after`].
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
    let response = TIMEOUTS.scope(timeouts, next.run(request)).await;
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

/// Moves the expiry to `idle` from now and notes the time, unless the row was written
/// less than `touch_after` ago and the handler changed nothing: then the session is left
/// alone, so nothing is written and no cookie is sent.
async fn touch(
    session: &Session,
    timeouts: Timeouts,
) -> Result<(), tower_sessions::session::Error> {
    let Some(started_at) = session.get::<i64>(STARTED_AT).await? else {
        return Ok(());
    };
    let now = OffsetDateTime::now_utc();
    if timeouts.recent_write(session, now).await?.is_some() {
        return Ok(());
    }
    match timeouts.expiry(started_at, now) {
        Some(expiry) => {
            session.set_expiry(Some(expiry));
            session.insert(TOUCHED_AT, now.unix_timestamp()).await?;
        }
        None => session.flush().await?,
    }
    Ok(())
}
