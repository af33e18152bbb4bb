//! The session store: a SQLite database, so sessions outlive the server process.
//!
//! This is the Rust side of the Express tutorial's `store: MongoStore.create({ mongoUrl })`.
//! tower-sessions-sqlx-store keeps one row per session in a table `tower_sessions`:
//! `id` (the id the cookie carries), `data` (the session's key → value map, in
//! MessagePack) and `expiry_date` (when the row stops counting, as RFC 3339 text).
//! [`open`] hands the app the crate's own `SqliteStore`; what this file adds is how the
//! database is opened, and the task that deletes expired rows.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tower_sessions::ExpiredDeletion;
use tower_sessions_sqlx_store::SqliteStore;

/// How long a request waits for another connection's write to finish before giving up.
/// SQLite lets one connection write at a time; without a busy timeout the others fail at
/// once with "database is locked". Five seconds is far longer than any session write.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the pool. Thanks to WAL, readers run in parallel with the one writer;
/// more connections than cores would only queue up on the write lock.
const POOL_SIZE: u32 = 4;

/// The database could not be opened or prepared at start-up.
#[derive(Debug)]
pub struct OpenError {
    url: String,
    source: sqlx::Error,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot open the session database {:?}: {}",
            self.url, self.source
        )
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Opens (creating if missing) the SQLite database at `database_url`, creates the
/// session table if missing, and checks that the database can be written to, so that
/// a bad path fails now, at start-up, rather than at the first login.
pub async fn open(database_url: &str) -> Result<SqliteStore, OpenError> {
    let fail = |source| OpenError {
        url: database_url.to_string(),
        source,
    };

    let options = SqliteConnectOptions::from_str(database_url)
        .map_err(fail)?
        .create_if_missing(true)
        // Write-ahead logging: a commit appends to the `-wal` file instead of rewriting
        // the database, and readers never wait for the writer. It is the setting that
        // makes SQLite fast for many small writes like session saves.
        .journal_mode(SqliteJournalMode::Wal)
        // With WAL, NORMAL writes every commit to the WAL file before answering, so a
        // saved session survives the server being killed (`kill -9`): the data is in
        // the operating system's hands. Only a power cut or kernel crash in the next
        // moments could lose the last commits; FULL would guard against that too, at
        // the price of an fsync, and so a disk round trip, on every request.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT);

    let pool = SqlitePoolOptions::new()
        .max_connections(POOL_SIZE)
        // By default the pool "pings" a connection before lending it out, to catch a
        // database server that hung up. A SQLite file cannot hang up, and each ping is
        // a round trip to the connection's thread that costs as much as a query.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(fail)?;

    let store = SqliteStore::new(pool.clone());
    store.migrate().await.map_err(fail)?;

    // SQLite quietly opens a file it may not write to read-only, and on such a file even
    // `BEGIN IMMEDIATE` only starts a read. One statement that writes, though it deletes
    // nothing, makes such a database fail here, at start-up, and not at a user's first login.
    sqlx::query("DELETE FROM tower_sessions WHERE 0")
        .execute(&pool)
        .await
        .map_err(fail)?;

    Ok(store)
}

/// Deletes expired sessions every `period`, for as long as the task runs.
///
/// An expired row is already ignored when a session is loaded; deleting it keeps the
/// table from growing forever (connect-mongo relies on a MongoDB TTL index for the same
/// job). A failed round is logged and retried at the next tick rather than ending the
/// task.
///
/// tower-sessions has this loop built in, `ExpiredDeletion::continuously_delete_expired`,
/// but it returns at the first failed round: one "database is locked" or full disk would
/// end the clean-up for good, and silently, since nobody looks at the task's result.
pub async fn delete_expired_every(store: SqliteStore, period: Duration) {
    let mut interval = tokio::time::interval(period);
    loop {
        interval.tick().await;
        if let Err(err) = store.delete_expired().await {
            tracing::warn!("could not delete expired sessions: {err}");
        }
    }
}
