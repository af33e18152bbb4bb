//! Logging in, logging out and the protected page: the Express tutorial's `routes/auth.js`.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::error::AppError;
use crate::password::{self, PasswordCheck};
use crate::session_data::{self, SessionPanel, USER_ID};

/// The Express tutorial's dummy user: `{ id: 1, username: 'admin' }`. Its password is
/// known to the server only as an argon2id hash ([`Auth`]).
struct User {
    id: u32,
    username: &'static str,
}

const USER: User = User {
    id: 1,
    username: "admin",
};

/// What the login route needs besides the request: the user's password hash, with the
/// work areas to check passwords against it; `None` if the hash could not be read, and
/// then no password is right.
#[derive(Clone)]
pub struct Auth(Option<Arc<PasswordCheck>>);

impl Auth {
    /// `password_hash` is the user's password as an argon2id PHC string.
    pub fn new(password_hash: &str) -> Self {
        let check = PasswordCheck::new(password_hash, password::slots())
            .inspect_err(|err| tracing::error!("the password hash cannot be used: {err}"))
            .ok();
        Self(check.map(Arc::new))
    }

    /// Checks a username and password; the user's id if they match.
    ///
    /// Exactly one argon2 check runs whatever the username: for an unknown name the
    /// password is checked against the real user's hash and the answer thrown away. A
    /// quick "no such user" would let a guesser find valid usernames by timing the
    /// answers.
    async fn check(&self, username: &str, password: String) -> Option<u32> {
        let verified = match &self.0 {
            Some(check) => check.verify(password).await,
            None => false,
        };
        (verified && username == USER.username).then_some(USER.id)
    }
}

/// The routes of this module.
pub fn router(auth: Auth) -> Router {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/dashboard", get(dashboard))
        // POST, never GET: a GET must not change anything, because browsers prefetch
        // links and any page on the web can make a browser GET a URL (an `<img>` tag is
        // enough) and would log the visitor out.
        .route("/logout", post(logout))
        .with_state(auth)
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    /// Shown above the form after a failed attempt.
    error: Option<&'static str>,
    /// Typed back into the form after a failed attempt (the template escapes it).
    username: String,
    panel: SessionPanel,
}

#[derive(Template, WebTemplate)]
#[template(path = "logged_in.html")]
struct LoggedInPage {
    panel: SessionPanel,
}

#[derive(Template, WebTemplate)]
#[template(path = "logged_out.html")]
struct LoggedOutPage {
    panel: SessionPanel,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    user_id: u32,
    panel: SessionPanel,
}

/// `GET /login`: the form. Reading the panel does not change the session, so an
/// anonymous visitor gets no cookie from this page.
async fn login_form(session: Session) -> Result<LoginPage, AppError> {
    Ok(LoginPage {
        error: None,
        username: String::new(),
        panel: SessionPanel::read(&session).await?,
    })
}

/// The fields of `req.body` the Express tutorial reads.
#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// How the credentials arrived, so the answer comes back in the same kind.
enum LoginRequest {
    /// From the HTML form (`application/x-www-form-urlencoded`): answered with a page.
    Form(Credentials),
    /// From an API client (`application/json`, the Express tutorial's `express.json()`): answered
    /// with JSON.
    Json(Credentials),
}

/// Reads the body as a form or as JSON, going by its `Content-Type`, like Express with
/// both `express.urlencoded()` and `express.json()` mounted. Anything else is
/// `415 Unsupported Media Type`; a body that does not parse is a 4xx page that says why.
impl<S: Send + Sync> FromRequest<S> for LoginRequest {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        // The media type is what comes before any `; charset=...` parameter.
        let media_type = content_type.split(';').next().unwrap_or_default().trim();

        if media_type.eq_ignore_ascii_case("application/json") {
            let Json(credentials) = Json::from_request(req, state)
                .await
                .map_err(|rejection| bad_login(rejection.status()))?;
            Ok(Self::Json(credentials))
        } else if media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            let Form(credentials) = Form::from_request(req, state)
                .await
                .map_err(|rejection| bad_login(rejection.status()))?;
            Ok(Self::Form(credentials))
        } else {
            Err(AppError::BadRequest {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                detail: "Send the login as a form (application/x-www-form-urlencoded) \
                         or as JSON (application/json)."
                    .to_string(),
            })
        }
    }
}

