//! The session store: a SQLite database, so sessions outlive the server process.
//!
//! This is the Rust side of the Express tutorial's `store: MongoStore.create({ mongoUrl })`.
//! tower-sessions-sqlx-store keeps one row per session in a table `tower_sessions`:
//! `id` (the id the cookie carries), `data` (the session's key → value map, in
//! MessagePack) and `expiry_date` (when the row stops counting).
//!
//! [`Store`] wraps the crate's store and closes one hole: a save never brings a deleted
//! session back. Beside the sessions it keeps the key that signs their cookies, when the
//! environment gives none ([`Store::stored_key`]).
//!
//! Two things make it fast without making it forgetful or lax: a memory cache of the
//! sessions read recently ([`crate::cache`]), so a returning visitor costs no trip to
//! SQLite, and one writer that commits the session writes of many requests together
//! ([`write_in_batches`]). Every change is in SQLite before its visitor gets an answer.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tower_sessions::cookie::Key;
use tower_sessions::session::{Id, Record};
use tower_sessions::{ExpiredDeletion, SessionStore, session_store};
use tower_sessions_sqlx_store::{SqliteStore, SqlxStoreError};

use crate::cache::Cache;

/// How long a request waits for another connection's write to finish before giving up.
/// SQLite lets one connection write at a time; without a busy timeout the others fail at
/// once with "database is locked". Five seconds is far longer than any session write.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections for reading and deleting sessions (writes have one of their own, see
/// [`write_in_batches`]). Thanks to WAL, readers run in parallel with the writer.
const POOL_SIZE: u32 = 4;

/// Sessions kept in the memory cache. A cached session is a few hundred bytes, so 10 000
/// of them take a few MiB; when the cache is full the least used ones make room, and are
/// read from SQLite again if their visitor comes back.
const CACHE_CAPACITY: u64 = 10_000;

/// The most session writes sent to SQLite in one statement. Each row takes three of the
/// 32 766 parameters a SQLite statement may have; a few hundred rows keep a statement
/// quick to prepare and run.
const BATCH_SIZE: usize = 256;

/// Session writes that may wait for the writer. When that many are waiting, further
/// requests wait their turn instead of piling up in memory.
const QUEUE_SIZE: usize = 4096;

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
    crate::db_file::restrict_to_owner(database_url).map_err(fail)?;

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
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS session_secret \
         (id INTEGER PRIMARY KEY CHECK (id = 1), key BLOB NOT NULL)",
    )
    .execute(&pool)
    .await
    .map_err(fail)?;

    // SQLite quietly opens a file it may not write to read-only, and on such a file even
    // `BEGIN IMMEDIATE` only starts a read. One statement that writes, though it deletes
    // nothing, makes such a database fail here, at start-up, and not at a user's first login.
    let mut conn = pool.acquire().await.map_err(fail)?;
    sqlx::query("DELETE FROM tower_sessions WHERE 0")
        .execute(&mut *conn)
        .await
        .map_err(fail)?;

    // That connection, which has just shown it can write, becomes the writer's own:
    // every session write goes through it, while reads and deletes use the pool.
    let cache = Cache::new(CACHE_CAPACITY);
    let (writer, queue) = mpsc::channel(QUEUE_SIZE);
    tokio::spawn(write_in_batches(conn.detach(), queue, cache.clone()));
    Ok(Store {
        sessions: store,
        pool,
        cache,
        writer,
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
/// In front of the table sits a memory cache ([`Cache`]) that keeps the same rule: a
/// save's new state goes into memory only if its `UPDATE` found the live row, and a copy
/// read from the table only if no logout or save came while it was being read. Writes
/// go through one writer task that commits many requests' writes in one statement.
#[derive(Clone, Debug)]
pub struct Store {
    /// The crate's store, for what it does right already: load, delete, clean up.
    sessions: SqliteStore,
    /// The same database, for the cookie key.
    pool: SqlitePool,
    /// The sessions read or saved recently.
    cache: Cache,
    /// The queue to the writer ([`write_in_batches`]).
    writer: mpsc::Sender<Write>,
}

#[async_trait]
impl SessionStore for Store {
    /// Stores a brand-new session. Should its random id already be taken (128 random
    /// bits, so in theory only) nothing is stored and we try again with a fresh id.
    ///
    /// The new session is not cached: its first read puts it there (see [`Cache`]).
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        while self.write(Kind::New, record).await? == Written::IdTaken {
            record.id = Id::default();
        }
        Ok(())
    }

    /// Updates the session's row if it is still there and live; see [`Store`]. A save
    /// that finds no row is not an error: the session was ended meanwhile, and stays so.
    /// The writer updates the cache after the commit, before this returns.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(Kind::Changed, record).await.map(drop)
    }

    /// From memory if the session is there; otherwise from the table, keeping the copy in
    /// memory unless a logout or a save came while it was being read (see [`Cache`]).
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.cache.get(id).await {
            return Ok(Some(record));
        }
        let seen = self.cache.note().await;
        let record = self.sessions.load(id).await?;
        if let Some(record) = &record {
            self.cache.fill(seen, record).await;
        }
        Ok(record)
    }

    /// Deletes the row, then drops the session from memory, in that order: a read that
    /// starts after the cache forgot it finds no row either. Memory forgets it even if the
    /// table's delete failed; forgetting is always safe, only keeping can be wrong.
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let deleted = self.sessions.delete(id).await;
        self.cache.forget(&[*id]).await;
        deleted
    }
}

