//! The session store: a database, so sessions outlive the server process.
//!
//! This is the Rust side of the seed's `store: MongoStore.create({ mongoUrl })`.
//! tower-sessions-sqlx-store keeps one row per session: `id` (the id the cookie
//! carries), `data` (the session's key → value map, in MessagePack) and `expiry_date`
//! (when the row stops counting).
//!
//! Two databases, chosen by `DATABASE_URL`: SQLite (a file; the default) for one
//! server, PostgreSQL (a server) when several instances of the app share their
//! sessions. [`Store`] wraps either, and closes one hole: a save never brings a deleted
//! session back. SQLite's writes go through one writer that commits the writes of many
//! requests together ([`write_in_batches`]); every change is in the database before its
//! visitor gets an answer.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tower_sessions::cookie::Key;
use tower_sessions::session::{Id, Record};
use tower_sessions::{ExpiredDeletion, SessionStore, session_store};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore, SqlxStoreError};

/// How long a request waits for another connection's write to finish before giving up.
/// SQLite lets one connection write at a time; without a busy timeout the others fail at
/// once with "database is locked". Five seconds is far longer than any session write.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections for reading and deleting sessions (writes have one of their own, see
/// [`write_in_batches`]). Thanks to WAL, readers run in parallel with the writer.
const POOL_SIZE: u32 = 4;

/// The most session writes sent to SQLite in one statement. Each row takes three of the
/// 32 766 parameters a SQLite statement may have; a few hundred rows keep a statement
/// quick to prepare and run.
const BATCH_SIZE: usize = 256;

/// Session writes that may wait for the writer. When that many are waiting, further
/// requests wait their turn instead of piling up in memory.
const QUEUE_SIZE: usize = 4096;

/// Connections each instance keeps to PostgreSQL, which does write in parallel. Several
/// instances share the server's connection limit (100 by default), so stay modest.
const PG_POOL_SIZE: u32 = 10;

/// How long a request waits for a free PostgreSQL connection before it fails with the
/// "session store failed" page rather than hanging.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

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
            without_password(&self.url),
            self.source
        )
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Opens the session database named by `database_url` (`sqlite:…` or `postgres://…`),
/// creating its table if missing, so that a bad URL fails now, at start-up, rather than
/// at the first login.
pub async fn open(database_url: &str) -> Result<Store, OpenError> {
    let fail = |source| OpenError {
        url: database_url.to_string(),
        source,
    };
    crate::db_file::restrict_to_owner(database_url).map_err(fail)?;
    let backend = if database_url.starts_with("sqlite:") {
        open_sqlite(database_url).await.map_err(fail)?
    } else {
        open_postgres(database_url).await.map_err(fail)?
    };
    let store = Store { backend };
    store.create_secret_table().await.map_err(fail)?;
    Ok(store)
}

/// SQLite: a file, created if missing.
async fn open_sqlite(database_url: &str) -> Result<Backend, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(database_url)?
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
        .await?;

    let sessions = SqliteStore::new(pool.clone());
    sessions.migrate().await?;

    // SQLite quietly opens a file it may not write to read-only; take the write lock
    // once so that such a database is refused here and not at a user's first login.
    let mut conn = pool.acquire().await?;
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    sqlx::query("ROLLBACK").execute(&mut *conn).await?;

    // That connection, which has just shown it can write, becomes the writer's own:
    // every session write goes through it, while reads use the pool.
    let (writer, queue) = mpsc::channel(QUEUE_SIZE);
    tokio::spawn(write_in_batches(conn.detach(), queue));
    Ok(Backend::Sqlite {
        sessions,
        pool,
        writer,
    })
}

