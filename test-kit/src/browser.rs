//! A tiny browser for the in-process app.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt;
use http_body_util::channel::Channel;
use tower::ServiceExt;

/// The app under test as a browser visits it: its router, and the name of the session
/// cookie it sets (tower-sessions' default `id` in steps 1 to 4, `__Host-session` in step
/// 5), so that [`Browser::session_cookie`] can find it.
#[derive(Clone, Debug)]
pub struct App {
    router: Router,
    session_cookie: &'static str,
}

impl App {
    pub fn new(router: Router, session_cookie: &'static str) -> Self {
        Self {
            router,
            session_cookie,
        }
    }

    /// The router, to wrap it in a layer or send it a request of one's own.
    pub fn router(&self) -> &Router {
        &self.router
    }
}

/// A response as a user would see it: status, headers and page text.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The `Set-Cookie` headers of this response.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|value| value.to_str().expect("Set-Cookie is ASCII").to_string())
            .collect()
    }
}

/// One browser: it keeps the cookies the server sets and sends them back, so a test
/// reads like a person clicking through the site. Requests go straight into the router
/// (`oneshot`): no port, no network.
#[derive(Debug)]
pub struct Browser {
    app: App,
    cookies: CookieJar,
}

impl Browser {
    /// A browser with an empty cookie jar, visiting `app`. Clones of one app share its
    /// session store, so several browsers can visit the same server.
    pub fn new(app: &App) -> Self {
        Self {
            app: app.clone(),
            cookies: CookieJar::default(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = Request::get(path)
            .body(Body::empty())
            .expect("valid request");
        self.send(request).await
    }

    /// Submits a form, as a browser does when a button is pressed:
    /// `application/x-www-form-urlencoded`. (It sends no `Sec-Fetch-Site` or `Origin`, as
    /// curl does; step 5's tests of the cross-origin check add them.)
    pub async fn post_form(&mut self, path: &str, body: &str) -> Page {
        self.post(path, "application/x-www-form-urlencoded", body.to_string())
            .await
    }

    /// Submits a form with extra request headers: where a browser says the form comes
    /// from (`Origin`, `Sec-Fetch-Site`), or another `Host` it was sent to.
    pub async fn post_form_with(
        &mut self,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Page {
        let mut request =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Body::from(body.to_string()))
            .expect("valid request");
        self.send(request).await
    }

    /// Posts JSON, as an API client (`fetch`, `curl -H 'Content-Type: application/json'`) does.
    pub async fn post_json(&mut self, path: &str, body: &str) -> Page {
        self.post(path, "application/json", body.to_string()).await
    }

    /// Posts any body.
    pub async fn post(&mut self, path: &str, content_type: &str, body: impl Into<Body>) -> Page {
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, content_type)
            .body(body.into())
            .expect("valid request");
        self.send(request).await
    }

    /// Sends `request` with this browser's cookies and stores the ones it gets back. Like
    /// a browser on `cargo run`'s address, it says it is sending to `Host: localhost:3000`
    /// unless the request names another host.
    pub async fn send(&mut self, mut request: Request<Body>) -> Page {
        let host = HeaderValue::from_static("localhost:3000");
        request.headers_mut().entry(header::HOST).or_insert(host);
        if let Some(cookies) = self.cookies.header() {
            let value = cookies.parse().expect("cookie header is valid");
            request.headers_mut().insert(header::COOKIE, value);
        }
        let response = self
            .app
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body can be read")
            .to_bytes();
        let page = Page {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        for set_cookie in page.set_cookies() {
            self.cookies.store(&set_cookie);
        }
        page
    }

    /// The cookie jar, to copy it into another browser or compare it.
    pub fn cookies(&self) -> &CookieJar {
        &self.cookies
    }

    /// Puts a cookie in the jar, as an attacker (or a second tab) can.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name, value);
    }

    /// The session cookie's value, if the browser has one.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookies
            .get(self.app.session_cookie)
            .map(str::to_string)
    }

    /// Puts `value` in the jar as the session cookie: a stolen or a made-up one.
    pub fn set_session_cookie(&mut self, value: &str) {
        self.set_cookie(self.app.session_cookie, value);
    }
}

/// A request body that arrives one byte of `text` every `every`: each byte well inside a
/// timeout between two pieces of a body, as slow as a "slowloris" client likes. Run it on
/// paused time (`#[tokio::test(start_paused = true)]`) and the test takes no time at all.
pub fn trickled_body(text: &str, every: Duration) -> Body {
    let (mut sender, body) = Channel::<Bytes, Infallible>::new(1);
    let text = text.as_bytes().to_vec();
    tokio::spawn(async move {
        for byte in text {
            tokio::time::sleep(every).await;
            if sender.send_data(Bytes::from(vec![byte])).await.is_err() {
                return;
            }
        }
    });
    Body::new(body)
}

/// The cookies one browser holds, kept by the rules a browser follows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieJar {
    cookies: BTreeMap<String, String>,
}

impl CookieJar {
    /// A jar holding what a `Cookie` header (`name=value; ...`) carries: a second tab.
    pub fn from_header(header: &str) -> Self {
        let cookies = header
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        Self { cookies }
    }

    /// Applies one `Set-Cookie` header the way a browser does: a cookie with
    /// `Max-Age=0` (or an empty value) is deleted, any other replaces the old one.
    ///
    /// Like a browser, it ignores a `__Host-` cookie that is not `Secure`, has a `Domain`
    /// or a `Path` other than `/`, and a `__Secure-` cookie that is not `Secure`. Such a
    /// header changes nothing, even when it is meant to delete the cookie.
    pub fn store(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let attributes: Vec<(String, &str)> = parts
            .map(|attr| {
                let (key, value) = attr.split_once('=').unwrap_or((attr, ""));
                (key.trim().to_ascii_lowercase(), value.trim())
            })
            .collect();
        let get = |key: &str| attributes.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
        let secure = get("secure").is_some();
        let host_only_root = get("domain").is_none() && get("path") == Some("/");
        if (name.starts_with("__Secure-") && !secure)
            || (name.starts_with("__Host-") && !(secure && host_only_root))
        {
            return;
        }
        let expired = get("max-age") == Some("0");
        if expired || value.is_empty() {
            self.cookies.remove(name);
        } else {
            self.cookies.insert(name.to_string(), value.to_string());
        }
    }

    /// The `Cookie` header that sends every cookie in the jar, or `None` if it is empty.
    pub fn header(&self) -> Option<String> {
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    pub fn insert(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_string(), value.to_string());
    }

    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }
}
