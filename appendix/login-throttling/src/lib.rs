//! Login throttling: a layer around step 5's app that makes password guessing slow.
//!
//! Step 5 checks every password it is sent, as fast as argon2 allows: a guesser with a
//! list of common passwords gets thousands of tries an hour. [`throttle_logins`] puts a
//! layer in front of the app (the place of `app.use('/login', limiter)` in Express) that
//! watches `POST /login` and keeps two kinds of counts, both in this process's memory:
//!
//! - **per account**: after a few failed logins for one username, that username is locked
//!   for a back-off that doubles with each further failure, whichever address the
//!   guesses come from; a successful login resets it (express-brute's `freeRetries`,
//!   `minWait`, `maxWait` and `req.brute.reset()`). This stops a guesser spread over many
//!   addresses.
//! - **per client address**: a budget of login attempts that refills slowly
//!   (express-rate-limit's `windowMs`/`max` keyed by IP), large enough for a classroom
//!   behind one NAT address. This stops one machine from trying a password or two on
//!   every account ("password spraying").
//!
//! While either is locked, a login is answered `429 Too Many Requests` with `Retry-After`
//! and no password is checked, *the right one included*: if the right password still got
//! in, the lock would tell the guesser the moment they found it.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use step5_hardened::{BODY_DEADLINE, BODY_LIMIT, ErrorPage, with_security_headers};
use tokio::sync::OwnedMutexGuard;
use tower_http::timeout::RequestBodyDeadlineLayer;

/// The numbers behind the throttle.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Failed logins for one username before its back-off starts.
    pub account_failures: u32,
    /// The first back-off; each further failure doubles it.
    pub first_delay: Duration,
    /// The longest back-off.
    pub max_delay: Duration,
    /// A username with no failure for this long starts again from zero. Longer than
    /// `max_delay`, so a guesser who waits out each lock finds the back-off where it was.
    pub forget_after: Duration,
    /// Login attempts one client address may make at once, before its budget runs out.
    pub address_attempts: u32,
    /// Then one more attempt per this much time.
    pub address_refill: Duration,
    /// The most usernames, and the most addresses, counted at once.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            account_failures: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(60 * 60),
            // A class of 40 logs in with room to spare for typos and a second round; a
            // sprayer gets 100 tries, then 120 an hour, across all accounts together.
            address_attempts: 100,
            address_refill: Duration::from_secs(30),
            // Tens of MiB at worst (long made-up names), whatever is thrown at the login.
            max_entries: 100_000,
        }
    }
}

/// How many queues logins for an account wait in; usernames are hashed onto them. Only
/// one login per queue is in progress at a time, so fifty simultaneous guesses for
/// `admin` are counted one by one and cannot all slip through before the first failure.
const QUEUES: usize = 64;

/// The throttle shared by every request of one server.
#[derive(Clone)]
pub struct Throttle {
    limits: Arc<Limits>,
    accounts: Arc<Mutex<HashMap<String, Counter>>>,
    // The address budget is a rate limit, which governor does well. Its state counts an
    // attempt the moment it starts, atomically, so simultaneous attempts cannot overshoot.
    // The account back-off is hand-written: it counts *failures* only and is reset by a
    // success, and neither governor (it has no "reset this key" or "look without
    // counting") nor tower_governor (a rate limit on every request through its layer,
    // answered in its own words, without the username) can do that.
    addresses: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    queues: Arc<[Arc<tokio::sync::Mutex<()>>]>,
}

