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
//! session back.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use time::OffsetDateTime;
use tower_sessions::cookie::Key;
use tower_sessions::session::{Id, Record};
use tower_sessions::{ExpiredDeletion, SessionStore, session_store};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore, SqlxStoreError};

/// How long a request waits for another connection's write to finish before giving up.
/// SQLite lets one connection write at a time; without a busy timeout the others fail at
/// once with "database is locked". Five seconds is far longer than any session write.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the pool. Thanks to WAL, readers run in parallel with the one writer;
/// more connections than cores would only queue up on the write lock.
const POOL_SIZE: u32 = 4;

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

    Ok(Backend::Sqlite { sessions, pool })
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
/// and another instance's cache would still hold it. tower-sessions'
/// `CachingSessionStore` would also break the rule above even with one instance: its
/// `save` puts the session in the cache whether or not our `UPDATE` found the row, so a
/// logged-out session would come back from memory. Every request reads the database.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
}

/// The database behind a [`Store`]: the crate's store for it, and a pool for our own
/// queries.
#[derive(Clone, Debug)]
enum Backend {
    Sqlite {
        sessions: SqliteStore,
        pool: SqlitePool,
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
    /// Stores a brand-new session in one statement. (The crate's own `create` opens a
    /// transaction around its insert: three statements for one row.) Should the random
    /// id already be taken — 128 random bits, so in theory only — the insert stores
    /// nothing and we try again with a fresh id.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let data = rmp_serde::to_vec(record).map_err(SqlxStoreError::Encode)?;
            let id = record.id.to_string();
            let inserted = match &self.backend {
                Backend::Sqlite { pool, .. } => sqlx::query(
                    "INSERT INTO tower_sessions (id, data, expiry_date) VALUES (?, ?, ?) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(data)
                .bind(record.expiry_date)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()),
                Backend::Postgres { pool, .. } => sqlx::query(
                    "INSERT INTO tower_sessions.session (id, data, expiry_date) \
                     VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(data)
                .bind(record.expiry_date)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()),
            };
            if inserted.map_err(SqlxStoreError::Sqlx)? == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        // The same encoding the crate's store reads back: the whole record in MessagePack.
        let data = rmp_serde::to_vec(record).map_err(SqlxStoreError::Encode)?;
        let (id, now) = (record.id.to_string(), OffsetDateTime::now_utc());
        let updated = match &self.backend {
            Backend::Sqlite { pool, .. } => sqlx::query(
                "UPDATE tower_sessions SET data = ?, expiry_date = ? \
                 WHERE id = ? AND expiry_date > ?",
            )
            .bind(data)
            .bind(record.expiry_date)
            .bind(id)
            .bind(now)
            .execute(pool)
            .await
            .map(drop),
            Backend::Postgres { pool, .. } => sqlx::query(
                "UPDATE tower_sessions.session SET data = $1, expiry_date = $2 \
                 WHERE id = $3 AND expiry_date > $4",
            )
            .bind(data)
            .bind(record.expiry_date)
            .bind(id)
            .bind(now)
            .execute(pool)
            .await
            .map(drop),
        };
        updated.map_err(|err| SqlxStoreError::Sqlx(err).into())
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
