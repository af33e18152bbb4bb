//! The session store: a SQLite database, so sessions outlive the server process.
//!
//! This is the Rust side of the seed's `store: MongoStore.create({ mongoUrl })`.
//! tower-sessions-sqlx-store keeps one row per session in a table `tower_sessions`:
//! `id` (the id the cookie carries), `data` (the session's key → value map, in
//! MessagePack) and `expiry_date` (when the row stops counting).
//!
//! Two things keep it fast without making it forgetful: a memory cache of the sessions
//! read recently, so a returning visitor costs no trip to SQLite, and one writer that
//! commits the session writes of many requests together ([`write_in_batches`]). Every
//! change is in SQLite before its visitor gets an answer.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tower_sessions::session::{Id, Record};
use tower_sessions::{ExpiredDeletion, SessionStore, session_store};
use tower_sessions_moka_store::MokaStore;
use tower_sessions_sqlx_store::{SqliteStore, SqlxStoreError};

/// How long a request waits for another connection's write to finish before giving up.
/// SQLite lets one connection write at a time; without a busy timeout the others fail at
/// once with "database is locked". Five seconds is far longer than any session write.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections for reading and deleting sessions (writes have one of their own, see
/// [`write_in_batches`]). Thanks to WAL, readers run in parallel with the writer.
const POOL_SIZE: u32 = 4;

/// Sessions kept in the memory cache. A cached session is about 200 bytes, so 10 000 of
/// them take a few MiB; when the cache is full the least used ones make room, and are
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

    let table = SqliteStore::new(pool.clone());
    table.migrate().await.map_err(fail)?;

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

    // That connection, which has just shown it can write, becomes the writer's own:
    // every session write goes through it, while reads use the pool.
    let (writer, queue) = mpsc::channel(QUEUE_SIZE);
    tokio::spawn(write_in_batches(conn.detach(), queue));
    Ok(Sessions {
        table,
        cache: MokaStore::new(Some(CACHE_CAPACITY)),
        writer,
    })
}

/// The session store the app uses: tower-sessions-sqlx-store's [`SqliteStore`] for
/// reading and deleting rows, a memory cache in front of it, and the writer.
///
/// The cache is safe because one server process owns the database file: nobody else
/// can change a session behind its back. Several servers sharing one database would
/// break that, so they could not use this cache.
#[derive(Clone, Debug)]
pub struct Sessions {
    table: SqliteStore,
    cache: MokaStore,
    writer: mpsc::Sender<Write>,
}

#[async_trait]
impl SessionStore for Sessions {
    /// Stores a brand-new session. Should its random id already be taken (128 random
    /// bits, so in theory only) nothing is stored and we try again with a fresh id.
    ///
    /// A new session is not cached: many are never read again (a visitor who looks at
    /// one page, a bot), and they would push returning visitors out of the cache. If its
    /// visitor comes back, the first read puts it there.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        while self.write(Kind::New, record).await? == Written::IdTaken {
            record.id = Id::default();
        }
        Ok(())
    }

    /// Writes a changed session to SQLite, then to the cache: were the cache first, a
    /// failed write would leave it holding a change the database never got.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(Kind::Changed, record).await?;
        self.cache.save(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.cache.load(id).await? {
            return Ok(Some(record));
        }
        let record = self.table.load(id).await?;
        if let Some(record) = &record {
            self.cache.save(record).await?;
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.table.delete(id).await?;
        self.cache.delete(id).await
    }
}

#[async_trait]
impl ExpiredDeletion for Sessions {
    /// Expired rows leave the table here; the cache forgets a session by itself when its
    /// expiry date passes.
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.table.delete_expired().await
    }
}

/// A brand-new session must not replace someone else's row; a changed one replaces its
/// own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    New,
    Changed,
}

/// What became of a write, once the writer has committed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Written {
    Committed,
    /// Only for [`Kind::New`]: another session already has this id; nothing was stored.
    IdTaken,
}

/// One session write, waiting for the writer.
#[derive(Debug)]
struct Write {
    kind: Kind,
    id: String,
    data: Vec<u8>,
    expiry_date: OffsetDateTime,
    /// Where the writer answers once the write is committed, or has failed (with the
    /// database's error message).
    done: oneshot::Sender<Result<Written, String>>,
}

impl Sessions {
    /// Hands `record` to the writer and waits until it is committed or has failed: no
    /// visitor gets an answer before their session is safely in the database.
    async fn write(&self, kind: Kind, record: &Record) -> session_store::Result<Written> {
        let stopped = || session_store::Error::Backend("the session writer has stopped".into());
        let (done, committed) = oneshot::channel();
        let write = Write {
            kind,
            id: record.id.to_string(),
            data: rmp_serde::to_vec(record).map_err(SqlxStoreError::Encode)?,
            expiry_date: record.expiry_date,
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
/// answers them all. It runs until the last [`Sessions`] is dropped.
///
/// This is "group commit", a trick databases use themselves. Each statement sent to
/// SQLite costs a trip to the connection's own thread and back, and that trip, not
/// SQLite's work, is most of the price of a small write. When many visitors save at the
/// same moment, one statement carrying all their rows costs little more than one
/// carrying a single row. Nobody waits for a batch to fill: a lone write goes out at
/// once, and the writes that arrive while it is being committed form the next batch.
/// One connection does all the writing, so SQLite never makes it wait for another.
async fn write_in_batches(mut conn: SqliteConnection, mut queue: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(BATCH_SIZE);
    while queue.recv_many(&mut batch, BATCH_SIZE).await > 0 {
        let (new, changed) = batch.drain(..).partition(|write| write.kind == Kind::New);
        insert_new(&mut conn, new).await;
        save_changed(&mut conn, changed).await;
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

/// Writes changed sessions back in one statement, as tower-sessions-sqlx-store's own
/// `save` does: the row is replaced, or inserted if it is missing.
async fn save_changed(conn: &mut SqliteConnection, writes: Vec<Write>) {
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
    let mut upsert = QueryBuilder::new("INSERT INTO tower_sessions (id, data, expiry_date) ");
    push_rows(&mut upsert, newest);
    upsert.push(
        " ON CONFLICT (id) DO UPDATE \
         SET data = excluded.data, expiry_date = excluded.expiry_date",
    );
    let result = upsert
        .build()
        .execute(&mut *conn)
        .await
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
            .push_bind(write.expiry_date);
    });
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
