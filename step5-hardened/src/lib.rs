//! The application, built apart from `main` so tests can drive it without a network.
//!
//! This file plays the part of the Express tutorial's `app.js`: it configures the session
//! middleware and the security layers around the routes. The handlers live in
//! [`routes`]; the timeouts in `session_data`, the store's no-resurrection rule in
//! [`store`], the limits on slow clients in [`server`].

mod config;
mod error;
mod password;
mod routes;
pub mod server;
mod session_data;
pub mod store;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::HttpBody;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use tower_http::csrf::{CsrfLayer, ProtectionError};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_sessions::cookie::{Cookie, Key, SameSite};
use tower_sessions::{Expiry, SessionManagerLayer, SessionStore};
use tracing::Level;

pub use config::Config;
use error::AppError;
pub use error::ErrorPage;
pub use server::serve;
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

/// How long a request body may take to arrive, in total. A client that sends a body a
/// byte at a time ("slowloris") would otherwise hold its connection for as long as it
/// likes; at the deadline the body is cut off and the request answered with a 400. A
/// login form takes milliseconds.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// How long a whole request may take, from its headers to the answer, waiting for a
/// password check included; past it the visitor gets a 408 page and nothing the request
/// did to the session is kept. With [`server::HEADER_TIMEOUT`] this bounds every request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

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
    pub admin_password_hash: SecretString,
}

impl Settings {
    /// The defaults from [`Config`], with the given cookie key.
    pub fn new(cookie_key: Key) -> Self {
        Self {
            cookie_key,
            timeouts: Timeouts {
                idle: Config::DEFAULT_IDLE_TIMEOUT,
                absolute: Config::DEFAULT_ABSOLUTE_TIMEOUT,
            },
            admin_password_hash: DEMO_PASSWORD_HASH.into(),
        }
    }

    /// The settings `config` asks for. Says in the log which classroom defaults are in
    /// use, and why they are not for production.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let cookie_key = match config.cookie_key() {
            Some(key) => key,
            // A key of our own, made now: cookies signed with it are worthless to anyone
            // else, and to this server too once it stops. A key the environment gives
            // stays the same across restarts and servers.
            None => {
                tracing::warn!(
                    "SESSION_SECRET is not set: cookies are signed with a random key, so every \
                     session ends when the server stops (make one with: cargo xtask secret)"
                );
                Key::try_generate().ok_or("the operating system gave no randomness for a key")?
            }
        };
        let admin_password_hash = config.admin_password_hash.clone().unwrap_or_else(|| {
            tracing::warn!("ADMIN_PASSWORD_HASH is not set: the demo user admin/1234 can log in");
            DEMO_PASSWORD_HASH.into()
        });
        Ok(Self {
            cookie_key,
            timeouts: Timeouts {
                idle: config.idle_timeout,
                absolute: config.absolute_timeout,
            },
            admin_password_hash,
        })
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
        // or with a form POST, which stops most CSRF before the cross-origin check even
        // runs; it is sent when a user follows a link here, so a link from an email does
        // not look logged out. Strict would add little: the one GET that changes the
        // session is the visit counter, and a visit from a link is a visit.
        .with_same_site(SameSite::Lax)
        .with_path("/")
        // The cookie's `Max-Age` and the row's expiry start at the idle timeout (in the
        // `time` crate's units); the timeouts middleware moves both on every request.
        .with_expiry(Expiry::OnInactivity(
            time::Duration::try_from(settings.timeouts.idle).unwrap_or(time::Duration::MAX),
        ))
        // `secret`: the cookie carries an HMAC of the id, a keyed checksum that only
        // the holder of the key can make. A made-up or altered id is dropped before the
        // store is even asked.
        .with_signed(settings.cookie_key);

    // Layers run outside in: the last one added sees the request first (the reverse of
    // Express, where the first `app.use` runs first).
    let auth = routes::Auth::new(settings.admin_password_hash.expose_secret());
    let router = routes::router(auth)
        .layer(from_fn_with_state(
            settings.timeouts,
            session_data::enforce_timeouts,
        ))
        .layer(sessions)
        .layer(map_response(secure_cookie_removal))
        // The stylesheet joins outside the session and timeout layers: it is the same for
        // everybody, so it never loads a session, never sets a cookie (a cached copy
        // must not carry anybody's session id) and is served even when the store is down.
        .merge(routes::assets())
        // Cross-site request forgery: a page on another site must not be able to post a
        // form here with the visitor's cookie. Browsers label every request with where it
        // comes from (`Sec-Fetch-Site`; older ones with `Origin`), and a state-changing
        // request from another origin is refused with a 403 before any handler runs. A
        // request with neither header (curl, an API client) is not a browser carrying
        // someone's cookie against their will, and passes.
        .layer(CsrfLayer::new())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyDeadlineLayer::new(BODY_DEADLINE))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(map_response(explain_empty_errors));
    with_security_headers(router)
        // One log line per request with method, path, client address, status and time
        // taken; every line a request logs (a failed login, a refusal) carries the path
        // and address with it. No headers, so no cookie (and no session id) ever reaches
        // the log, and no query string, which is where a careless link puts a secret. The
        // address comes from `serve` (axum's `ConnectInfo`); a test that calls the app
        // directly has none, and its lines have no `client`.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let client = request.extensions().get::<ConnectInfo<SocketAddr>>();
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = request.uri().path(),
                        client = client.map(|ConnectInfo(addr)| tracing::field::display(addr.ip())),
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
}

