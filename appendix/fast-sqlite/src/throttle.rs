//! Login throttling: repeated failures slow down password guessing.
//!
//! The Express world reaches for `express-rate-limit`; this is the same idea kept small
//! enough to read. Two kinds of counters are kept, both in memory:
//!
//! - **per account**: after a few failed logins for one username, that username is
//!   locked for a back-off that doubles with each further failure. This stops a guesser
//!   who spreads requests over many addresses.
//! - **per client address**: far more failures are allowed (a classroom of students
//!   behind one NAT address mistypes now and then), then the same back-off. This stops
//!   one machine from trying a few passwords on every account ("password spraying").
//!
//! While locked, every login for that key is answered `429 Too Many Requests` with a
//! `Retry-After` header, *even with the right password*: otherwise the lock would tell
//! the guesser the moment they hit the right one.
//!
//! The counters live in this process's memory. Several instances behind a load
//! balancer each keep their own, so a guesser who is spread over all of them gets the
//! allowance once per instance: with three instances, fifteen guesses before every
//! instance locks instead of five. That is still a few guesses where an unthrottled
//! login allows millions, and it costs no database write per failed login; sharing the
//! counters would mean keeping them in the session database.
//!
//! Logins for one username are checked one at a time (they queue on a lock), so fifty
//! simultaneous guesses cannot all slip past the check before the first failure is
//! counted, while fifty students logging in to the shared demo account at once simply
//! wait a moment each. Logins from one address for different usernames run side by
//! side, so each counts against the address's allowance from the moment it starts.
//! Counters are forgotten after a quiet period (longer than the longest back-off) and the
//! maps have a fixed maximum size, so the state cannot grow without bound.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::OwnedMutexGuard;

/// How many queues logins are spread over. Usernames are hashed onto them, so two
/// accounts rarely share one; a fixed number keeps the memory fixed too.
const QUEUES: usize = 64;

/// The numbers behind the throttle.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Failed logins for one username before the back-off starts.
    pub account_failures: u32,
    /// Failed logins from one client address before the back-off starts.
    pub address_failures: u32,
    /// The first back-off; each further failure doubles it.
    pub first_delay: Duration,
    /// The longest back-off.
    pub max_delay: Duration,
    /// A counter with no failure for this long is forgotten. Longer than `max_delay`,
    /// so a guesser who waits out each lock finds the back-off where it was, doubling
    /// further, instead of starting again from the first delay.
    pub forget_after: Duration,
    /// The most usernames, and the most addresses, tracked at once.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            account_failures: 5,
            address_failures: 100,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(60 * 60),
            max_entries: 10_000,
        }
    }
}

/// The failures counted for one username or one address.
#[derive(Clone, Copy, Debug)]
struct Counter {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

/// The throttle shared by every request of one server.
#[derive(Clone, Debug)]
pub struct Throttle {
    limits: Limits,
    state: Arc<Mutex<State>>,
    queues: Arc<[Arc<tokio::sync::Mutex<()>>]>,
}

#[derive(Debug, Default)]
struct State {
    accounts: HashMap<String, Counter>,
    addresses: HashMap<IpAddr, Counter>,
    /// Attempts from each address whose password is being checked right now. Only
    /// addresses that have one are in the map.
    pending: HashMap<IpAddr, u32>,
}

/// A login attempt in progress. It holds its username's place in the queue until it
/// ends; dropping it without [`Attempt::succeeded`] counts a failure.
#[must_use = "a successful login must call `succeeded`, or it counts as a failure"]
pub struct Attempt {
    throttle: Throttle,
    account: String,
    address: Option<IpAddr>,
    succeeded: bool,
    _turn: OwnedMutexGuard<()>,
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        let queues = (0..QUEUES).map(|_| Arc::default()).collect();
        Self {
            limits,
            state: Arc::default(),
            queues,
        }
    }

    /// Waits for `username`'s turn, then starts a login attempt, or refuses it with the
    /// time left until the back-off ends.
    pub async fn begin(
        &self,
        username: &str,
        address: Option<IpAddr>,
    ) -> Result<Attempt, Duration> {
        let account = account_key(username);
        let queue = Arc::clone(&self.queues[queue_of(&account)]);
        let turn = queue.lock_owned().await;

        let now = Instant::now();
        // A panic elsewhere while holding the lock leaves plain counters behind, which
        // are still good to use.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let wait = [
            state.accounts.get(&account).and_then(|c| remaining(c, now)),
            address
                .and_then(|ip| state.addresses.get(&ip))
                .and_then(|c| remaining(c, now)),
            address.and_then(|ip| self.pending_wait(&state, ip, now)),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        if let Some(ip) = address {
            *state.pending.entry(ip).or_default() += 1;
        }
        Ok(Attempt {
            throttle: self.clone(),
            account,
            address,
            succeeded: false,
            _turn: turn,
        })
    }

