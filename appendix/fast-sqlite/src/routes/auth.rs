//! Logging in, logging out and the protected page: the seed's `routes/auth.js`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::csrf;
use crate::error::AppError;
use crate::session_data::{self, SessionPanel, USER_ID};
use crate::throttle::Throttle;

/// The seed's dummy user, `{ id: 1, username: 'admin' }`, whose password is known to the
/// server only as an argon2id hash.
pub struct User {
    pub id: u32,
    pub username: String,
    /// The password's hash in PHC form: `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
    /// The string carries its own salt and cost settings, so a hash made with stronger
    /// settings later keeps working beside older ones.
    pub password_hash: String,
}

/// What the login route needs besides the request: the user to check against and the
/// throttle that counts failures.
#[derive(Clone)]
pub struct Auth {
    pub user: Arc<User>,
    pub throttle: Throttle,
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
    /// This session's CSRF token, for the form's hidden field.
    csrf_token: String,
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
    /// For the logout form's hidden field.
    csrf_token: String,
    panel: SessionPanel,
}

/// `GET /login`: the form. The form must carry a CSRF token, and the token lives in the
/// session, so this page starts a session (and sets the cookie) for a new visitor.
async fn login_form(session: Session) -> Result<LoginPage, AppError> {
    Ok(LoginPage {
        error: None,
        username: String::new(),
        csrf_token: csrf::token(&session).await?,
        panel: SessionPanel::read(&session).await?,
    })
}

/// The fields of `req.body` the seed reads.
#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// How the credentials arrived, so the answer comes back in the same kind.
enum LoginRequest {
    /// From the HTML form (`application/x-www-form-urlencoded`): answered with a page.
    Form(Credentials),
    /// From an API client (`application/json`, the seed's `express.json()`): answered
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
            let Json(credentials) =
                Json::from_request(req, state)
                    .await
                    .map_err(|rejection| AppError::BadRequest {
                        status: rejection.status(),
                        detail: rejection.body_text(),
                    })?;
            Ok(Self::Json(credentials))
        } else if media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            let Form(credentials) =
                Form::from_request(req, state)
                    .await
                    .map_err(|rejection| AppError::BadRequest {
                        status: rejection.status(),
                        detail: rejection.body_text(),
                    })?;
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

/// The client's network address, when the server knows it (it does when it is served
/// with `into_make_service_with_connect_info`, as `main` does).
///
/// Behind a reverse proxy this is the proxy's address; trusting `X-Forwarded-For`
/// instead is only safe when the proxy sets it, so this lesson does not.
struct ClientAddr(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(Self(addr.map(|ConnectInfo(addr)| addr.ip())))
    }
}

/// `POST /login`: the seed's `app.post('/login', ...)`, hardened.
async fn login(
    State(auth): State<Auth>,
    ClientAddr(addr): ClientAddr,
    session: Session,
    request: LoginRequest,
) -> Result<Response, AppError> {
    let (credentials, is_json) = match request {
        LoginRequest::Form(credentials) => (credentials, false),
        LoginRequest::Json(credentials) => (credentials, true),
    };

    // Refused before any password work while this account or address is backing off:
    // a throttled guess costs the server almost nothing. The attempt counts as a
    // failure unless `succeeded` is called below.
    let attempt = auth
        .throttle
        .begin(&credentials.username, addr)
        .await
        .map_err(|retry_after| AppError::TooManyAttempts { retry_after })?;

    let Some(user_id) = check(
        &auth.user,
        credentials.username.clone(),
        credentials.password,
    )
    .await
    else {
        // One message and one status for "no such user" and "wrong password", so the
        // answer does not tell a guesser which usernames exist.
        tracing::info!("failed login");
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
                csrf_token: csrf::token(&session).await?,
                panel: SessionPanel::read(&session).await?,
            };
            (StatusCode::UNAUTHORIZED, page).into_response()
        });
    };
    attempt.succeeded();

    // Session fixation: if an attacker planted a session id in this browser before the
    // login (`regenerate()` in express-session), that id must not become a logged-in
    // session. `cycle_id` deletes the old row and gives the session a new id, keeping its
    // data; the absolute timeout and the CSRF token start afresh with it.
    session.cycle_id().await?;
    session_data::start(&session).await?;
    csrf::rotate(&session).await?;
    // Only the user's id goes in: the seed's "avoid storing sensitive info in session".
    session.insert(USER_ID, user_id).await?;
    tracing::info!(user_id, "logged in");

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

/// Checks a username and password; the user's id if they match.
///
/// Exactly one argon2 verification runs whatever the username: for an unknown name the
/// password is checked against the real user's hash and the answer thrown away. A quick
/// "no such user" would let a guesser find valid usernames by timing the answers.
/// argon2 is deliberately slow (tens of milliseconds and 19 MiB of memory), so it runs
/// on a blocking thread, not on the threads that serve other requests.
async fn check(user: &Arc<User>, username: String, password: String) -> Option<u32> {
    let known = username == user.username;
    let user = Arc::clone(user);
    let verified = tokio::task::spawn_blocking(move || {
        let hash = PasswordHash::new(&user.password_hash).ok()?;
        // The whole password is hashed, however long: nothing is cut at 72 bytes as
        // with bcrypt. The body limit keeps "however long" reasonable.
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .ok()
            .map(|()| user.id)
    })
    .await;
    match verified {
        Ok(id) if known => id,
        Ok(_) => None,
        Err(err) => {
            tracing::error!("password check did not finish: {err}");
            None
        }
    }
}

/// The JSON answer to an API client: `{"message": "..."}` with the seed's texts.
#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// `GET /dashboard`: the seed's protected route. Only a session that holds a user id
/// gets in; everybody else gets `401 Unauthorized` and a link to the login form.
async fn dashboard(session: Session) -> Result<DashboardPage, AppError> {
    let Some(user_id) = session.get::<u32>(USER_ID).await? else {
        return Err(AppError::Unauthorized);
    };
    Ok(DashboardPage {
        user_id,
        csrf_token: csrf::token(&session).await?,
        panel: SessionPanel::read(&session).await?,
    })
}

/// `POST /logout`: the seed's `req.session.destroy(...)`.
async fn logout(session: Session) -> Result<LoggedOutPage, AppError> {
    // `flush` deletes the session from the store, so its id is worthless even to someone
    // who copied the cookie, and empties it in memory. Seeing an empty session that came
    // with a cookie, the session layer answers with a `Set-Cookie` that has already
    // expired (`Max-Age=0`): the browser forgets the id too. Express needs
    // `res.clearCookie()` beside `destroy()` for that second half.
    //
    // If the store fails, the session is still there: the seed's 500 "Could not log out".
    session.flush().await.map_err(AppError::Logout)?;
    tracing::info!("logged out");

    Ok(LoggedOutPage {
        panel: SessionPanel::read(&session).await?,
    })
}