/// Why a login may not go ahead, and for how long.
type Refusal = (Duration, &'static str);

/// The failed logins counted for one username.
struct Counter {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

impl Counter {
    /// The time left on the lock, if it is locked.
    fn remaining(&self, now: Instant) -> Option<Duration> {
        let left = self.locked_until?.checked_duration_since(now)?;
        (!left.is_zero()).then_some(left)
    }
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        let burst = NonZeroU32::new(limits.address_attempts).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(limits.address_refill)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Self {
            limits: Arc::new(limits),
            accounts: Arc::default(),
            addresses: Arc::new(RateLimiter::keyed(quota)),
            queues: (0..QUEUES).map(|_| Arc::default()).collect(),
        }
    }

    /// Waits for `username`'s turn, then starts a login attempt from `address`, or
    /// refuses it with the seconds to wait. A refusal is logged.
    async fn begin(&self, username: &str, address: Option<IpAddr>) -> Result<Attempt, u64> {
        let account = account_key(username);
        let queue = Arc::clone(&self.queues[queue_of(&account)]);
        let turn = queue.lock_owned().await;
        if let Err((wait, reason)) = self.may_try(&account, address) {
            // Rounded up: a client that waits exactly `Retry-After` finds the lock over.
            let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
            let client = shown(address);
            tracing::warn!(username = ?account, %client, retry_after = seconds, reason, "login throttled");
            return Err(seconds);
        }
        Ok(Attempt {
            throttle: self.clone(),
            account,
            address,
            answer: None,
            _turn: turn,
        })
    }

    /// Whether a login for `account` from `address` may go ahead; else how long to wait
    /// and why.
    fn may_try(&self, account: &str, address: Option<IpAddr>) -> Result<(), Refusal> {
        let now = Instant::now();
        let mut accounts = self.accounts();
        let known = accounts.get(account).map(|counter| counter.remaining(now));
        if let Some(Some(left)) = known {
            return Err((left, "account locked"));
        }
        // Fail closed: rather than forget a lock to make room, refuse names the throttle
        // cannot count, until some lock ends.
        if known.is_none() && !self.make_room(&mut accounts, now) {
            return Err((self.limits.first_delay, "too many accounts locked"));
        }
        drop(accounts);
        let Some(ip) = address else { return Ok(()) };
        // The same rule for the addresses: governor forgets only keys whose budget is
        // full again (`retain_recent`), never one that is spent.
        if self.addresses.len() >= self.limits.max_entries {
            self.addresses.retain_recent();
            if self.addresses.len() >= self.limits.max_entries {
                return Err((self.limits.address_refill, "too many addresses counted"));
            }
        }
        self.addresses.check_key(&network_of(ip)).map_err(|spent| {
            let wait = spent.wait_time_from(DefaultClock::default().now());
            (wait, "address budget spent")
        })
    }

    /// Makes room for one more username if the map is full: counters gone quiet first,
    /// then the oldest counter still under its limit. A locked or over-limit counter is
    /// never forgotten: a guesser who fills the map with made-up names must not free
    /// `admin` that way. False when every counter is one of those.
    fn make_room(&self, accounts: &mut HashMap<String, Counter>, now: Instant) -> bool {
        if accounts.len() < self.limits.max_entries {
            return true;
        }
        // A counter quiet for `forget_after` would start from zero at its next failure.
        accounts.retain(|_, c| {
            c.remaining(now).is_some() || now - c.last_failure <= self.limits.forget_after
        });
        if accounts.len() < self.limits.max_entries {
            return true;
        }
        let oldest = accounts
            .iter()
            .filter(|(_, c)| c.failures < self.limits.account_failures)
            .min_by_key(|(_, c)| c.last_failure)
            .map(|(name, _)| name.clone());
        oldest.is_some_and(|name| accounts.remove(&name).is_some())
    }

    /// Counts a failed login for `account`, and logs it with who and from where.
    fn failed(&self, account: &str, address: Option<IpAddr>, what: &str) {
        let now = Instant::now();
        let limits = &self.limits;
        let mut accounts = self.accounts();
        // Inserted even if the map is full: at most one attempt per queue is in progress,
        // so the map holds at most `max_entries + QUEUES` counters.
        let counter = accounts.entry(account.to_string()).or_insert(Counter {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if now - counter.last_failure > limits.forget_after {
            counter.failures = 0;
        }
        counter.failures = counter.failures.saturating_add(1);
        counter.last_failure = now;
        if counter.failures >= limits.account_failures {
            // 1 s, 2 s, 4 s, ... up to the maximum.
            let doublings = (counter.failures - limits.account_failures).min(20);
            let delay = limits.first_delay.saturating_mul(1 << doublings);
            counter.locked_until = Some(now + delay.min(limits.max_delay));
        }
        let locked_for = counter.remaining(now).map_or(0, |left| left.as_secs());
        // ASVS 7.2.1: every failure is logged with the username and the address.
        tracing::info!(
            username = ?account,
            client = %shown(address),
            failures = counter.failures,
            locked_for,
            "{what}"
        );
    }

    fn accounts(&self) -> MutexGuard<'_, HashMap<String, Counter>> {
        // A panic elsewhere while holding the lock leaves plain counters behind, still
        // good to use.
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A login in progress. It holds its account's place in the queue until it ends; if it
/// is dropped before it ends (the client went away and the request with it), it
/// counts as a failure: the server cannot tell how it would have ended, and a guesser who
/// hangs up must not get guesses that are never counted.
#[must_use = "an attempt that is not ended counts as a failure"]
struct Attempt {
    throttle: Throttle,
    account: String,
    address: Option<IpAddr>,
    /// Step 5's status code, once it answered.
    answer: Option<StatusCode>,
    _turn: OwnedMutexGuard<()>,
}

impl Attempt {
    fn end(mut self, status: StatusCode) {
        self.answer = Some(status);
    }
}

/// Counts the login as it ends, by step 5's answer: `401` is a failure, `2xx` a success,
/// which forgets the account's failures (not the address's: one good login must not wash
/// away a hundred guesses at other accounts). Any other answer checked no password (a body
/// that is not a login, a cross-site form) and counts as neither.
impl Drop for Attempt {
    fn drop(&mut self) {
        let what = match self.answer {
            None => "aborted login counted as a failed login",
            Some(StatusCode::UNAUTHORIZED) => "failed login counted",
            Some(status) if status.is_success() => {
                self.throttle.accounts().remove(&self.account);
                return;
            }
            Some(_) => return,
        };
        self.throttle.failed(&self.account, self.address, what);
    }
}

/// Puts the throttle around `app`: `POST /login` goes through it, everything else
/// straight on.
pub fn throttle_logins(app: Router, throttle: Throttle) -> Router {
    let app = app
        .layer(from_fn_with_state(throttle, check_login))
        // The body is read here, outside step 5's own limits: it gets the same total
        // time to arrive, so a client that trickles it cannot hold the request open.
        .layer(RequestBodyDeadlineLayer::new(BODY_DEADLINE));
    // The refusal page gets step 5's strict headers too (its own pages get them again,
    // the same values).
    with_security_headers(app)
}

/// The middleware: reads the username, asks the throttle, hands the login on to step 5
/// and counts its answer.
async fn check_login(State(throttle): State<Throttle>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || request.uri().path() != "/login" {
        return next.run(request).await;
    }
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let (parts, body) = request.into_parts();
    let body = match read_login(body).await {
        Ok(body) => body,
        Err(body) => return next.run(Request::from_parts(parts, body)).await,
    };
    // A body without a readable username is still an attempt, under the name "": step 5
    // refuses it unchecked, and should the two readings ever differ, none gets past.
    let username = username_in(&parts.headers, &body).unwrap_or_default();
    let attempt = match throttle.begin(&username, address).await {
        Ok(attempt) => attempt,
        Err(seconds) => return too_many_attempts(seconds),
    };
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    attempt.end(response.status());
    response
}

/// Reads a login's body, up to step 5's limit. A body that is larger, or that fails as it
/// arrives (cut off, too slow), comes back as `Err`: the same body again, what was read
/// of it and then the rest, for step 5 to refuse with its own page (413, 400). Step 5
/// checks no password for such a body, so there is nothing to throttle.
async fn read_login(body: Body) -> Result<Bytes, Body> {
    let mut rest = body.into_data_stream();
    let mut read: Vec<Bytes> = Vec::new();
    let mut size = 0;
    while let Some(chunk) = rest.next().await {
        match chunk {
            Ok(data) if size + data.len() <= BODY_LIMIT => {
                size += data.len();
                read.push(data);
            }
            too_much_or_failed => {
                let read = read.into_iter().map(Ok).chain([too_much_or_failed]);
                return Err(Body::from_stream(stream::iter(read).chain(rest)));
            }
        }
    }
    Ok(read.concat().into())
}

/// The field of the login that the throttle needs.
#[derive(Deserialize)]
struct Login {
    username: String,
}

/// The username of a login sent as JSON or as a form, read as step 5 reads it.
fn username_in(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media_type = content_type.split(';').next()?.trim();
    let login: Login = if media_type.eq_ignore_ascii_case("application/json") {
        serde_json::from_slice(body).ok()?
    } else {
        serde_urlencoded::from_bytes(body).ok()?
    };
    Some(login.username)
}

/// The refusal: `429 Too Many Requests`, with `Retry-After` in seconds for programs and
/// the same in words for people. It says no more: the same page for a locked account, a
/// locked address and a username that does not exist, so it tells nobody which.
fn too_many_attempts(seconds: u64) -> Response {
    let page = ErrorPage {
        title: "Too many login attempts",
        message: "There were too many failed logins for this account or from this \
                  address, so the server checks no password for it for a while, not even \
                  the right one.",
        detail: Some(format!("Wait {seconds} s, then try again.")),
        next: ("/login", "Back to the login page"),
    };
    let retry_after = [(header::RETRY_AFTER, HeaderValue::from(seconds))];
    (StatusCode::TOO_MANY_REQUESTS, retry_after, page).into_response()
}

/// The queue an account's logins wait in.
fn queue_of(account: &str) -> usize {
    (BuildHasherDefault::<DefaultHasher>::default().hash_one(account) % QUEUES as u64) as usize
}

/// Usernames are counted without case and cut to a sane length, so `Admin` and `admin`
/// share a counter and a megabyte-long username cannot become a megabyte-long key.
fn account_key(username: &str) -> String {
    username
        .chars()
        .take(128)
        .flat_map(char::to_lowercase)
        .collect()
}

/// The key an address is counted under: an IPv4 address itself, an IPv6 address's /64
/// network. One home or server usually gets a whole /64, 2^64 addresses to pick from.
fn network_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((v6.to_bits() & (u128::MAX << 64)).into()),
        v4 => v4,
    }
}

/// The address as the log shows it.
fn shown(address: Option<IpAddr>) -> String {
    address.map_or("unknown".to_string(), |ip| ip.to_string())
}
