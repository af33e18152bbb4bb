//! The session store: a SQLite database, so sessions outlive the server process.
//!
//! This is the Rust side of the Express tutorial's `store: MongoStore.create({ mongoUrl })`.
//! tower-sessions-sqlx-store keeps one row per session in a table `tower_sessions`:
//! `id` (the id the cookie carries), `data` (the session's key → value map, in
//! MessagePack) and `expiry_date` (when the row stops counting, as RFC 3339 text).
//! [`open`] hands the app a [`Store`]: the crate's store with one hole closed, a save never
//! brings a deleted session back. The rest of this file is how the database is opened, and
//! the task that deletes expired rows.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::{ExpiredDeletion, SessionStore, session_store};
use tower_sessions_sqlx_store::{SqliteStore, SqlxStoreError};

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
pub async fn open(database_url: &str) -> Result<Store, OpenError> {
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
        // A burst of writes (every new visitor's counter is a row) grows the `-wal` file,
        // and SQLite keeps it at its largest; this has it cut back to 64 MiB after a
        // checkpoint, so a flood of visits leaves no lasting cost on disk.
        .pragma("journal_size_limit", "67108864")
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

    Ok(Store {
        sessions: store,
        pool,
    })
}

/// The session store, with a `save` that only updates a session that still exists.
///
/// tower-sessions saves a session at the end of every request that changed it, with an
/// "insert or update". Picture two tabs: a slow request loads the session, the other tab
/// logs out and deletes it, then the slow request finishes and saves, and the "insert"
/// half writes the logged-out session back. Here a save is an `UPDATE` of a live row, so
/// a deleted (or expired) session stays deleted; a brand-new session goes through
/// `create` instead, which tower-sessions calls for new ids and after `cycle_id`.
///
/// There is no memory cache in front of it: a cache filled by saves would break that
/// rule unless it learnt whether the `UPDATE` found the row, since a slow save would put
/// a logged-out session back in memory. Every request reads the database.
#[derive(Clone, Debug)]
pub struct Store {
    /// The crate's store, for what it does right already: load, delete, clean up.
    sessions: SqliteStore,
    /// The same database, for the two writes done here.
    pool: SqlitePool,
}

#[async_trait]
impl SessionStore for Store {
    /// Stores a brand-new session. Should its random id already be taken (128 random
    /// bits, so in theory only) nothing is stored and we try again with a fresh id.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let inserted = sqlx::query(
                "INSERT INTO tower_sessions (id, data, expiry_date) VALUES (?, ?, ?) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(record.id.to_string())
            .bind(encode(record)?)
            .bind(record.expiry_date)
            .execute(&self.pool)
            .await
            .map_err(SqlxStoreError::Sqlx)?;
            if inserted.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    /// Updates the session's row if it is still there and live; see [`Store`]. A save
    /// that finds no row is not an error: the session was ended meanwhile, and stays so.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        sqlx::query(
            "UPDATE tower_sessions SET data = ?, expiry_date = ? \
             WHERE id = ? AND expiry_date > ?",
        )
        .bind(encode(record)?)
        .bind(record.expiry_date)
        .bind(record.id.to_string())
        .bind(OffsetDateTime::now_utc())
        .execute(&self.pool)
        .await
        .map_err(SqlxStoreError::Sqlx)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.sessions.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.sessions.delete(id).await
    }
}

#[async_trait]
impl ExpiredDeletion for Store {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.sessions.delete_expired().await
    }
}

/// The same encoding the crate's store reads back: the whole record in MessagePack.
fn encode(record: &Record) -> Result<Vec<u8>, SqlxStoreError> {
    rmp_serde::to_vec(record).map_err(SqlxStoreError::Encode)
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
pub async fn delete_expired_every(store: impl ExpiredDeletion, period: Duration) {
    let mut interval = tokio::time::interval(period);
    loop {
        interval.tick().await;
        if let Err(err) = store.delete_expired().await {
            tracing::warn!("could not delete expired sessions: {err}");
        }
    }
}
