//! The application, built apart from `main` so tests can drive it without a network.
//!
//! This file plays the part of the Express tutorial's `app.js`: it configures the session
//! middleware and the security layers around the routes. The handlers live in
//! [`routes`]; each protection has its own module: [`csrf`], [`throttle`], the timeouts in
//! `session_data`, the store's no-resurrection rule in [`store`], which the memory
//! [`cache`] in front of it keeps too.

pub mod cache;
mod config;
pub mod csrf;
mod db_file;
mod error;
mod routes;
mod session_data;
pub mod store;
pub mod throttle;

use std::sync::Arc;

use axum::Router;
use axum::body::HttpBody;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tower_sessions::cookie::{Cookie, Key, SameSite};
use tower_sessions::{Expiry, SessionManagerLayer, SessionStore};
use tracing::Level;

pub use config::Config;
use error::AppError;
pub use routes::User;
pub use session_data::Timeouts;

/// The session cookie's name. The `__Host-` prefix makes browsers refuse the cookie
/// unless it is `Secure`, has `Path=/` and no `Domain`, so no other subdomain or
/// plain-HTTP page can plant or overwrite it; and a name of our own (not the default
/// `id`) does not announce which framework runs the site.
pub const COOKIE_NAME: &str = "__Host-session";

/// The largest request body accepted, in bytes. A login form is well under 1 KiB; refusing
/// anything much larger (with `413 Payload Too Large`) stops a client from making the
/// server buffer megabytes it will never use. Express's `express.json()` limit is 100 KiB.
pub const BODY_LIMIT: usize = 16 * 1024;

/// How long a client may take between two pieces of a request body. One that starts a
/// body and then goes quiet (by accident, or on purpose to tie the server up: "slowloris")
/// is cut off with a 400 instead of holding its connection forever.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The argon2id hash of the demo password `1234`, made with OWASP's minimum settings
/// (19 MiB of memory, 2 passes, 1 lane). Only the hash is in the source, so even this
/// demo never keeps a password in plain text. `ADMIN_PASSWORD_HASH` replaces it.
pub const DEMO_PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$78CfEjrPu2JNHSutpxm4Ug$e54AwhYAwDxetVHAJbahNRYi55r46HIM3kTV85eWI7g";

/// Everything [`app`] needs besides the store.
#[derive(Clone)]
pub struct Settings {
    /// Signs the session cookie.
    pub cookie_key: Key,
    pub timeouts: Timeouts,
    /// The demo user's password hash (PHC string).
    pub admin_password_hash: String,
    pub throttle: throttle::Limits,
}

impl Settings {
    /// The defaults from [`Config`], with the given cookie key.
    pub fn new(cookie_key: Key) -> Self {
        Self {
            cookie_key,
            timeouts: Timeouts {
                idle: Config::DEFAULT_IDLE_TIMEOUT,
                absolute: Config::DEFAULT_ABSOLUTE_TIMEOUT,
                touch_after: Config::DEFAULT_TOUCH_AFTER,
            },
            admin_password_hash: DEMO_PASSWORD_HASH.to_string(),
            throttle: throttle::Limits::default(),
        }
    }
}

