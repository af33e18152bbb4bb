//! Cross-site request forgery (CSRF) protection for every state-changing request.
//!
//! The attack: a page on another site holds a form that posts to `/logout` (or logs the
//! visitor in to the attacker's account) and submits it with JavaScript. The browser
//! sends the visitor's cookies along, so without a defence the server obeys.
//!
//! Two defences, both checked on every request that is not a GET or HEAD:
//!
//! 1. **Origin**: browsers say which site a request comes from (`Origin`,
//!    `Sec-Fetch-Site`). A request that says it comes from elsewhere is refused.
//! 2. **Token** (the synchronizer-token pattern of the old `csurf` middleware): each
//!    session holds a random token; every form the server renders carries it in a hidden
//!    field, and a POST must send it back (form field `_csrf`, or header
//!    `X-CSRF-Token` for API clients). Another site cannot read our pages, so it
//!    cannot know the token.
//!
//! The check lives in a middleware in front of all routes, so a route added later
//! cannot forget it.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::error::AppError;
use crate::session_data;

/// The session key that holds the token.
pub const TOKEN: &str = "csrf_token";
/// The form field that carries the token back.
pub const FIELD: &str = "_csrf";
/// The header that carries the token back, for clients that post JSON.
pub const HEADER: &str = "x-csrf-token";

/// This session's token, made (and the session started) on first use.
pub async fn token(session: &Session) -> Result<String, tower_sessions::session::Error> {
    if let Some(token) = session.get::<String>(TOKEN).await? {
        return Ok(token);
    }
    if !session_data::is_started(session).await? {
        session_data::start(session).await?;
    }
    rotate(session).await
}

/// Replaces this session's token with a fresh one (at login, with the new session id).
pub async fn rotate(session: &Session) -> Result<String, tower_sessions::session::Error> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    session.insert(TOKEN, &token).await?;
    Ok(token)
}

/// The middleware: lets safe methods through, and for the others checks the origin
/// and the token before the handler runs.
pub async fn guard(session: Session, request: Request, next: Next) -> Result<Response, AppError> {
    if request.method().is_safe() {
        return Ok(next.run(request).await);
    }
    if !same_origin(request.headers()) {
        return Err(AppError::Forbidden("This form was sent from another site."));
    }

    // The token may be in the body, so read it here (within the same size limit as
    // everywhere else) and hand the handler a copy.
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, crate::BODY_LIMIT)
        .await
        .map_err(unreadable_body)?;
    let sent = parts
        .headers
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| form_field(&parts.headers, &bytes));

    let expected = session.get::<String>(TOKEN).await?;
    let valid = match (expected, sent) {
        // Compared in constant time, so the response time leaks nothing about how many
        // leading characters were right.
        (Some(expected), Some(sent)) => bool::from(expected.as_bytes().ct_eq(sent.as_bytes())),
        _ => false,
    };
    if !valid {
        return Err(AppError::Forbidden(
            "The form's security token is missing or out of date. Reload the page and try again.",
        ));
    }
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

/// The answer to a body that could not be read: too large (413), or anything else, such
/// as a client that broke off halfway (400).
fn unreadable_body(err: axum::Error) -> AppError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(error) = cause {
        if error.is::<http_body_util::LengthLimitError>() {
            return AppError::TooLarge;
        }
        cause = error.source();
    }
    AppError::BadRequest {
        status: StatusCode::BAD_REQUEST,
        detail: "The request body could not be read to the end.".to_string(),
    }
}

/// Whether the browser says this request comes from this site. A request that says
/// nothing (curl, an API client) passes here and still needs the token.
fn same_origin(headers: &HeaderMap) -> bool {
    // Fetch metadata, sent by every current browser and never settable by a page:
    // `same-origin` for our own pages, `none` when the user typed the address or used a
    // bookmark. Anything else (`cross-site`, or `same-site` from a sibling subdomain) is
    // refused. When it is present it is the whole answer: `Origin` can be `null` on a
    // genuine same-origin post (Chromium sends that under some referrer policies).
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    // Older browsers: compare `Origin` with the host the request was sent to.
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .map(|h| h.as_bytes())
        .unwrap_or_default();
    let origin = origin.as_bytes();
    let origin_host = origin
        .strip_prefix(b"https://")
        .or_else(|| origin.strip_prefix(b"http://"));
    // `Origin: null` (sandboxed frames, some redirects) has no host and is refused.
    origin_host.is_some_and(|origin_host| !host.is_empty() && origin_host == host)
}

/// The `_csrf` field of a form body, if the request is a form.
fn form_field(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return None;
    }
    // A body that does not parse has no token; the handler's own parser then never
    // runs, and the visitor gets the 403.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs
        .into_iter()
        .find(|(key, _)| key == FIELD)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    header::HeaderName::from_static(k),
                    header::HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        let ours = headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]);
        assert!(
            same_origin(&ours),
            "Chromium's null Origin on its own form post"
        );
        let typed = headers(&[("sec-fetch-site", "none")]);
        assert!(same_origin(&typed));
        let sibling = headers(&[("sec-fetch-site", "same-site")]);
        assert!(!same_origin(&sibling));
    }

    #[test]
    fn a_request_from_our_own_page_is_same_origin() {
        let h = headers(&[
            ("host", "localhost:3000"),
            ("origin", "http://localhost:3000"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(same_origin(&h));
    }

    #[test]
    fn another_site_or_a_null_origin_is_not() {
        for origin in [
            "http://evil.example",
            "http://localhost:3001",
            "null",
            "http://localhost:3000.evil.example",
        ] {
            let h: HeaderMap = [
                (
                    header::HOST,
                    header::HeaderValue::from_static("localhost:3000"),
                ),
                (
                    header::ORIGIN,
                    header::HeaderValue::from_str(origin).expect("valid header"),
                ),
            ]
            .into_iter()
            .collect();
            assert!(!same_origin(&h), "{origin}");
        }
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
    }

    #[tokio::test]
    async fn only_a_body_over_the_limit_is_too_large() {
        let err = to_bytes(Body::from(vec![0u8; 100]), 10)
            .await
            .expect_err("over the limit");
        assert!(matches!(unreadable_body(err), AppError::TooLarge));
    }

    #[test]
    fn the_token_is_read_from_a_percent_encoded_form() {
        let h = headers(&[("content-type", "application/x-www-form-urlencoded")]);
        assert_eq!(
            form_field(&h, b"a=1+2&_csrf=x%2By%3D"),
            Some("x+y=".to_string())
        );
        assert_eq!(form_field(&headers(&[]), b"_csrf=x"), None, "only in forms");
    }
}