#[async_trait]
impl ExpiredDeletion for Store {
    /// Expired rows leave the table here; the cache drops a session by itself when its
    /// expiry date passes.
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.sessions.delete_expired().await
    }
}

/// A brand-new session must not replace someone else's row; a changed one replaces its
/// own, if it is still there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    New,
    Changed,
}

/// What became of a write, once the writer has committed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Written {
    /// Committed: the new row is stored, or the live row updated, or (for a session
    /// ended meanwhile) nothing done, as it should be.
    Committed,
    /// Only for [`Kind::New`]: another session already has this id; nothing was stored.
    IdTaken,
}

/// One session write, waiting for the writer.
#[derive(Debug)]
struct Write {
    kind: Kind,
    /// The session as the request leaves it, for the cache.
    record: Record,
    /// Its id as the table stores it.
    id: String,
    /// The same encoding the crate's store reads back: the whole record in MessagePack.
    data: Vec<u8>,
    /// Where the writer answers once the write is committed, or has failed (with the
    /// database's error message).
    done: oneshot::Sender<Result<Written, String>>,
}

impl Store {
    /// Hands `record` to the writer and waits until it is committed or has failed: no
    /// visitor gets an answer before their session is safely in the database.
    async fn write(&self, kind: Kind, record: &Record) -> session_store::Result<Written> {
        let stopped = || session_store::Error::Backend("the session writer has stopped".into());
        let (done, committed) = oneshot::channel();
        let write = Write {
            kind,
            record: record.clone(),
            id: record.id.to_string(),
            // Encoded here, by the request, so that requests share that work out.
            data: rmp_serde::to_vec(record).map_err(SqlxStoreError::Encode)?,
            done,
        };
        self.writer.send(write).await.map_err(|_| stopped())?;
        committed
            .await
            .map_err(|_| stopped())?
            .map_err(session_store::Error::Backend)
    }
}

/// The writer: takes every session write waiting in `queue`, commits them together, then
/// answers them all. It runs until the last [`Store`] is dropped.
///
/// This is "group commit", a trick databases use themselves (PostgreSQL and MySQL group
/// the commits of concurrent transactions into one flush of their log). Each statement
/// sent to SQLite costs a trip to the connection's own thread and back, and that trip,
/// not SQLite's work, is most of the price of a small write. When many visitors save at
/// the same moment, one statement carrying all their rows costs little more than one
/// carrying a single row. Nobody waits for a batch to fill: a lone write goes out at
/// once, and the writes that arrive while it is being committed form the next batch.
/// One connection does all the writing, so SQLite never makes it wait for another.
///
/// Durability is unchanged: a visitor hears "saved" only after the statement holding
/// their write has committed. Should the process die mid-batch, none of that batch's
/// visitors had an answer yet.
async fn write_in_batches(
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<Write>,
    cache: Cache,
) {
    let mut batch = Vec::with_capacity(BATCH_SIZE);
    while queue.recv_many(&mut batch, BATCH_SIZE).await > 0 {
        let (new, changed) = batch.drain(..).partition(|write| write.kind == Kind::New);
        insert_new(&mut conn, new).await;
        save_changed(&mut conn, &cache, changed).await;
    }
}

/// Inserts brand-new sessions in one statement. A row whose id is taken is left alone
/// (`DO NOTHING`) and is missing from the ids the statement returns.
async fn insert_new(conn: &mut SqliteConnection, writes: Vec<Write>) {
    if writes.is_empty() {
        return;
    }
    // Two new sessions with one id in a single batch: the second one's id is taken.
    let mut ids = HashSet::new();
    let (first, repeated): (Vec<_>, Vec<_>) = writes
        .into_iter()
        .partition(|write| ids.insert(write.id.clone()));
    for write in repeated {
        let _ = write.done.send(Ok(Written::IdTaken));
    }

    let mut insert = QueryBuilder::new("INSERT INTO tower_sessions (id, data, expiry_date) ");
    push_rows(&mut insert, &first);
    insert.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
    let inserted: Result<HashSet<String>, _> = insert
        .build_query_scalar()
        .fetch_all(&mut *conn)
        .await
        .map(HashSet::from_iter);

    for write in first {
        let result = match &inserted {
            Ok(ids) if ids.contains(&write.id) => Ok(Written::Committed),
            Ok(_) => Ok(Written::IdTaken),
            Err(err) => Err(err.to_string()),
        };
        // A visitor who has gone away meanwhile is no longer waiting for the answer.
        let _ = write.done.send(result);
    }
}

