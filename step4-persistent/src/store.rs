//! The session store: a SQLite database, so sessions outlive the server process.
//!
//! This is the Rust side of the seed's `store: MongoStore.create({ mongoUrl })`.
//! tower-sessions-sqlx-store keeps one row per session in a table `tower_sessions`:
//! `id` (the id the cookie carries), `data` (the session's key → value map, in
//! MessagePack) and `expiry_date` (when the row stops counting).
//!
//! In front of the database sits a cache in memory ([`cached`]): reading a session the
//! server has seen recently costs no trip to SQLite, while every change is still written
//! to SQLite before the visitor gets an answer.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tower_sessions::session::{Id, Record};
use tower_sessions::{CachingSessionStore, ExpiredDeletion, SessionStore, session_store};
use tower_sessions_moka_store::MokaStore;
use tower_sessions_sqlx_store::{SqliteStore, SqlxStoreError};

/// How long a request waits for another connection's write to finish before giving up.
/// SQLite lets one connection write at a time; without a busy timeout the others fail at
/// once with "database is locked". Five seconds is far longer than any session write.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the pool. Thanks to WAL, readers run in parallel with the one writer;
/// more connections than cores would only queue up on the write lock.
const POOL_SIZE: u32 = 4;

/// Sessions kept in the memory cache. A cached session is about 200 bytes, so 10 000 of
/// them take a few MiB; when the cache is full the least used ones make room, and are
/// read from SQLite again if their visitor comes back.
const CACHE_CAPACITY: u64 = 10_000;

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
pub async fn open(database_url: &str) -> Result<Sessions, OpenError> {
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

    // SQLite quietly opens a file it may not write to read-only; take the write lock
    // once so that such a database is refused here and not at a user's first login.
    let mut conn = pool.acquire().await.map_err(fail)?;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *conn)
        .await
        .map_err(fail)?;
    sqlx::query("ROLLBACK")
        .execute(&mut *conn)
        .await
        .map_err(fail)?;

    Ok(Sessions { store, pool })
}

/// The sessions table: tower-sessions-sqlx-store's [`SqliteStore`], with a faster
/// [`create`](SessionStore::create).
#[derive(Clone, Debug)]
pub struct Sessions {
    store: SqliteStore,
    pool: SqlitePool,
}

#[async_trait]
impl SessionStore for Sessions {
    /// Stores a brand-new session in one statement. (The crate's own `create` opens a
    /// transaction around its insert: three statements for one row.) Should the random
    /// id already be taken — 128 random bits, so in theory only — the insert stores
    /// nothing and we try again with a fresh id.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let data = rmp_serde::to_vec(record).map_err(SqlxStoreError::Encode)?;
            let inserted = sqlx::query(
                "INSERT INTO tower_sessions (id, data, expiry_date) VALUES (?, ?, ?) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(record.id.to_string())
            .bind(data)
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

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.store.save(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.store.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store.delete(id).await
    }
}

#[async_trait]
impl ExpiredDeletion for Sessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.store.delete_expired().await
    }
}

/// The store the app uses: the sessions table behind a memory cache.
pub type Store = CachingSessionStore<MokaStore, Sessions>;

/// Puts a memory cache in front of `sessions`.
///
/// Most requests come from visitors who were here a moment ago; reading their session
/// from memory instead of SQLite saves a trip to the database per request. Writes go to
/// both, SQLite first in importance: a session change is on disk before the visitor sees
/// the answer, so a crash loses nothing and a restart starts with an empty cache that
/// fills up again from the database. This is safe because one server process owns the
/// database file: no one else can change a session behind the cache's back. Several
/// servers sharing one database would break that, so they could not use this cache.
pub fn cached(sessions: Sessions) -> Store {
    CachingSessionStore::new(MokaStore::new(Some(CACHE_CAPACITY)), sessions)
}

/// Deletes expired sessions every `period`, for as long as the task runs.
///
/// An expired row is already ignored when a session is loaded; deleting it keeps the
/// table from growing forever (connect-mongo relies on a MongoDB TTL index for the same
/// job). A failed round is logged and retried at the next tick rather than ending the
/// task.
pub async fn delete_expired_every(store: Sessions, period: Duration) {
    let mut interval = tokio::time::interval(period);
    loop {
        interval.tick().await;
        if let Err(err) = store.delete_expired().await {
            tracing::warn!("could not delete expired sessions: {err}");
        }
    }
}
