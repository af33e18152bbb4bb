//! Logging in, logging out and the protected page: the Express tutorial's `routes/auth.js`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::error::AppError;
use crate::session_data::{SessionPanel, USER_ID};

/// The Express tutorial's dummy user: `{ id: 1, username: 'admin', password: '1234' }`.
struct User {
    id: u32,
    username: &'static str,
    password: &'static str,
}

/// A password in the source code and compared as plain text is only acceptable in a
/// lesson; a real application keeps only a slow hash of it (argon2id).
const USER: User = User {
    id: 1,
    username: "admin",
    password: "1234",
};

/// The routes of this module.
pub fn router() -> Router {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/dashboard", get(dashboard))
        // POST, never GET: a GET must not change anything, because browsers prefetch
        // links and any page on the web can make a browser GET a URL (an `<img>` tag is
        // enough) and would log the visitor out.
        .route("/logout", post(logout))
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

/// `POST /login`: the Express tutorial's `app.post('/login', ...)`.
async fn login(session: Session, request: LoginRequest) -> Result<Response, AppError> {
    let (credentials, is_json) = match request {
        LoginRequest::Form(credentials) => (credentials, false),
        LoginRequest::Json(credentials) => (credentials, true),
    };

    if credentials.username != USER.username || credentials.password != USER.password {
        // 401, as the Express tutorial answers: the credentials did not identify anybody.
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
    }

    // `req.session.userId = user.id`: the session now says who this browser is. From
    // here on every request with this session's cookie is this user's request.
    session.insert(USER_ID, USER.id).await?;

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
    // `flush` deletes the session from the store, so its id is worthless even to someone
    // who copied the cookie, and empties it in memory. Seeing an empty session that came
    // with a cookie, the session layer answers with a `Set-Cookie` that has already
    // expired (`Max-Age=0`): the browser forgets the id too. Express needs
    // `res.clearCookie()` beside `destroy()` for that second half.
    //
    // If the store fails, the session is still there: the Express tutorial's 500 "Could not
    // log out".
    session.flush().await.map_err(AppError::Logout)?;

    Ok(LoggedOutPage {
        panel: SessionPanel::read(&session).await?,
    })
}