/// Writes changed sessions back in one statement, as an `UPDATE` of the rows that are
/// still there and live: a session deleted or expired meanwhile stays gone (see
/// [`Store`]). The statement returns the ids it updated, and only those sessions' new
/// states go into the cache.
async fn save_changed(conn: &mut SqliteConnection, cache: &Cache, writes: Vec<Write>) {
    if writes.is_empty() {
        return;
    }
    // One session changed twice in a batch (two tabs, say): the later write is its
    // newest state and the only one worth writing.
    let mut ids = HashSet::new();
    let newest: Vec<&Write> = writes
        .iter()
        .rev()
        .filter(|write| ids.insert(write.id.as_str()))
        .collect();

    // Noted before the statement: a logout between the `UPDATE` and the cache update
    // must keep the session out of memory (see [`Cache::saved`]).
    let seen = cache.note().await;
    // SQLite names the columns of a `VALUES` list column1, column2, column3.
    let mut update = QueryBuilder::new(
        "UPDATE tower_sessions \
         SET data = changed.column2, expiry_date = changed.column3 FROM (",
    );
    push_rows(&mut update, newest.iter().copied());
    update.push(
        ") AS changed WHERE tower_sessions.id = changed.column1 \
         AND tower_sessions.expiry_date > ",
    );
    update.push_bind(OffsetDateTime::now_utc());
    update.push(" RETURNING id");
    let updated: Result<HashSet<String>, _> = update
        .build_query_scalar()
        .fetch_all(&mut *conn)
        .await
        .map(HashSet::from_iter);

    // The cache first, then the answers: a visitor's next request must find their new
    // state in memory, not the one before it.
    match &updated {
        Ok(updated_ids) => {
            let (found, gone): (Vec<&Write>, Vec<&Write>) = newest
                .iter()
                .partition(|write| updated_ids.contains(&write.id));
            let found: Vec<&Record> = found.iter().map(|write| &write.record).collect();
            let gone: Vec<Id> = gone.iter().map(|write| write.record.id).collect();
            cache.saved(seen, &found, &gone).await;
        }
        // A failed statement most likely changed nothing, but memory must never disagree
        // with the table, and forgetting is always safe: the next read asks the table.
        Err(_) => {
            let ids: Vec<Id> = newest.iter().map(|write| write.record.id).collect();
            cache.forget(&ids).await;
        }
    }
    let result = updated
        .map(|_| Written::Committed)
        .map_err(|err| err.to_string());
    for write in writes {
        let _ = write.done.send(result.clone());
    }
}

/// `VALUES (…), (…), …`: one row of `(id, data, expiry_date)` per write.
fn push_rows<'a>(
    query: &mut QueryBuilder<'a, Sqlite>,
    writes: impl IntoIterator<Item = &'a Write>,
) {
    query.push_values(writes, |mut row, write| {
        row.push_bind(write.id.as_str())
            .push_bind(write.data.as_slice())
            .push_bind(write.record.expiry_date);
    });
}

impl Store {
    /// The cookie-signing key kept in the database, made on first use.
    ///
    /// This is how the server runs with no `SESSION_SECRET` and still keeps everyone
    /// logged in across restarts: the key is random, made once, and lives beside the
    /// sessions it signs. In production the key comes from the environment instead, so
    /// that a copy of the database alone is not enough to forge a cookie.
    pub async fn stored_key(&self) -> Result<Key, sqlx::Error> {
        if let Some(key) = self.read_key().await? {
            return Ok(key);
        }
        let fresh = Key::try_generate().ok_or_else(|| {
            sqlx::Error::Protocol("the operating system gave no randomness for a key".into())
        })?;
        // Two servers started at once on one file both get here; the first insert wins
        // and both read back the same key.
        sqlx::query(
            "INSERT INTO session_secret (id, key) VALUES (1, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(fresh.master())
        .execute(&self.pool)
        .await?;
        self.read_key().await?.ok_or(sqlx::Error::RowNotFound)
    }

    async fn read_key(&self) -> Result<Option<Key>, sqlx::Error> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT key FROM session_secret WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|(bytes,)| Key::try_from(bytes.as_slice()).ok()))
    }
}

/// Deletes expired sessions every `period`, for as long as the task runs.
///
/// An expired row is already ignored when a session is loaded; deleting it keeps the
/// table from growing forever (connect-mongo relies on a MongoDB TTL index for the same
/// job). A failed round is logged and retried at the next tick rather than ending the
/// task.
pub async fn delete_expired_every(store: Store, period: Duration) {
    let mut interval = tokio::time::interval(period);
    loop {
        interval.tick().await;
        if let Err(err) = store.delete_expired().await {
            tracing::warn!("could not delete expired sessions: {err}");
        }
    }
}
