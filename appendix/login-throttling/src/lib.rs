//! Login throttling: a layer around step 5's app that makes password guessing slow.
//!
//! Step 5 checks every password it is sent, as fast as argon2 allows: a guesser with a
//! list of common passwords gets thousands of tries an hour. [`throttle_logins`] puts a
//! layer in front of the app (the place of `app.use('/login', limiter)` in Express) that
//! watches `POST /login` and keeps two kinds of counts, in this process's memory:
//!
//! - **per account**, against a guesser spread over many addresses: after a few failed
//!   logins a back-off that doubles with each further failure, reset by a success
//!   (express-brute's `freeRetries`, `minWait`, `maxWait`, `req.brute.reset()`);
//! - **per client address**, against one machine trying a password or two on every
//!   account: a budget of attempts that refills slowly (express-rate-limit keyed by IP).
//!
//! While either is locked, a login is answered `429 Too Many Requests` with `Retry-After`
//! and no password is checked, *the right one included*: if the right password still got
//! in, the lock would tell the guesser the moment they found it. Only a login whose
//! password step 5 checked is counted, and step 5's answer says which.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};
use serde::{Deserialize, de::IgnoredAny};
use step5_hardened::{
    BODY_DEADLINE, BODY_LIMIT, ErrorPage, REQUEST_TIMEOUT, with_security_headers,
};
use tokio::sync::{Mutex as Queue, OwnedMutexGuard};
use tower_http::timeout::RequestBodyDeadlineLayer;

/// The accounts the throttle guards, and the numbers behind it.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The usernames that exist (step 5 has one). Any other name is made up: a full map
    /// forgets those, which lock nobody out, and never needs room for these.
    pub accounts: Vec<String>,
    /// Failed logins for one username before its back-off starts.
    pub account_failures: u32,
    /// The first back-off; each further failure doubles it.
    pub first_delay: Duration,
    /// The most a username is locked in one window, all back-offs together; past it, a
    /// failure locks it for `first_delay` only, so a guesser cannot keep the owner out.
    pub max_delay: Duration,
    /// A username's window: its count starts from zero this long after its first failure.
    pub forget_after: Duration,
    /// Login attempts one client address may make at once, before its budget runs out.
    pub address_attempts: u32,
    /// Then one more attempt per this much time.
    pub address_refill: Duration,
    /// The most made-up usernames, and the most addresses, counted at once.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            accounts: vec!["admin".to_string()],
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

/// The throttle shared by every request of one server.
#[derive(Clone)]
pub struct Throttle {
    limits: Arc<Limits>,
    counts: Arc<Mutex<Counts>>,
    /// The queues logins wait in: one per account that exists, then one for all made-up
    /// names, so a guesser fills no queue but theirs. One login per queue is in progress
    /// at a time: fifty simultaneous guesses for `admin` are counted one by one and cannot
    /// all slip through before the first failure.
    queues: Arc<[Arc<Queue<()>>]>,
}

/// Both kinds of counts. Hand-written: governor's rate limiter spends an attempt as it
/// starts, but only step 5's answer says whether a password was checked. So a budget is
/// looked at before a login and spent after it; as one login per queue runs at a time,
/// an address overshoots its budget by one login per queue at most.
#[derive(Default)]
struct Counts {
    names: HashMap<String, Counter>,
    /// Each address's budget as governor keeps one (GCRA): the instant it is full again,
    /// which each counted attempt moves `address_refill` later.
    addresses: HashMap<IpAddr, Instant>,
}

/// An account's turn: while a login holds it, the account's other logins wait.
type Turn = OwnedMutexGuard<()>;