/// A login body that could not be used, explained in words. The parser's own message
/// is not shown: it names the server's types and fields ("expected struct
/// Credentials"), which tells a visitor nothing useful and a prober how the server is
/// built.
fn bad_login(status: StatusCode) -> AppError {
    let detail = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "The login is larger than the server accepts.",
        StatusCode::BAD_REQUEST => {
            "The login could not be read: it is not well-formed, or did not arrive whole."
        }
        _ => "The login needs a username and a password, both as text.",
    };
    AppError::BadRequest {
        status,
        detail: detail.to_string(),
    }
}

/// `POST /login`: the Express tutorial's `app.post('/login', ...)`, hardened.
async fn login(
    State(auth): State<Auth>,
    session: Session,
    request: LoginRequest,
) -> Result<Response, AppError> {
    let (credentials, is_json) = match request {
        LoginRequest::Form(credentials) => (credentials, false),
        LoginRequest::Json(credentials) => (credentials, true),
    };

    let Some(user_id) = auth
        .check(&credentials.username, credentials.password)
        .await
    else {
        // One message and one status for "no such user" and "wrong password", so the
        // answer does not tell a guesser which usernames exist. The log says who tried
        // (the request's log span adds from where), for whoever watches for attacks: the
        // username as typed (cut short, and quoted, so a username with line breaks cannot
        // forge log lines), never the password or the session id.
        let username: String = credentials.username.chars().take(64).collect();
        tracing::info!(username = ?username, "failed login");
        return Ok(if is_json {
            (
                StatusCode::UNAUTHORIZED,
                Json(Message {
                    message: "Invalid credentials",
                }),
            )
                .into_response()
        } else {
            let page = LoginPage {
                error: Some("Invalid credentials"),
                username: credentials.username,
                panel: SessionPanel::read(&session).await?,
            };
            (StatusCode::UNAUTHORIZED, page).into_response()
        });
    };

    // Session fixation: if an attacker planted a session id in this browser before the
    // login (`regenerate()` in express-session), that id must not become a logged-in
    // session. `cycle_id` deletes the old row and gives the session a new id, keeping its
    // data; the absolute timeout starts afresh with it.
    session.cycle_id().await?;
    session_data::start(&session).await?;
    // Only the user's id goes in: the Express tutorial's "avoid storing sensitive info in session".
    session.insert(USER_ID, user_id).await?;
    tracing::info!(user_id, username = USER.username, "logged in");

    Ok(if is_json {
        Json(Message {
            message: "Logged in successfully",
        })
        .into_response()
    } else {
        LoggedInPage {
            panel: SessionPanel::read(&session).await?,
        }
        .into_response()
    })
}

/// The JSON answer to an API client: `{"message": "..."}` with the Express tutorial's texts.
#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// `GET /dashboard`: the Express tutorial's protected route. Only a session that holds a user id
/// gets in; everybody else gets `401 Unauthorized` and a link to the login form.
async fn dashboard(session: Session) -> Result<DashboardPage, AppError> {
    let Some(user_id) = session.get::<u32>(USER_ID).await? else {
        return Err(AppError::Unauthorized);
    };
    Ok(DashboardPage {
        user_id,
        panel: SessionPanel::read(&session).await?,
    })
}

/// `POST /logout`: the Express tutorial's `req.session.destroy(...)`.
async fn logout(session: Session) -> Result<LoggedOutPage, AppError> {
    // Who logs out, for the log.
    let user_id = session.get::<u32>(USER_ID).await?;
    // `flush` deletes the session from the store, so its id is worthless even to someone
    // who copied the cookie, and empties it in memory. Seeing an empty session that came
    // with a cookie, the session layer answers with a `Set-Cookie` that has already
    // expired (`Max-Age=0`): the browser forgets the id too. Express needs
    // `res.clearCookie()` beside `destroy()` for that second half.
    //
    // If the store fails, the session is still there: the Express tutorial's 500 "Could not
    // log out".
    session.flush().await.map_err(AppError::Logout)?;
    tracing::info!(?user_id, "logged out");

    Ok(LoggedOutPage {
        panel: SessionPanel::read(&session).await?,
    })
}