/// Builds the whole application: routes plus the session and security layers.
///
/// `store` is where session data lives between requests (`main` passes the SQLite
/// store from [`store::open`]). Taking it as an argument lets tests hand in a store of their own.
pub fn app(store: impl SessionStore + Clone, settings: Settings) -> Router {
    // The hardened counterpart of `app.use(session({ ... }))`. Each line is one of the
    // Express tutorial's best practices or one OWASP adds.
    let sessions = SessionManagerLayer::new(store)
        .with_name(COOKIE_NAME)
        // `cookie.secure: true`: the cookie only travels over HTTPS, so nobody on the
        // network path can read it. Browsers treat `http://localhost` as secure, so this
        // works in class too (in Chrome and Firefox; Safari needs HTTPS even there).
        .with_secure(true)
        // `cookie.httpOnly: true`: JavaScript (`document.cookie`) cannot read it, so a
        // script injected into a page cannot steal the session.
        .with_http_only(true)
        // Lax: the cookie is not sent on requests another site starts in the background
        // or with a form POST, which stops most CSRF before the token check even runs;
        // it is sent when a user follows a link here, so a link from an email does not
        // look logged out. Strict would add nothing: no GET here changes anything.
        .with_same_site(SameSite::Lax)
        .with_path("/")
        // The cookie's `Max-Age` and the row's expiry start at the idle timeout; the
        // timeouts middleware moves both as the visitor keeps coming back.
        .with_expiry(Expiry::OnInactivity(to_time(settings.timeouts.idle)))
        // `secret`: the cookie carries an HMAC of the id, made with a key only the server
        // has. A made-up or altered id is dropped before the store is even asked.
        .with_signed(settings.cookie_key);

    let auth = routes::Auth {
        user: Arc::new(User {
            id: 1,
            username: "admin".to_string(),
            password_hash: settings.admin_password_hash,
        }),
        throttle: throttle::Throttle::new(settings.throttle),
        hashing: Arc::new(tokio::sync::Semaphore::new(routes::hashing_slots())),
    };

    // Layers run outside in: the last one added sees the request first.
    let router = routes::router(auth)
        .layer(from_fn(csrf::guard))
        .layer(from_fn_with_state(
            settings.timeouts,
            session_data::enforce_timeouts,
        ))
        .layer(sessions)
        .layer(map_response(secure_cookie_removal))
        .layer(map_response(explain_save_failure))
        // The stylesheet joins outside the session, timeout and CSRF layers: it is the
        // same for everybody, so it never loads a session, never sets a cookie (a cached
        // copy must not carry anybody's session id) and is served even when the store is down.
        .merge(routes::assets())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT));
    with_security_headers(router)
        // One log line per request with method, path, status and time taken. No headers,
        // so no cookie (and no session id) ever reaches the log.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
}

/// Response headers that tell the browser to be strict with our pages.
fn with_security_headers(router: Router) -> Router {
    // Not sent: `Strict-Transport-Security` (HSTS), which helmet sends. Browsers ignore
    // it over plain HTTP, and this server speaks nothing else: it takes effect only
    // through the TLS proxy in front, for that proxy's domain and, with
    // `includeSubDomains`, every site under it, for a year or more. That is a promise
    // about the whole domain; the proxy that serves the domain makes it.
    const HEADERS: [(HeaderName, &str); 6] = [
        // Only our own stylesheet may load; no scripts at all, no framing, and forms may
        // only post back here. An injected `<script>` would not run.
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        // Take the `Content-Type` at its word: never guess that text is a script.
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Links to other sites do not tell them which page of ours the user was on.
        // (`no-referrer` would also hide it from ourselves, and makes Chromium send
        // `Origin: null` on our own form posts.)
        (header::REFERRER_POLICY, "same-origin"),
        // No framing, for browsers that predate `frame-ancestors` (clickjacking).
        (header::X_FRAME_OPTIONS, "DENY"),
        // A page of another site that opened ours (a link with `target=_blank`, a popup)
        // gets no handle on our window, and ours none on it: no tab-nabbing, no
        // counting frames or reading navigation through the handle. Nothing here needs
        // a popup talking back.
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        // Other sites cannot load our pages or stylesheet as an image, script or style
        // of theirs, so no response of ours lands in another site's process where a
        // side channel (Spectre) could read it. Only our own pages use our files.
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ];
    let router = HEADERS.into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ))
    });
    // Every page shows session data, so no browser or proxy may keep a copy: after
    // logging out, the back button must not show the dashboard again. The stylesheet
    // sets its own, cacheable, header.
    router.layer(SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ))
}

/// tower-sessions deletes the cookie (at logout, at the absolute timeout, for a cookie
/// whose session is gone) with `__Host-session=; Path=/; Max-Age=0`, without `Secure`.
/// Browsers refuse every `__Host-` cookie that is not `Secure`, this deleting one
/// included, and would keep the old cookie. This gives our cookie's removal the
/// attributes the cookie was set with, so the browser obeys it.
async fn secure_cookie_removal(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| {
            let parsed = value.to_str().ok().and_then(|v| Cookie::parse(v).ok());
            match parsed {
                Some(mut cookie) if cookie.name() == COOKIE_NAME => {
                    cookie.set_secure(true);
                    cookie.set_http_only(true);
                    cookie.set_same_site(SameSite::Lax);
                    cookie.set_path("/");
                    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| value.clone())
                }
                _ => value.clone(),
            }
        })
        .collect();
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
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

/// tower-sessions counts time with the `time` crate; the settings use the standard library.
fn to_time(duration: std::time::Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}