/// PostgreSQL: a server that several instances of the app can share. Its sessions live
/// in the table `tower_sessions.session`.
async fn open_postgres(database_url: &str) -> Result<Backend, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(PG_POOL_SIZE)
        .acquire_timeout(PG_ACQUIRE_TIMEOUT)
        .connect(database_url)
        .await?;
    let sessions = PostgresStore::new(pool.clone());
    sessions.migrate().await?;
    Ok(Backend::Postgres { sessions, pool })
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
/// There is no memory cache in front of it: with several instances on one
/// PostgreSQL, a logout on one instance must end the session on all of them at once,
/// and another instance's cache would still hold it. Even with one instance, a cache
/// filled by saves would break the rule above unless it learnt whether the `UPDATE`
/// found the row: a slow save would put a logged-out session back in memory. Every
/// request reads the database.
///
/// With SQLite, writes go through one writer that commits the writes of many requests
/// together ([`write_in_batches`]); PostgreSQL takes them one by one.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
}

/// The database behind a [`Store`]: the crate's store for it, a pool for our own
/// queries and, for SQLite, the queue to the writer.
#[derive(Clone, Debug)]
enum Backend {
    Sqlite {
        sessions: SqliteStore,
        pool: SqlitePool,
        writer: mpsc::Sender<Write>,
    },
    Postgres {
        sessions: PostgresStore,
        pool: PgPool,
    },
}

impl Store {
    /// The crate's own store, for the operations it does right already.
    fn sessions(&self) -> &dyn SessionStore {
        match &self.backend {
            Backend::Sqlite { sessions, .. } => sessions,
            Backend::Postgres { sessions, .. } => sessions,
        }
    }
}

#[async_trait]
impl SessionStore for Store {
    /// Stores a brand-new session. Should its random id already be taken (128 random
    /// bits, so in theory only) nothing is stored and we try again with a fresh id.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        while self.write(Kind::New, record).await? == Written::IdTaken {
            record.id = Id::default();
        }
        Ok(())
    }

    /// Updates the session's row if it is still there and live; see [`Store`].
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(Kind::Changed, record).await.map(drop)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.sessions().load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.sessions().delete(id).await
    }
}