    /// The wait for a new attempt from `ip` while others from it are being checked.
    ///
    /// Attempts from one address for different usernames do not queue behind one
    /// another, so without this forty simultaneous guesses would all pass the check in
    /// [`Throttle::begin`] before the first failure is counted, and overshoot the
    /// address's allowance. Here the attempts in progress count as failures until they
    /// end: if they would all fail and lock the address, a further attempt is refused
    /// now, with the back-off that lock would have.
    fn pending_wait(&self, state: &State, ip: IpAddr, now: Instant) -> Option<Duration> {
        let pending = *state.pending.get(&ip)?;
        let failures = state
            .addresses
            .get(&ip)
            .filter(|c| now.duration_since(c.last_failure) <= self.limits.forget_after)
            .map_or(0, |c| c.failures);
        let allowed = self.limits.address_failures;
        let if_all_fail = failures.saturating_add(pending);
        (if_all_fail >= allowed).then(|| self.back_off(if_all_fail, allowed))
    }

    /// Ends an attempt from `address`, counting a failure if it `failed`.
    fn end(&self, account: &str, address: Option<IpAddr>, failed: bool) {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let State {
            accounts,
            addresses,
            pending,
        } = &mut *state;
        if failed {
            self.count(
                accounts,
                account.to_string(),
                self.limits.account_failures,
                now,
            );
        }
        if let Some(ip) = address {
            if failed {
                self.count(addresses, ip, self.limits.address_failures, now);
            }
            if let Some(count) = pending.get_mut(&ip) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    pending.remove(&ip);
                }
            }
        }
    }

    /// The lock after `failures` failures where `allowed` are allowed: 1 s, 2 s, 4 s, ...
    /// up to the maximum.
    fn back_off(&self, failures: u32, allowed: u32) -> Duration {
        let doublings = failures.saturating_sub(allowed).min(20);
        let delay = self.limits.first_delay.saturating_mul(1 << doublings);
        delay.min(self.limits.max_delay)
    }

    /// Adds one failure to `key`'s counter, locking it once past `allowed` failures.
    fn count<K: Hash + Eq + Clone>(
        &self,
        map: &mut HashMap<K, Counter>,
        key: K,
        allowed: u32,
        now: Instant,
    ) {
        if !map.contains_key(&key) && map.len() >= self.limits.max_entries {
            self.make_room(map, now);
        }
        let counter = map.entry(key).or_insert(Counter {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if now.duration_since(counter.last_failure) > self.limits.forget_after {
            counter.failures = 0;
        }
        counter.failures = counter.failures.saturating_add(1);
        counter.last_failure = now;
        if counter.failures >= allowed {
            counter.locked_until = Some(now + self.back_off(counter.failures, allowed));
        }
    }

    /// Forgets counters that have gone quiet, and if that is not enough, the one that has
    /// been quiet longest. An attacker filling the map with made-up usernames can only
    /// push out old counters, never make the server use more memory.
    fn make_room<K: Hash + Eq + Clone>(&self, map: &mut HashMap<K, Counter>, now: Instant) {
        map.retain(|_, c| {
            now.duration_since(c.last_failure) <= self.limits.forget_after
                || remaining(c, now).is_some()
        });
        if map.len() >= self.limits.max_entries {
            let oldest = map
                .iter()
                .min_by_key(|(_, c)| c.last_failure)
                .map(|(k, _)| k.clone());
            if let Some(key) = oldest {
                map.remove(&key);
            }
        }
    }
}

impl Attempt {
    /// The password was right: the account's failures are forgotten. (The address's
    /// are not: one good login must not wash away a hundred guesses at other accounts.)
    pub fn succeeded(mut self) {
        self.succeeded = true;
        let mut state = self
            .throttle
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.accounts.remove(&self.account);
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.throttle
            .end(&self.account, self.address, !self.succeeded);
    }
}

/// The queue an account's logins wait in.
fn queue_of(account: &str) -> usize {
    let mut hasher = DefaultHasher::new();
    account.hash(&mut hasher);
    (hasher.finish() % QUEUES as u64) as usize
}

/// The time left on a counter's lock, if it is locked.
fn remaining(counter: &Counter, now: Instant) -> Option<Duration> {
    counter
        .locked_until
        .and_then(|until| until.checked_duration_since(now))
        .filter(|d| !d.is_zero())
}

/// Usernames are compared without case and cut to a sane length, so `Admin` and `admin`
/// share a counter and a megabyte-long username cannot become a megabyte-long key.
fn account_key(username: &str) -> String {
    username
        .chars()
        .take(128)
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Throttle {
        Throttle::new(Limits {
            account_failures: 3,
            address_failures: 5,
            max_entries: 4,
            ..Limits::default()
        })
    }

    /// One failed attempt: begun, then dropped without success.
    async fn fail(throttle: &Throttle, name: &str, address: Option<IpAddr>) {
        drop(throttle.begin(name, address).await.expect("still allowed"));
    }

    #[tokio::test]
    async fn the_account_is_locked_after_its_allowed_failures() {
        let throttle = small();
        for _ in 0..3 {
            fail(&throttle, "admin", None).await;
        }
        let wait = throttle.begin("admin", None).await.err().expect("locked");
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::ZERO,
            "{wait:?}"
        );
    }

    #[tokio::test]
    async fn usernames_differing_in_case_share_a_counter() {
        let throttle = small();
        for name in ["admin", "ADMIN", "Admin"] {
            fail(&throttle, name, None).await;
        }
        assert!(throttle.begin("aDmIn", None).await.is_err());
    }

    #[tokio::test]
    async fn a_success_resets_the_account() {
        let throttle = small();
        fail(&throttle, "admin", None).await;
        fail(&throttle, "admin", None).await;
        throttle
            .begin("admin", None)
            .await
            .expect("allowed")
            .succeeded();
        fail(&throttle, "admin", None).await;
        fail(&throttle, "admin", None).await;
        assert!(
            throttle.begin("admin", None).await.is_ok(),
            "counting from zero again"
        );
    }

    #[tokio::test]
    async fn the_address_is_locked_after_its_allowed_failures_across_accounts() {
        let throttle = small();
        let ip = IpAddr::from([10, 0, 0, 1]);
        for user in ["a", "b", "c", "d", "e"] {
            fail(&throttle, user, Some(ip)).await;
        }
        assert!(throttle.begin("f", Some(ip)).await.is_err());
        let other = Some(IpAddr::from([10, 0, 0, 2]));
        assert!(throttle.begin("f", other).await.is_ok(), "another address");
    }

    #[tokio::test]
    async fn simultaneous_guesses_are_counted_one_by_one() {
        let throttle = small();
        let guesses = (0..10).map(|_| {
            let throttle = throttle.clone();
            tokio::spawn(async move { throttle.begin("admin", None).await.map(drop).is_ok() })
        });
        let mut allowed = 0;
        for guess in guesses.collect::<Vec<_>>() {
            allowed += usize::from(guess.await.expect("no panic"));
        }
        assert_eq!(allowed, 3, "only the allowed failures got through");
    }

    #[tokio::test]
    async fn simultaneous_guesses_from_one_address_count_before_they_end() {
        let throttle = small();
        let ip = Some(IpAddr::from([10, 0, 0, 3]));
        // Six usernames in six different queues, so none waits for another's turn.
        let mut queues = std::collections::HashSet::new();
        let names: Vec<String> = (0..)
            .map(|n| format!("user{n}"))
            .filter(|name| queues.insert(queue_of(name)))
            .take(6)
            .collect();
        let mut in_progress = Vec::new();
        for name in &names[..5] {
            in_progress.push(
                throttle
                    .begin(name, ip)
                    .await
                    .expect("within the allowance"),
            );
        }

        let sixth = throttle.begin(&names[5], ip).await;
        let elsewhere = throttle
            .begin(&names[5], Some(IpAddr::from([10, 0, 0, 4])))
            .await;

        assert!(
            sixth.is_err(),
            "five are being checked, the allowance is five"
        );
        assert!(elsewhere.is_ok(), "another address is not affected");
        drop(elsewhere);
        // The five succeed: their address is free again.
        in_progress.into_iter().for_each(Attempt::succeeded);
        assert!(throttle.begin(&names[5], ip).await.is_ok());
    }

    #[tokio::test]
    async fn the_maps_never_grow_past_their_maximum() {
        let throttle = small();
        for n in 0..1000u32 {
            let [_, _, high, low] = n.to_be_bytes();
            let _ = throttle
                .begin(&format!("user{n}"), Some(IpAddr::from([10, 0, high, low])))
                .await;
        }
        let state = throttle.state.lock().expect("not poisoned");
        assert!(state.accounts.len() <= 4 && state.addresses.len() <= 4);
    }

    #[test]
    fn the_back_off_keeps_growing_for_a_guesser_who_waits_out_each_lock() {
        let limits = Limits::default();
        let throttle = Throttle::new(limits.clone());
        let mut accounts = HashMap::new();
        let mut now = Instant::now();
        let mut locks = Vec::new();
        for _ in 0..20 {
            throttle.count(&mut accounts, "admin", limits.account_failures, now);
            let lock = accounts["admin"]
                .locked_until
                .map_or(Duration::ZERO, |until| until - now);
            locks.push(lock);
            // The guesser waits for the lock to end, then guesses again.
            now += lock + Duration::from_secs(1);
        }

        assert!(locks.windows(2).all(|w| w[0] <= w[1]), "{locks:?}");
        assert_eq!(locks.last(), Some(&limits.max_delay), "{locks:?}");
    }

    #[test]
    fn a_megabyte_username_is_kept_as_a_short_key() {
        assert_eq!(account_key(&"A".repeat(1 << 20)).len(), 128);
    }
}
