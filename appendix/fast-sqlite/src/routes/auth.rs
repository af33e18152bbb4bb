//! Logging in, logging out and the protected page: the Express tutorial's `routes/auth.js`.

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
use tokio::sync::Semaphore;
use tower_sessions::Session;

use crate::csrf;
use crate::error::AppError;
use crate::session_data::{self, SessionPanel, USER_ID};
use crate::throttle::Throttle;

/// The Express tutorial's dummy user, `{ id: 1, username: 'admin' }`, whose password is
/// known to the server only as an argon2id hash.
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
    /// One permit per password check allowed to run at once; see [`hashing_slots`].
    pub hashing: Arc<Semaphore>,
}

/// How many password checks may run at once: one per core. Each takes a core and 19 MiB
/// for tens of milliseconds; a burst of logins running all at once would finish no
/// sooner, only take 19 MiB each (a thousand logins, 19 GiB). Further logins wait their
/// turn, in order.
pub fn hashing_slots() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
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

/// `POST /login`: the Express tutorial's `app.post('/login', ...)`, hardened.
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
        &auth.hashing,
        credentials.username.clone(),
        credentials.password,
    )
    .await
    else {
        // One message and one status for "no such user" and "wrong password", so the
        // answer does not tell a guesser which usernames exist. The log says who tried
        // from where, for whoever watches for attacks: the username as typed (cut short,
        // and quoted, so a username with line breaks cannot forge log lines), never the
        // password or the session id.
        let username: String = credentials.username.chars().take(64).collect();
        let address = addr.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
        tracing::info!(username = ?username, %address, "failed login");
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
    // Only the user's id goes in: the Express tutorial's "avoid storing sensitive info in session".
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
/// on a blocking thread, not on the threads that serve other requests, and only as many
/// at once as `hashing` has permits.
async fn check(
    user: &Arc<User>,
    hashing: &Arc<Semaphore>,
    username: String,
    password: String,
) -> Option<u32> {
    let known = username == user.username;
    let user = Arc::clone(user);
    let verified = run_limited(hashing, move || {
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

/// Runs `work` on a blocking thread once one of `slots`' permits is free.
///
/// The permit moves into the blocking thread and is given back when `work` ends. Held
/// by the request instead, it would come back as soon as a visitor who gave up closed
/// the connection, while the hash ran on: a flood of abandoned logins could then run
/// any number of hashes at once.
async fn run_limited<T: Send + 'static>(
    slots: &Arc<Semaphore>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let permit = Arc::clone(slots)
        .acquire_owned()
        .await
        .map_err(|err| err.to_string())?;
    tokio::task::spawn_blocking(move || {
        let result = work();
        drop(permit);
        result
    })
    .await
    .map_err(|err| err.to_string())
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
        csrf_token: csrf::token(&session).await?,
        panel: SessionPanel::read(&session).await?,
    })
}

/// `POST /logout`: the Express tutorial's `req.session.destroy(...)`.
async fn logout(session: Session) -> Result<LoggedOutPage, AppError> {
    // `flush` deletes the session from the store, so its id is worthless even to someone
    // who copied the cookie, and empties it in memory. Seeing an empty session that came
    // with a cookie, the session layer answers with a `Set-Cookie` that has already
    // expired (`Max-Age=0`): the browser forgets the id too. Express needs
    // `res.clearCookie()` beside `destroy()` for that second half.
    //
    // If the store fails, the session is still there: the Express tutorial's 500 "Could not
    // log out".
    session.flush().await.map_err(AppError::Logout)?;
    tracing::info!("logged out");

    Ok(LoggedOutPage {
        panel: SessionPanel::read(&session).await?,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    use super::*;

    /// What the blocking work of the test sees: how many run now, and the most at once.
    #[derive(Default)]
    struct Running {
        now: usize,
        most: usize,
        /// Set by the test to let every piece of work finish.
        open: bool,
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_hashes_run_at_once_than_there_are_slots() {
        let slots = Arc::new(Semaphore::new(2));
        let running = Arc::new((Mutex::new(Running::default()), Condvar::new()));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let (slots, running) = (Arc::clone(&slots), Arc::clone(&running));
            tasks.spawn(async move {
                run_limited(&slots, move || {
                    let (state, changed) = &*running;
                    let mut state = state.lock().expect("not poisoned");
                    state.now += 1;
                    state.most = state.most.max(state.now);
                    changed.notify_all();
                    // Stand-in for a long hash: hold the slot until the test says so.
                    while !state.open {
                        state = changed.wait(state).expect("not poisoned");
                    }
                    state.now -= 1;
                })
                .await
            });
        }

        // Wait until two run, then give the other four every chance to start too.
        let (state, changed) = &*running;
        {
            let mut guard = state.lock().expect("not poisoned");
            while guard.now < 2 {
                guard = changed.wait(guard).expect("not poisoned");
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let at_once = state.lock().expect("not poisoned").now;
        state.lock().expect("not poisoned").open = true;
        changed.notify_all();
        let results = tasks.join_all().await;

        assert_eq!(at_once, 2, "the other four wait for a slot");
        assert!(results.iter().all(Result::is_ok), "all six ran in the end");
        assert_eq!(state.lock().expect("not poisoned").most, 2);
    }
}
