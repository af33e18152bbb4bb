//! Step 5's app with its sessions in Redis, the store most express-session users put
//! behind several servers (with connect-redis).
//!
//! Redis is a server that keeps keys and values in memory, each key with an expiry of its
//! own if asked. A session is one key: its id, as the cookie carries it, holding the whole
//! record in MessagePack, with the session's expiry as the key's. Every instance of the app
//! reads and writes the same Redis, so a login through one is a login on all, and Redis
//! deletes each session the moment it expires: no clean-up task, unlike SQL stores.
//!
//! The store is tower-sessions-redis-store's `RedisStore`, as it is: it already keeps step
//! 5's two rules, with the two options of Redis's `SET` that write a key only if it
//! exists (`XX`) or only if it does not (`NX`). A save is `SET id record EXAT expiry XX`, so
//! a slow request that saves after a logout (or after the expiry) finds no key and writes
//! nothing; a new session is `SET ... NX`, so it never replaces another. What this crate
//! adds is the connection: how long to wait for Redis, and to keep trying when it is gone.

use std::time::Duration;

use tower_sessions_redis_store::RedisStore;
use tower_sessions_redis_store::fred::prelude::{
    Builder, ClientLike, Config, Error, ErrorKind, Pool, ReconnectPolicy,
};

/// Where `cargo run` looks for Redis without `REDIS_URL`: `redis-server` with no options
/// listens there.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The session store: the crate's, on a pool of connections to one Redis server.
pub type Store = RedisStore<Pool>;

/// Connections each instance keeps to Redis. One connection already carries many requests
/// at once (fred sends the next command before the previous answer is back); a few more
/// keep one large answer from holding up the others. Redis's limit is 10 000 clients.
const POOL_SIZE: usize = 4;

/// How long one Redis command may take before the request fails with step 5's "Session
/// store failed" page: far longer than any session read or write, short enough that a
/// visitor is not left waiting while Redis is down. Without it fred would hold the
/// commands until Redis is back, and the visitor would get step 5's 408 after 20 seconds.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// How long to wait for a connection to Redis, at start-up and at every reconnection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often, in milliseconds, a lost connection is tried again, for as long as it takes:
/// when Redis comes back, the app works again without a restart.
const RECONNECT_EVERY_MS: u32 = 500;

/// Connects to the Redis server at `redis_url` (`redis://[:PASSWORD@]HOST[:PORT][/DB]`),
/// so it fails now, at start-up, when nothing answers. The error is one line for the user:
/// it says where Redis was looked for (never the password) and, if nothing answered there,
/// what to start.
pub async fn open(redis_url: &str) -> Result<Store, String> {
    // fred is built without TLS: given `rediss://`, it would warn and connect in clear.
    if redis_url.starts_with("rediss:") {
        return Err(
            "REDIS_URL asks for TLS (rediss://), which this build does not have: \
                    use redis:// on a private network"
                .to_string(),
        );
    }
    let config = Config::from_url(redis_url)
        .map_err(|err| format!("REDIS_URL must be a URL such as {DEFAULT_REDIS_URL}: {err}"))?;
    // Host and port only: the password, if the URL has one, stays out of the message.
    let hosts = config.server.hosts();
    let at = hosts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let pool = Builder::from_config(config)
        .with_performance_config(|performance| {
            performance.default_command_timeout = COMMAND_TIMEOUT;
        })
        .with_connection_config(|connection| connection.connection_timeout = CONNECT_TIMEOUT)
        // 0 attempts: no limit. (The first connection is not retried: `init` fails at once.)
        .set_policy(ReconnectPolicy::new_constant(0, RECONNECT_EVERY_MS))
        .build_pool(POOL_SIZE)
        .map_err(|err| format!("cannot set up the connection to Redis at {at}: {err}"))?;
    // `init` connects every client of the pool and leaves a task running that keeps them
    // connected; the task lives as long as the pool, so its handle is not kept.
    pool.init().await.map_err(|err| match err.kind() {
        ErrorKind::IO | ErrorKind::Timeout => format!(
            "no Redis answers at {at} ({}): start one with `redis-server` \
             (apt-get install redis-server, brew install redis) or set REDIS_URL",
            reason(&err)
        ),
        _ => format!("cannot use Redis at {at}: {err}"),
    })?;
    Ok(RedisStore::new(pool))
}

/// Why a connection failed, in words. fred keeps an I/O error as its `Debug` text, `Os {
/// code: 111, kind: ConnectionRefused, message: "Connection refused" }` or `Custom { kind:
/// Uncategorized, error: "failed to lookup address information: ..." }`: the quoted part
/// is what a user can read.
fn reason(err: &Error) -> &str {
    let details = err.details();
    let quoted = ["message: \"", "error: \""]
        .iter()
        .find_map(|start| details.split_once(start))
        .and_then(|(_, rest)| rest.split_once('"'));
    quoted.map_or(details, |(reason, _)| reason)
}