/// The failed logins counted for one username in its window.
#[derive(Clone, Copy)]
struct Counter {
    failures: u32,
    since: Instant,
    locked_for: Duration, // all the window's locks together
    locked_until: Instant,
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        let queues = (0..=limits.accounts.len()).map(|_| Arc::default());
        Self {
            limits: Arc::new(limits),
            counts: Arc::default(),
            queues: queues.collect(),
        }
    }

    /// Waits for the turn of `account` (a key from [`account_key`]), then lets a login from
    /// `address` go ahead, or refuses it with the seconds to wait. A refusal is logged.
    async fn begin(&self, account: &str, address: Option<IpAddr>) -> Result<Turn, u64> {
        let queue = self.existing(account).unwrap_or(self.limits.accounts.len());
        let queue = Arc::clone(&self.queues[queue]);
        // A wait as long as step 5 gives a request, at most: a queue that does not move is
        // kept busy by guesses, and the login is refused rather than kept waiting.
        let turn = tokio::time::timeout(REQUEST_TIMEOUT, queue.lock_owned()).await;
        let (wait, reason) = match turn.map(|turn| self.may_try(account, address).map(|()| turn)) {
            Ok(Ok(turn)) => return Ok(turn),
            Ok(Err(refusal)) => refusal,
            Err(_) => (self.limits.first_delay, "too many logins waiting"),
        };
        // Rounded up: a client that waits exactly `Retry-After` finds the lock over.
        let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        let client = shown(address);
        tracing::warn!(username = ?account, %client, retry_after = seconds, reason, "login throttled");
        Err(seconds)
    }

    /// Whether a login for `account` from `address` may go ahead; else how long to wait
    /// and why.
    fn may_try(&self, account: &str, address: Option<IpAddr>) -> Result<(), (Duration, &str)> {
        let (now, limits, mut counts) = (Instant::now(), &self.limits, self.counts());
        if let Some(counter) = counts.names.get(account).filter(|c| c.locked_until > now) {
            return Err((counter.locked_until - now, "account locked"));
        }
        let Some(key) = address.map(network_of) else {
            return Ok(());
        };
        let addresses = &mut counts.addresses;
        // Full, the map forgets the budgets that are full again, and refuses an address it
        // does not hold if that was not enough. It never forgets one it holds: one that is
        // spent would start afresh.
        if addresses.len() >= limits.max_entries && !addresses.contains_key(&key) {
            addresses.retain(|_, full_at| *full_at > now);
            if addresses.len() >= limits.max_entries {
                return Err((limits.address_refill, "too many addresses counted"));
            }
        }
        let (full_at, refill) = (addresses.get(&key).unwrap_or(&now), limits.address_refill);
        let wanted = full_at.saturating_duration_since(now) + refill;
        let allowed = refill.saturating_mul(limits.address_attempts);
        if wanted > allowed {
            return Err((wanted - allowed, "address budget spent"));
        }
        Ok(())
    }

    /// Counts a login by step 5's answer: `401` is a failure, `2xx` a success, which
    /// forgets the account's failures (not the address's: one good login must not wash
    /// away a hundred guesses at other accounts); both spend an attempt of the address's
    /// budget. Any other answer checked no password and counts nowhere: a form posted by
    /// another site (`403`), a body that is not a login (`400`, `413`, `415`, `422`), a
    /// timeout (`408`).
    fn count(&self, account: &str, address: Option<IpAddr>, answer: StatusCode) {
        let (now, limits, mut counts) = (Instant::now(), &self.limits, self.counts());
        if answer != StatusCode::UNAUTHORIZED && !answer.is_success() {
            return;
        }
        if let Some(key) = address.map(network_of) {
            let full_at = counts.addresses.entry(key).or_insert(now);
            *full_at = (*full_at).max(now) + limits.address_refill;
        }
        let names = &mut counts.names;
        if answer.is_success() {
            names.remove(account);
            return;
        }
        // A new made-up name and a full map: every made-up name is forgotten. No account is
        // behind them, so forgetting their locks opens nothing.
        let full = names.len() >= limits.max_entries + limits.accounts.len();
        if full && self.existing(account).is_none() && !names.contains_key(account) {
            names.retain(|name, _| self.existing(name).is_some());
        }
        let new = Counter {
            failures: 0,
            since: now,
            locked_for: Duration::ZERO,
            locked_until: now,
        };
        let counter = names.entry(account.to_string()).or_insert(new);
        if now.duration_since(counter.since) > limits.forget_after {
            *counter = new;
        }
        counter.failures = counter.failures.saturating_add(1);
        if counter.failures >= limits.account_failures {
            // 1 s, 2 s, 4 s, ... while the window's locks stay within `max_delay`; then
            // the shortest.
            let doublings = (counter.failures - limits.account_failures).min(20);
            let back_off = limits.first_delay.saturating_mul(1 << doublings);
            let left = limits.max_delay.saturating_sub(counter.locked_for);
            let delay = Some(back_off.min(left)).filter(|d| !d.is_zero());
            let delay = delay.unwrap_or(limits.first_delay);
            counter.locked_until = now + delay;
            counter.locked_for += delay;
        }
        let locked_for = (counter.locked_until - now).as_secs();
        // ASVS 7.2.1: every counted failure is logged with the username and the address.
        let (failures, client) = (counter.failures, shown(address));
        tracing::info!(username = ?account, %client, failures, locked_for, "failed login counted");
    }

    /// Where `account` is among the accounts that exist; `None` for a made-up name.
    fn existing(&self, account: &str) -> Option<usize> {
        let accounts = &self.limits.accounts;
        accounts
            .iter()
            .position(|name| account_key(name) == account)
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // A panic elsewhere while holding the lock leaves plain counts behind, still good.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
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
    // A body without a readable username is still a login, under the name "": step 5
    // refuses it unchecked, and should the two readings ever differ, none gets past.
    let account = account_key(&username_in(&parts.headers, &body).unwrap_or_default());
    let turn = match throttle.begin(&account, address).await {
        Ok(turn) => turn,
        Err(seconds) => return too_many_attempts(seconds),
    };
    let login = next.run(Request::from_parts(parts, Body::from(body)));
    // Step 5 goes on to its answer in a task of its own, even if the client hangs up: its
    // password check runs to the end anyway, so the login is counted as what it was.
    let step_5 = tokio::spawn(async move {
        let response = login.await;
        throttle.count(&account, address, response.status());
        drop(turn);
        response
    });
    let failed = |_| StatusCode::INTERNAL_SERVER_ERROR.into_response();
    step_5.await.unwrap_or_else(failed)
}

/// Reads a login's body, up to step 5's limit. A body that is larger, or that fails as it
/// arrives (cut off, too slow), comes back as `Err`: the same body again, for step 5 to
/// refuse with its own page (413, 400), checking no password: nothing to throttle.
async fn read_login(body: Body) -> Result<Bytes, Body> {
    let (mut rest, mut read) = (body.into_data_stream(), Vec::new());
    while let Some(chunk) = rest.next().await {
        match chunk {
            Ok(data) if read.len() + data.len() <= BODY_LIMIT => read.extend_from_slice(&data),
            too_much_or_failed => {
                let read = [Ok(Bytes::from(read)), too_much_or_failed];
                return Err(Body::from_stream(stream::iter(read).chain(rest)));
            }
        }
    }
    Ok(read.into())
}

/// A login as step 5 reads it: both fields, in its order, so that a JSON array such as
/// `["admin", "1234"]` (serde reads it as the fields in order) names the same user here.
#[derive(Deserialize)]
struct Login {
    username: String,
    #[serde(rename = "password")]
    _password: IgnoredAny,
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

/// Usernames are counted without case and cut to a sane length, so `Admin` and `admin`
/// share a counter and a megabyte-long username cannot become a megabyte-long key.
fn account_key(username: &str) -> String {
    username.to_lowercase().chars().take(128).collect()
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