#[async_trait]
impl ExpiredDeletion for Store {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match &self.backend {
            Backend::Sqlite { sessions, .. } => sessions.delete_expired().await,
            Backend::Postgres { sessions, .. } => sessions.delete_expired().await,
        }
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

impl Store {
    /// Writes `record` and waits until it is committed or has failed: no visitor gets an
    /// answer before their session is safely in the database.
    async fn write(&self, kind: Kind, record: &Record) -> session_store::Result<Written> {
        // The same encoding the crate's store reads back: the whole record in MessagePack.
        let data = rmp_serde::to_vec(record).map_err(SqlxStoreError::Encode)?;
        let id = record.id.to_string();
        let writer = match &self.backend {
            Backend::Sqlite { writer, .. } => writer,
            Backend::Postgres { pool, .. } => {
                return write_postgres(pool, kind, id, data, record.expiry_date)
                    .await
                    .map_err(|err| SqlxStoreError::Sqlx(err).into());
            }
        };
        let stopped = || session_store::Error::Backend("the session writer has stopped".into());
        let (done, committed) = oneshot::channel();
        let write = Write {
            kind,
            id,
            data,
            expiry_date: record.expiry_date,
            done,
        };
        writer.send(write).await.map_err(|_| stopped())?;
        committed
            .await
            .map_err(|_| stopped())?
            .map_err(session_store::Error::Backend)
    }
}

/// PostgreSQL takes each write as it comes: its connections write in parallel, and it
/// groups the commits that arrive together in its log by itself.
async fn write_postgres(
    pool: &PgPool,
    kind: Kind,
    id: String,
    data: Vec<u8>,
    expiry_date: OffsetDateTime,
) -> Result<Written, sqlx::Error> {
    match kind {
        Kind::New => {
            let inserted = sqlx::query(
                "INSERT INTO tower_sessions.session (id, data, expiry_date) \
                 VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(data)
            .bind(expiry_date)
            .execute(pool)
            .await?;
            match inserted.rows_affected() {
                1 => Ok(Written::Committed),
                _ => Ok(Written::IdTaken),
            }
        }
        Kind::Changed => {
            sqlx::query(
                "UPDATE tower_sessions.session SET data = $1, expiry_date = $2 \
                 WHERE id = $3 AND expiry_date > $4",
            )
            .bind(data)
            .bind(expiry_date)
            .bind(id)
            .bind(OffsetDateTime::now_utc())
            .execute(pool)
            .await?;
            Ok(Written::Committed)
        }
    }
}

/// The writer: takes every session write waiting in `queue`, commits them together, then
/// answers them all. It runs until the last [`Store`] is dropped.
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

/// Writes changed sessions back in one statement, as an `UPDATE` of the rows that are
/// still there and live: a session deleted or expired meanwhile stays gone (see
/// [`Store`]).
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
    // SQLite names the columns of a `VALUES` list column1, column2, column3.
    let mut update = QueryBuilder::new(
        "UPDATE tower_sessions \
         SET data = changed.column2, expiry_date = changed.column3 FROM (",
    );
    push_rows(&mut update, newest);
    update.push(
        ") AS changed WHERE tower_sessions.id = changed.column1 \
         AND tower_sessions.expiry_date > ",
    );
    update.push_bind(OffsetDateTime::now_utc());
    let result = update
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

impl Store {
    /// The cookie-signing key kept in the database, made on first use.
    ///
    /// This is how the server runs with no `SESSION_SECRET` and still keeps everyone
    /// logged in across restarts, and how several instances on one database sign with
    /// the same key: the key is random, made once, and lives beside the sessions it
    /// signs. In production the key comes from the environment instead, so that a copy
    /// of the database alone is not enough to forge a cookie.
    pub async fn stored_key(&self) -> Result<Key, sqlx::Error> {
        if let Some(key) = self.read_key().await? {
            return Ok(key);
        }
        let fresh = Key::try_generate().ok_or_else(|| {
            sqlx::Error::Protocol("the operating system gave no randomness for a key".into())
        })?;
        // Two servers starting at once both get here; the first insert wins and both
        // read back the same key. (Both databases understand this statement.)
        let insert =
            "INSERT INTO session_secret (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING";
        match &self.backend {
            Backend::Sqlite { pool, .. } => {
                sqlx::query(insert)
                    .bind(fresh.master())
                    .execute(pool)
                    .await?;
            }
            Backend::Postgres { pool, .. } => {
                sqlx::query(insert)
                    .bind(fresh.master())
                    .execute(pool)
                    .await?;
            }
        }
        self.read_key().await?.ok_or(sqlx::Error::RowNotFound)
    }

    async fn create_secret_table(&self) -> Result<(), sqlx::Error> {
        // BYTEA is PostgreSQL's name for bytes; SQLite accepts any type name.
        let create = "CREATE TABLE IF NOT EXISTS session_secret \
                      (id INTEGER PRIMARY KEY CHECK (id = 1), key BYTEA NOT NULL)";
        match &self.backend {
            Backend::Sqlite { pool, .. } => sqlx::query(create).execute(pool).await.map(drop),
            Backend::Postgres { pool, .. } => match sqlx::query(create).execute(pool).await {
                // Two instances starting at the same moment can race on PostgreSQL's
                // catalogue even with IF NOT EXISTS; the loser finds the table made.
                Err(sqlx::Error::Database(err)) if err.is_unique_violation() => Ok(()),
                other => other.map(drop),
            },
        }
    }

    async fn read_key(&self) -> Result<Option<Key>, sqlx::Error> {
        let select = "SELECT key FROM session_secret WHERE id = 1";
        let row: Option<(Vec<u8>,)> = match &self.backend {
            Backend::Sqlite { pool, .. } => sqlx::query_as(select).fetch_optional(pool).await?,
            Backend::Postgres { pool, .. } => sqlx::query_as(select).fetch_optional(pool).await?,
        };
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

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn passwords_are_hidden_in_urls() {
        assert_eq!(
            without_password("postgres://app:hunter2@db.internal:5432/sessions"),
            "postgres://app:***@db.internal:5432/sessions"
        );
        assert_eq!(
            without_password("postgres://app@db/sessions"),
            "postgres://app@db/sessions"
        );
        assert_eq!(
            without_password("sqlite:///tmp/a@b.db"),
            "sqlite:///tmp/a@b.db"
        );
    }
}
