//! What this application keeps in a session, and the panel that shows it.
//!
//! A session is a small key → value map stored on the server (values are JSON). The
//! browser holds only the session's id, in a cookie; every request brings the cookie
//! back and the session layer looks the data up again.

use tower_sessions::Session;

/// The visit counter: `req.session.views` in the Express tutorial.
pub const VIEWS: &str = "views";

/// The logged-in user's id: `req.session.userId` in the Express tutorial. Only the id goes in the
/// session, never the password or the whole user record: the Express tutorial's "avoid storing
/// sensitive info directly in session".
pub const USER_ID: &str = "user_id";

/// Every key this application may store, in the order the panel lists them.
const KEYS: [&str; 2] = [VIEWS, USER_ID];

/// "What the server knows about you": the panel at the bottom of every page, so a
/// student can watch the session change as they click.
pub struct SessionPanel {
    /// Each stored key with its value as JSON, e.g. `("views", "3")`.
    pub entries: Vec<(&'static str, String)>,
    /// Seconds until the session expires if the browser does nothing.
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