/// Response headers that tell the browser to be strict with our pages. Public, so that a
/// layer put around [`app`] can give its own answers the same.
pub fn with_security_headers(router: Router) -> Router {
    // Not sent: `Strict-Transport-Security` (HSTS), which helmet sends. Browsers ignore
    // it over plain HTTP, and this server speaks nothing else: it takes effect only
    // through the TLS proxy in front, for that proxy's domain and, with
    // `includeSubDomains`, every site under it, for a year or more. That is a promise
    // about the whole domain; the proxy that serves the domain makes it.
    const HEADERS: [(HeaderName, &str); 6] = [
        // Content Security Policy: only our own stylesheet may load; no scripts at all,
        // no framing, and forms may only post back here. An injected `<script>` would
        // not run.
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        // `nosniff`: take the `Content-Type` at its word, never guess that text is a script.
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Links to other sites do not tell them which page of ours the user was on.
        // (`no-referrer` would also hide it from ourselves, and makes Chromium send
        // `Origin: null` on our own form posts.)
        (header::REFERRER_POLICY, "same-origin"),
        // No framing, for browsers that predate `frame-ancestors`: another site cannot
        // show our page invisibly under its own buttons and have the visitor click ours
        // ("clickjacking").
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
    for (name, value) in response.headers_mut().iter_mut() {
        // Only the removal has an empty value (`__Host-session=;`). The cookie the session
        // layer sets on nearly every response already has all four attributes (see
        // [`app`]) and is left as it is, without being parsed and written again.
        let removal = (value.as_bytes().strip_prefix(COOKIE_NAME.as_bytes()))
            .is_some_and(|rest| rest.starts_with(b"=;"));
        if name != header::SET_COOKIE || !removal {
            continue;
        }
        let Some(mut cookie) = value.to_str().ok().and_then(|v| Cookie::parse(v).ok()) else {
            continue;
        };
        cookie.set_secure(true);
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Lax);
        cookie.set_path("/");
        if let Ok(secured) = HeaderValue::from_str(&cookie.to_string()) {
            *value = secured;
        }
    }
    response
}

/// Three layers answer with an empty body: the session layer when the store fails while
/// saving (500: it throws the handler's answer away), the cross-origin check (403) and
/// the request timeout (408). This gives each a page that says what happened. (A store
/// failure while a handler *reads* the session is already a page: the handler gets the
/// error.)
async fn explain_empty_errors(response: Response) -> Response {
    if response.body().size_hint().exact() != Some(0) {
        return response;
    }
    if let Some(refusal) = response.extensions().get::<ProtectionError>() {
        return AppError::CrossOrigin(refusal.to_string()).into_response();
    }
    match response.status() {
        StatusCode::INTERNAL_SERVER_ERROR => AppError::NotSaved.into_response(),
        StatusCode::REQUEST_TIMEOUT => AppError::TimedOut.into_response(),
        _ => response,
    }
}
